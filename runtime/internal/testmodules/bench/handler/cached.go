package handler

import "net/http"

// cached is hello's page marked cacheable with standard headers (no SDK:
// this package is plain net/http): public for a minute, one copy per
// language and user agent (the page shows both), with an entity tag. The
// runtime's response cache answers it from memory; natively it is
// rendered every time, so the benchmark compares a cache hit with a
// native rendering.
func cached(w http.ResponseWriter, r *http.Request) {
	d := fromRequest(r)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=60")
	h.Set("Vary", "Accept-Language, User-Agent")
	h.Set("ETag", `"hello-v1"`)
	if err := page.Execute(w, d); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

package main

import (
	"bytes"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestSiteFetch: `websonic site fetch` resumes a download cut half-way
// (Range and If-Range against a real HTTP server) into the exact bytes,
// and a link the source refuses (used, expired: 410) fails at once with
// the source's own words, without promising that running it again helps.
func TestSiteFetch(t *testing.T) {
	archive := make([]byte, 256<<10)
	rand.Read(archive)
	var requests atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/cut", func(w http.ResponseWriter, r *http.Request) {
		if requests.Add(1) == 1 { // the first transfer stops half-way
			w.Header().Set("ETag", `"v1"`)
			w.Header().Set("Content-Length", "262144")
			w.Write(archive[:100<<10])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		if r.Header.Get("Range") != "bytes=102400-" {
			t.Errorf("resumed with Range %q", r.Header.Get("Range"))
		}
		w.Header().Set("ETag", `"v1"`)
		http.ServeContent(w, r, "site.move.age", time.Time{}, bytes.NewReader(archive))
	})
	mux.HandleFunc("/used", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "this link was used, expired or was revoked: ask the site's owner for a new one", http.StatusGone)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	dir := t.TempDir()

	t.Run("resumes a cut download", func(t *testing.T) {
		out := filepath.Join(dir, "site.move.age")
		var stdout, stderr bytes.Buffer
		if err := run([]string{"site", "fetch", srv.URL + "/cut", "--out", out}, strings.NewReader(""), &stdout, &stderr); err != nil {
			t.Fatalf("%v\n%s", err, stderr.String())
		}
		got, err := os.ReadFile(out)
		if err != nil || !bytes.Equal(got, archive) {
			t.Fatalf("wrote %d bytes (%v), want the archive's %d", len(got), err, len(archive))
		}
		if n := requests.Load(); n != 2 {
			t.Errorf("%d requests, want 2 (one cut, one resumed)", n)
		}
		if _, err := os.Stat(out + ".part"); !os.IsNotExist(err) {
			t.Errorf("the .part file is left: %v", err)
		}
	})
	t.Run("a used link", func(t *testing.T) {
		var stdout, stderr bytes.Buffer
		err := run([]string{"site", "fetch", srv.URL + "/used", "--out", filepath.Join(dir, "used.move.age")}, strings.NewReader(""), &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), "410 Gone") || !strings.Contains(err.Error(), "ask the site's owner for a new one") ||
			strings.Contains(err.Error(), "run it again") {
			t.Fatalf("error %v", err)
		}
		if strings.Contains(stderr.String(), "resuming") {
			t.Errorf("retried a refused link:\n%s", stderr.String())
		}
	})
}

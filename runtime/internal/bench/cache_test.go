package bench

import (
	"net/http"
	"testing"
)

// BenchmarkCached serves hello's page marked cacheable (public for a
// minute, Vary on language and user agent, an ETag; the bench handler's
// /cached) through the bench module with the runtime's response cache on,
// as server.Open wires it, against the same handler compiled natively,
// which renders it every time. wasm goes through the module host alone
// (modhost.Module.ServeHTTP on the benchmark's router); wasm-fullstack
// through the runtime's whole handler (request id, access log, metrics,
// sessions). After the first request every answer is a cache hit: no
// guest call, no template.
func BenchmarkCached(b *testing.B) {
	s := newSite(b)
	const path = "/cached?name=Ada"
	s.checkSame(b, path)
	resp, err := http.Get(s.URL + "/wasm" + path)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Websonic-Cache"); got != "hit" {
		b.Fatalf("the third request of the cacheable page was a %q, not a hit", got)
	}
	native := []string{s.URL + "/native" + path}
	b.Run("native", func(b *testing.B) {
		measure(b, newLoadgen(b), native)
	})
	b.Run("wasm", func(b *testing.B) {
		measurePair(b, newLoadgen(b), native, []string{s.URL + "/wasm" + path}, "cached/native")
	})
	b.Run("wasm-fullstack", func(b *testing.B) {
		measurePair(b, newLoadgen(b), native, []string{s.FullURL + "/wasm" + path}, "full/native")
	})
}

package bench

import (
	"strconv"
	"testing"
)

// BenchmarkDBRows reads a page of ten rows per request (GET …/items?after=N,
// cycling N through the 1000 ids' first 990) and renders it as JSON: in the
// module through the SDK's database/sql driver, natively through pgx on a
// pool configured like the module's. The sub-benchmarks are those of
// BenchmarkDB.
func BenchmarkDBRows(b *testing.B) {
	s := newSite(b)
	urls := func(prefix string) []string {
		var u []string
		for after := 0; after < 990; after += 7 {
			u = append(u, prefix+"/items?after="+strconv.Itoa(after))
		}
		return u
	}
	native := urls(s.URL + "/native")
	b.Run("native", func(b *testing.B) {
		measure(b, newLoadgen(b), native)
	})
	b.Run("wasm", func(b *testing.B) {
		measurePair(b, newLoadgen(b), native, urls(s.URL+"/wasm"), "wasm/native")
	})
	b.Run("wasm-nodeadlines", func(b *testing.B) {
		measurePair(b, newLoadgen(b), native, urls(s.NoDeadlinesURL+"/wasm"), "nd/native")
	})
}

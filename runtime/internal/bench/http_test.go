package bench

import (
	"strconv"
	"testing"
)

// BenchmarkHTTP serves a small response built from the request through the
// bench wasm module and through the same handler compiled natively, both
// mounted on one chi router behind a loopback listener, with 32 keep-alive
// clients. Two shapes: html renders a page with html/template (what a
// module's page did before issue 10), json the same data with
// encoding/json, page the same page rendered by the host (sdk.Render: the
// guest hands over the data, the host runs the template), and min the
// smallest handler there is (the per-call floor).
//
// native is the baseline alone. wasm alternates with untimed native rounds
// and reports wasm/native, its throughput over native's in those rounds.
// wasm-fullstack goes through the runtime's whole handler (request id,
// access log, metrics, CSRF protection, sessions) to the same module;
// wasm-nodeadlines goes to a copy of the module on an engine without
// per-call deadlines (a diagnostic: see BenchmarkDeadlines).
func BenchmarkHTTP(b *testing.B) {
	s := newSite(b)
	for _, shape := range []struct{ name, path string }{
		{"html", "/hello?name=Ada"},
		{"json", "/greet?name=Ada"},
		{"page", "/page?name=Ada"},
		{"min", "/spin?n=0"},
	} {
		native := []string{s.URL + "/native" + shape.path}
		b.Run(shape.name+"/native", func(b *testing.B) {
			measure(b, newLoadgen(b), native)
		})
		b.Run(shape.name+"/wasm", func(b *testing.B) {
			measurePair(b, newLoadgen(b), native, []string{s.URL + "/wasm" + shape.path}, "wasm/native")
		})
		if shape.name == "html" {
			b.Run(shape.name+"/wasm-fullstack", func(b *testing.B) {
				measurePair(b, newLoadgen(b), native, []string{s.FullURL + "/wasm" + shape.path}, "full/native")
			})
		}
		b.Run(shape.name+"/wasm-nodeadlines", func(b *testing.B) {
			measurePair(b, newLoadgen(b), native, []string{s.NoDeadlinesURL + "/wasm" + shape.path}, "nd/native")
		})
	}
}

// BenchmarkDB reads one row by primary key per request, cycling through
// 1000 ids, and renders it as JSON: in the module through the SDK's
// database/sql driver, natively through pgx on the module's own pool. Same
// router, same path shape, same table, same query, same connection limit.
// The sub-benchmarks are those of BenchmarkHTTP; wasm-nodeadlines reads its
// own schema, which holds the same rows.
func BenchmarkDB(b *testing.B) {
	s := newSite(b)
	urls := func(prefix string) []string {
		var u []string
		for id := 1; id <= 1000; id++ {
			u = append(u, prefix+"/items/"+strconv.Itoa(id))
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

package handler

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"strconv"
	"time"
)

// LoopShapes are the requests Loop can repeat, by name: the page, the JSON
// document and the CPU-only work of New's routes, relative to its base.
var LoopShapes = map[string]string{
	"hello": "/hello?name=Ada",
	"greet": "/greet?name=Ada",
	"spin":  "/spin?n=2000",
}

// MaxLoop bounds the n of Loop and of the loop endpoint.
const MaxLoop = 10_000_000

// LoopResult is what one Loop measured: N calls of Shape in Nanos
// nanoseconds of the caller's clock, Bytes of body in all, and Sum, the
// FNV-64a of the last body, so that two hosts can be checked to have
// computed the same thing.
type LoopResult struct {
	Shape string `json:"shape"`
	N     int    `json:"n"`
	Nanos int64  `json:"nanos"`
	Bytes int64  `json:"bytes"`
	Sum   string `json:"sum"`
}

// Loop serves the request of shape n times to h (New's handler mounted at
// base), in process, each call with its own copy of the request and its own
// recorder, as a server would give it; it times the n calls only, after
// warm untimed calls (which let a JIT compile the hot code). It fails on
// the first response that is not a 200. No network and no host
// ABI is involved: any wasm host that runs a WASI command can run it, which
// is what the peer run (runtime/internal/bench/peer) needs.
func Loop(h http.Handler, base, shape string, n, warm int) (LoopResult, error) {
	target, ok := LoopShapes[shape]
	if !ok {
		return LoopResult{}, fmt.Errorf("handler: no loop shape %q", shape)
	}
	if n < 1 || n > MaxLoop || warm < 0 || warm > MaxLoop {
		return LoopResult{}, fmt.Errorf("handler: loop n must be 1 to %d, warm 0 to %[1]d", MaxLoop)
	}
	req, err := http.NewRequest(http.MethodGet, "http://bench.test"+base+target, nil)
	if err != nil {
		return LoopResult{}, fmt.Errorf("handler: loop request: %w", err)
	}
	req.Header.Set("User-Agent", "websonic-peer/1")
	req.Header.Set("Accept-Language", "en-GB,en;q=0.8")
	rec := &recorder{}
	serve := func() error {
		r := *req
		rec.reset()
		h.ServeHTTP(rec, &r)
		if rec.status != http.StatusOK {
			return fmt.Errorf("handler: loop %s: status %d: %s", shape, rec.status, rec.body)
		}
		return nil
	}
	for range warm {
		if err := serve(); err != nil {
			return LoopResult{}, err
		}
	}
	res := LoopResult{Shape: shape, N: n}
	start := time.Now()
	for range n {
		if err := serve(); err != nil {
			return LoopResult{}, err
		}
		res.Bytes += int64(len(rec.body))
	}
	res.Nanos = time.Since(start).Nanoseconds()
	sum := fnv.New64a()
	sum.Write(rec.body)
	res.Sum = strconv.FormatUint(sum.Sum64(), 16)
	return res, nil
}

// recorder is a minimal httptest.ResponseRecorder (package httptest would
// pull its test server, and so net and crypto/tls, into the guests): a
// fresh header map per call, as a server's response has, and a body buffer
// reused across calls.
type recorder struct {
	header http.Header
	status int
	body   []byte
}

func (r *recorder) reset() {
	r.header = make(http.Header)
	r.status = 0
	r.body = r.body[:0]
}

func (r *recorder) Header() http.Header { return r.header }

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body = append(r.body, p...)
	return len(p), nil
}

// serveLoop is the loop endpoint: Loop on the handler it is part of, the
// result as JSON. It lets the engine run the same loop inside one guest
// call as the peer run's WASI command does under other hosts.
func serveLoop(w http.ResponseWriter, r *http.Request, h http.Handler, base string) {
	n, err := strconv.Atoi(r.URL.Query().Get("n"))
	warm, werr := strconv.Atoi(r.URL.Query().Get("warm"))
	if err != nil || werr != nil {
		http.Error(w, "n must be 1 to "+strconv.Itoa(MaxLoop)+", warm 0 to "+strconv.Itoa(MaxLoop), http.StatusBadRequest)
		return
	}
	res, err := Loop(h, base, r.URL.Query().Get("shape"), n, warm)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(res)
}

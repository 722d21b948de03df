package handler

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestLoop checks that Loop serves what the routes serve (its byte count is
// n times the body a real request gets) and refuses what it must.
func TestLoop(t *testing.T) {
	h := New("/wasm", nil, nil)
	for shape, target := range LoopShapes {
		t.Run(shape, func(t *testing.T) {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodGet, "/wasm"+target, nil)
			req.Header.Set("User-Agent", "websonic-peer/1") // as Loop's request
			req.Header.Set("Accept-Language", "en-GB,en;q=0.8")
			h.ServeHTTP(rec, req)
			res, err := Loop(h, "/wasm", shape, 3, 1)
			if err != nil {
				t.Fatal(err)
			}
			if res.Shape != shape || res.N != 3 || res.Nanos <= 0 || res.Sum == "" {
				t.Errorf("result %+v", res)
			}
			if want := int64(3 * rec.Body.Len()); res.Bytes != want {
				t.Errorf("%d bytes, want %d", res.Bytes, want)
			}
		})
	}
	for _, c := range []struct {
		shape   string
		n, warm int
	}{
		{"loop", 1, 0}, {"items", 1, 0}, {"hello", 0, 0}, {"hello", MaxLoop + 1, 0}, {"hello", 1, -1},
	} {
		if _, err := Loop(h, "/wasm", c.shape, c.n, c.warm); err == nil {
			t.Errorf("Loop(%q, %d, %d) did not fail", c.shape, c.n, c.warm)
		}
	}
}

// TestLoopEndpoint runs the loop route as the engine's peer column does, and
// its refusals.
func TestLoopEndpoint(t *testing.T) {
	h := New("/wasm", nil, nil)
	for _, c := range []struct {
		query  string
		status int
		body   string
	}{
		{"shape=greet&n=2&warm=0", 200, `"shape":"greet","n":2`},
		{"shape=greet&n=2", 400, "warm"},
		{"shape=nope&n=2&warm=0", 400, "no loop shape"},
		{"shape=spin&n=x&warm=0", 400, "n must be"},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/wasm/loop?"+c.query, nil))
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("%s: %d %q, want %d with %q", c.query, rec.Code, rec.Body, c.status, c.body)
		}
	}
}

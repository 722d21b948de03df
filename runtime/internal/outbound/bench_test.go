package outbound

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/websonic/websonic/sdk/abi"
)

// BenchmarkFetch: one small GET through the service to a loopback server
// (approved for private access), connection reused: the host's overhead
// per fetch (decode, checks, the request, the answer's JSON).
func BenchmarkFetch(b *testing.B) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer hs.Close()
	s, err := New(Config{PrivateOrigins: []string{hs.URL}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c := caller(hs.URL)
	payload, _ := json.Marshal(abi.FetchRequest{URL: hs.URL + "/x", Headers: []abi.FetchHeader{{"Accept", "text/plain"}}})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Serve(ctx, c, payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeFetch: decoding and checking a payload alone.
func BenchmarkDecodeFetch(b *testing.B) {
	payload := []byte(`{"method":"POST","url":"https://api.example.com/v1/check?lang=en","headers":[["Content-Type","application/json"],["Accept","application/json"]],"body":"eyJ0ZXh0IjoiaGkifQ=="}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeFetch(payload, 1<<20); err != nil {
			b.Fatal(err)
		}
	}
}

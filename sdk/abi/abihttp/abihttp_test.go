package abihttp

import (
	"net/http"
	"slices"
	"testing"

	"github.com/websonic/websonic/sdk/abi"
)

func TestRequestHeaders(t *testing.T) {
	h := http.Header{}
	h.Add("Cookie", "theme=dark; sid=secret; lang=en")
	h.Add("Cookie", "sid=only")
	h.Add("Cookie", "__Host-sid=secret; __Secure-sid=secret; __host-sid=secret;  __Host-sid =secret")
	h.Add("Cookie", "__Host-sidx=kept")
	h.Add("Connection", "keep-alive")
	h.Add("X-Custom", "1")
	got := RequestHeaders(h, "sid")
	want := []abi.Header{{Name: "Cookie", Value: "theme=dark; lang=en"}, {Name: "Cookie", Value: "__Host-sidx=kept"}, {Name: "X-Custom", Value: "1"}}
	slices.SortStableFunc(got, func(a, b abi.Header) int { return cmpHeader(a, b) })
	if !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func cmpHeader(a, b abi.Header) int {
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

func TestResponseHeader(t *testing.T) {
	resp := &abi.HTTPResponse{Status: 200, Body: []byte("hello"), Headers: []abi.Header{
		{Name: "set-cookie", Value: "sid=fixated; Path=/"},
		{Name: "Set-Cookie", Value: "sid =fixated; Path=/"},
		{Name: "Set-Cookie", Value: " sid=fixated"},
		{Name: "Set-Cookie", Value: "=broken"},
		{Name: "Set-Cookie", Value: "__Host-sid=fixated; Path=/; Secure"},
		{Name: "Set-Cookie", Value: "__Secure-sid=fixated; Secure"},
		{Name: "Set-Cookie", Value: "__HOST-sid=fixated; Path=/; Secure"},
		{Name: "Set-Cookie", Value: "theme=dark"},
		{Name: "Content-Length", Value: "99"},
		{Name: "Transfer-Encoding", Value: "chunked"},
		{Name: "Websonic-Layout", Value: "site"},
		{Name: "Websonic-Title", Value: "T"},
		{Name: "Content-Type", Value: "text/plain"},
	}}
	h := http.Header{}
	ResponseHeader(h, resp, "sid")
	if got := h.Values("Set-Cookie"); !slices.Equal(got, []string{"theme=dark"}) {
		t.Errorf("Set-Cookie %q", got)
	}
	if len(h) != 2 || h.Get("Content-Type") != "text/plain" {
		t.Errorf("headers %v", h)
	}
	if title, ok := Layout(resp); !ok || title != "T" {
		t.Errorf("Layout = %q, %v", title, ok)
	}
}

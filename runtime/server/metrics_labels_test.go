package server

import (
	"fmt"
	"net/http"
	"regexp"
	"testing"
)

// TestMetricsLabelsBounded: a visitor chooses the request's method (any
// token is one to net/http), so the HTTP metrics must not take it as a
// label as it is: 300 requests with made-up methods would otherwise add
// 300 series to the registry and to every scrape, and a million of them
// the memory to hold them.
func TestMetricsLabelsBounded(t *testing.T) {
	s := newSite(t)
	for i := range 300 {
		req, err := http.NewRequest(fmt.Sprintf("X%d", i), s.URL+"/guestbook", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
	}
	req, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+testMetricsToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]bool{}
	for _, m := range regexp.MustCompile(`websonic_http_requests_total\{method="([^"]*)"`).FindAllStringSubmatch(body(t, resp), -1) {
		methods[m[1]] = true
	}
	if len(methods) > 10 {
		t.Errorf("%d method labels after 300 requests with made-up methods", len(methods))
	}
}

package server

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestHostRenderedPages: a module's page templates (sdk.Render) run in the
// host natively, escape module data as html/template does, and cannot make
// the host do unbounded work: a range nested over a long list fails the
// request at once, and the runtime serves on.
func TestHostRenderedPages(t *testing.T) {
	s := newSite(t)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body(t, resp)
	}
	tests := []struct {
		name, path string
		status     int
		want       []string
	}{
		{"escapes text and attributes", "/hostile/render/echo?v=" + url.QueryEscape(`"><script>alert(1)</script>`), 200,
			[]string{`<p title="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</p>`}},
		{"filters script URLs", "/hostile/render/echo?v=" + url.QueryEscape("javascript:alert(1)"), 200, []string{`<a href="#ZgotmplZ">`}},
		{"a small square renders", "/hostile/render/square?n=100", 200, []string{"done"}},
		{"a huge square is refused at once", "/hostile/render/square?n=200000", 500, []string{"request id"}},
		{"a template the module lacks", "/hostile/render/missing", 500, []string{"request id"}},
	}
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) {
			status, b := get(c.path)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, b)
			}
			for _, w := range c.want {
				if !strings.Contains(b, w) {
					t.Errorf("body lacks %s:\n%s", w, b)
				}
			}
			if strings.Contains(b, "<script>") {
				t.Errorf("unescaped script in %s", b)
			}
		})
	}
	if status, b := get("/hostile/ok"); status != 200 || b != "ok" {
		t.Fatalf("after the hostile renders: %d %q", status, b)
	}
}

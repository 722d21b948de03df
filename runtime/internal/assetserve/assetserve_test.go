package assetserve

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/modassets"
)

func TestSplit(t *testing.T) {
	for _, tc := range []struct {
		path             string
		module, key, rel string
		ok               bool
	}{
		{"/static/modules/hello/1.0.0~abc/app.js", "hello", "1.0.0~abc", "app.js", true},
		{"/static/modules/hello/1.0.0~abc/js/a.js", "hello", "1.0.0~abc", "js/a.js", true},
		{"/static/modules/hello/1.0.0~abc/", "", "", "", false},
		{"/static/modules/hello", "", "", "", false},
		{"/static/other/hello/1/a.js", "", "", "", false},
	} {
		m, k, p, ok := Split(tc.path)
		if ok != tc.ok || m != tc.module || k != tc.key || p != tc.rel {
			t.Errorf("Split(%q) = %q %q %q %v", tc.path, m, k, p, ok)
		}
	}
	if p := Prefix("hello", "1.2.3-rc.1+b7", "0123456789abcdef0123"); p != "/static/modules/hello/1.2.3-rc.1+b7~0123456789abcdef/" {
		t.Errorf("Prefix = %q", p)
	}
}

func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		host string
		tls  bool
		want string
	}{
		{"example.com", false, "http://example.com"},
		{"example.com:8443", true, "https://example.com:8443"},
		{"[::1]:8080", false, "http://[::1]:8080"},
		{"evil;script-src *", false, ""},
		{"a b", false, ""},
		{"", false, ""},
		{"x'y", false, ""},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = tc.host
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := Origin(r); got != tc.want {
			t.Errorf("Origin(%q) = %q, want %q", tc.host, got, tc.want)
		}
	}
	r := httptest.NewRequest("GET", "/", nil)
	r.Host = "site.example"
	csp := ModuleCSP(r, "/static/modules/m/1~a/")
	if csp != "script-src http://site.example/static/websonic/ http://site.example/static/modules/m/1~a/; object-src 'none'; base-uri 'none'; frame-ancestors 'none'" {
		t.Errorf("ModuleCSP = %q", csp)
	}
	if csp := ModuleCSP(r, ""); strings.Contains(csp, "/static/modules/") {
		t.Errorf("ModuleCSP without assets = %q", csp)
	}
}

func TestServeNeverRedirects(t *testing.T) {
	s := NewSet(modassets.Files{"a.js": []byte("x"), "d/b.css": []byte("y")})
	for _, p := range []string{"a.js/", "d", "d/", "./a.js", "d/../a.js", "A.js"} {
		w := httptest.NewRecorder()
		s.Serve(w, httptest.NewRequest("GET", "/x", nil), p)
		if w.Code != http.StatusNotFound || w.Header().Get("Location") != "" {
			t.Errorf("Serve(%q) = %d %v", p, w.Code, w.Header())
		}
	}
	w := httptest.NewRecorder()
	s.Serve(w, httptest.NewRequest("HEAD", "/x", nil), "a.js")
	if w.Code != 200 || w.Header().Get("Content-Length") != "1" {
		t.Errorf("HEAD = %d %v", w.Code, w.Header())
	}
}

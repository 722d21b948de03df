package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/websonic/websonic/sdk/manifest"
)

func TestRouteTable(t *testing.T) {
	mf := func(name string, paths ...string) *manifest.Manifest {
		m := &manifest.Manifest{Name: name}
		for _, p := range paths {
			m.Capabilities.Routes = append(m.Capabilities.Routes, manifest.Route{Path: p, Access: manifest.AccessPublic})
		}
		return m
	}
	t0 := &routeTable{}
	t1, err := t0.with(mf("shop", "/shop", "/cart"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t2, err := t1.with(mf("blog", "/shopping", "/shop-news"), nil) // string prefixes, not path prefixes
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		paths []string
		want  string
	}{
		{"same path", []string{"/cart"}, "overlaps /cart of module shop"},
		{"below a path", []string{"/shop/admin"}, "overlaps /shop of module shop"},
		{"above a path", []string{"/a", "/shopping"}, "overlaps /shopping of module blog"},
		{"disjoint", []string{"/shopx", "/a"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := t2.with(mf("other", tt.paths...), nil)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	for path, want := range map[string]string{
		"/shop": "shop", "/shop/x/y": "shop", "/shopping": "blog", "/shop-news/1": "blog", "/shopx": "", "/": "",
	} {
		e, ok := t2.lookup(path)
		if ok != (want != "") || ok && e.module != want {
			t.Errorf("lookup(%q) = %q, %v; want %q", path, e.module, ok, want)
		}
	}
	if _, ok := t2.without("shop").lookup("/cart"); ok {
		t.Error("without(shop) still routes /cart")
	}
}

// TestHostPathsNeverReachAModule: client requests under abi.HostPathPrefix
// are not routed to a module, even by a table that has a route there (the
// manifest refuses one; the module here is nil, so routing would panic).
func TestHostPathsNeverReachAModule(t *testing.T) {
	table, err := (&routeTable{}).with(&manifest.Manifest{Name: "sneaky", Capabilities: manifest.Capabilities{
		Routes: []manifest.Route{{Path: "/_websonic", Access: manifest.AccessPublic}},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{}
	s.state.Store(&serving{routes: table})
	for _, target := range []string{"/_websonic", "/_websonic/health", "/%5Fwebsonic/health", "/_websonic/x/y"} {
		rec := httptest.NewRecorder()
		s.serveModule(rec, httptest.NewRequest("GET", target, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", target, rec.Code)
		}
	}
}

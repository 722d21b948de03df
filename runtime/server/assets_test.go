package server

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/modhost"
)

// assetModules builds the assets test module once per test binary, and a
// copy named "other" (route /other) so that two modules have assets.
var assetModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "assetmods")
	src := "../internal/testmodules/assets"
	if err := modbuild.Package(context.Background(), src, filepath.Join(dir, "assets")); err != nil {
		return "", err
	}
	other := filepath.Join(dir, "other")
	if err := os.CopyFS(other, os.DirFS(filepath.Join(dir, "assets"))); err != nil {
		return "", err
	}
	raw, err := os.ReadFile(filepath.Join(other, "module.json"))
	if err != nil {
		return "", err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return "", err
	}
	m["name"] = "other"
	m["capabilities"] = map[string]any{"routes": []map[string]any{{"path": "/other", "access": "public"}}}
	raw, _ = json.Marshal(m)
	return dir, os.WriteFile(filepath.Join(other, "module.json"), raw, 0o644)
})

func newAssetSite(t *testing.T, options ...func(*Config)) *testSite {
	t.Helper()
	dir, err := assetModules()
	if err != nil {
		t.Fatal(err)
	}
	return newSiteWith(t, dir, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), options...)
}

// assetPackage loads the built assets module as version v.
func assetPackage(t testing.TB, v string) *modhost.Package {
	t.Helper()
	dir, err := assetModules()
	if err != nil {
		t.Fatal(err)
	}
	p, err := modhost.LoadDir(filepath.Join(dir, "assets"))
	if err != nil {
		t.Fatal(err)
	}
	mf := *p.Manifest
	mf.Version = v
	p.Manifest = &mf
	return p
}

func TestAssetsServed(t *testing.T) {
	s := newAssetSite(t)
	_, prefix := get(t, http.DefaultClient, s.URL+"/assets/prefix")
	if !strings.HasPrefix(prefix, "/static/modules/assets/1.0.0~") || !strings.HasSuffix(prefix, "/") {
		t.Fatalf("sdk.Asset(\"\") = %q", prefix)
	}
	// A client cannot tell the module another prefix.
	req, _ := http.NewRequest("GET", s.URL+"/assets/prefix", nil)
	req.Header.Set("Websonic-Assets", "/evil/")
	if resp, err := http.DefaultClient.Do(req); err != nil || body(t, resp) != prefix {
		t.Fatalf("a forged Websonic-Assets header reached the module: %v", err)
	}

	type want struct {
		status            int
		ctype, attachment string
	}
	for _, tc := range []struct {
		name, path string
		want       want
	}{
		{"script", "app.js", want{200, "text/javascript; charset=utf-8", ""}},
		{"style", "css/site.css", want{200, "text/css; charset=utf-8", ""}},
		{"svg", "logo.svg", want{200, "image/svg+xml", ""}},
		{"unknown type", "data.bin", want{200, "application/octet-stream", "attachment"}},
		{"missing", "nope.js", want{404, "", ""}},
		{"dot dot", "..%2Fmodule.json", want{404, "", ""}},
		{"manifest", "../module.json", want{404, "", ""}},
		{"other version", "", want{404, "", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u := s.URL + prefix + tc.path
			if tc.name == "other version" {
				u = s.URL + "/static/modules/assets/9.9.9~0000000000000000/app.js"
			}
			resp, err := http.Get(u)
			if err != nil {
				t.Fatal(err)
			}
			b := body(t, resp)
			if resp.StatusCode != tc.want.status {
				t.Fatalf("GET %s = %d %q", u, resp.StatusCode, b)
			}
			if tc.want.status != 200 {
				return
			}
			h := resp.Header
			if h.Get("Content-Type") != tc.want.ctype || h.Get("Content-Disposition") != tc.want.attachment ||
				h.Get("Cache-Control") != "public, max-age=31536000, immutable" || h.Get("X-Content-Type-Options") != "nosniff" ||
				!strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'none'") {
				t.Fatalf("headers %v", h)
			}
			etag := h.Get("ETag")
			if len(etag) != 66 {
				t.Fatalf("ETag %q", etag)
			}
			// Conditional requests.
			for inm, status := range map[string]int{etag: 304, "W/" + etag: 304, `"x", ` + etag: 304, "*": 304, `"other"`: 200} {
				req, _ := http.NewRequest("GET", u, nil)
				req.Header.Set("If-None-Match", inm)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				if b2 := body(t, resp); resp.StatusCode != status || (status == 304 && b2 != "") || (status == 200 && b2 != b) {
					t.Fatalf("If-None-Match %s: %d", inm, resp.StatusCode)
				}
				if resp.Header.Get("ETag") != etag {
					t.Fatalf("If-None-Match %s: ETag %q", inm, resp.Header.Get("ETag"))
				}
			}
		})
	}
	if resp, err := http.Post(s.URL+prefix+"app.js", "text/plain", nil); err != nil || resp.StatusCode != 405 {
		t.Fatalf("POST an asset: %v %v", resp, err)
	}

	// Module pages: scripts only from the version's own assets and the
	// host's, as absolute host-sources; nothing else.
	wantScripts := "script-src " + s.URL + "/static/websonic/ " + s.URL + prefix + ";"
	for _, p := range []string{"/assets/page", "/assets/framed"} {
		resp, err := http.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
		csp := strings.Join(resp.Header.Values("Content-Security-Policy"), ", ")
		if !strings.Contains(csp, wantScripts) || strings.Contains(csp, "'self' 'unsafe") && strings.Contains(csp, "script-src 'self'") ||
			strings.Contains(csp, "unsafe-eval") || !strings.Contains(csp, "object-src 'none'") || !strings.Contains(csp, "base-uri 'none'") ||
			!strings.Contains(csp, "frame-ancestors 'none'") {
			t.Fatalf("%s: CSP %q, want %q", p, csp, wantScripts)
		}
		if strings.Contains(strings.Split(strings.SplitAfter(csp, "script-src")[1], ";")[0], "unsafe-inline") {
			t.Fatalf("%s: inline scripts allowed: %q", p, csp)
		}
	}
	// A Host header that could smuggle policy is not echoed into it.
	req, _ = http.NewRequest("GET", s.URL+"/assets/page", nil)
	req.Host = "evil;script-src *"
	if resp, err := http.DefaultClient.Do(req); err == nil {
		body(t, resp)
		if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "evil") || !strings.Contains(csp, "script-src 'none'") {
			t.Fatalf("CSP for a hostile Host: %q", csp)
		}
	}
}

// TestAssetsDuringSwap: a page rendered by the previous version keeps its
// scripts after an update; the next update drops them, as does an
// uninstall.
func TestAssetsDuringSwap(t *testing.T) {
	s := newSiteWith(t, "", hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	ctx := context.Background()
	status := func(prefix string) int {
		resp, err := http.Get(s.URL + prefix + "app.js")
		if err != nil {
			t.Fatal(err)
		}
		body(t, resp)
		return resp.StatusCode
	}
	prefixes := map[string]string{}
	for _, v := range []string{"1.0.0", "1.1.0", "1.2.0"} {
		p := assetPackage(t, v)
		if err := s.srv.Swap(ctx, p, modhost.ApproveAll(p.Manifest), SwapOptions{}); err != nil {
			t.Fatal(err)
		}
		_, prefixes[v] = get(t, http.DefaultClient, s.URL+"/assets/prefix")
		if !strings.Contains(prefixes[v], "/"+v+"~") {
			t.Fatalf("version %s serves under %q", v, prefixes[v])
		}
		switch v {
		case "1.1.0":
			if status(prefixes["1.0.0"]) != 200 || status(prefixes["1.1.0"]) != 200 {
				t.Fatal("after the update, the previous version's assets are gone")
			}
		case "1.2.0":
			if status(prefixes["1.0.0"]) != 404 || status(prefixes["1.1.0"]) != 200 || status(prefixes["1.2.0"]) != 200 {
				t.Fatal("after a second update: want 1.0.0's assets gone, 1.1.0's and 1.2.0's served")
			}
		}
	}
	if err := s.srv.Uninstall(ctx, "assets"); err != nil {
		t.Fatal(err)
	}
	for v, p := range prefixes {
		if status(p) != 404 {
			t.Fatalf("after uninstalling, %s's assets are served", v)
		}
	}
}

// TestAssetPackageChecks: the package loader refuses what the build and
// publish refuse.
func TestAssetPackageChecks(t *testing.T) {
	dir, err := assetModules()
	if err != nil {
		t.Fatal(err)
	}
	for name, breakIt := range map[string]func(dir string){
		"hidden":  func(d string) { os.WriteFile(filepath.Join(d, "assets", ".secret"), nil, 0o644) },
		"symlink": func(d string) { os.Symlink("/etc/passwd", filepath.Join(d, "assets", "p.txt")) },
		"name":    func(d string) { os.WriteFile(filepath.Join(d, "assets", "a b.js"), nil, 0o644) },
	} {
		t.Run(name, func(t *testing.T) {
			d := filepath.Join(t.TempDir(), "assets")
			if err := os.CopyFS(d, os.DirFS(filepath.Join(dir, "assets"))); err != nil {
				t.Fatal(err)
			}
			breakIt(d)
			if _, err := modhost.LoadDir(d); err == nil || !strings.Contains(err.Error(), "bad assets") {
				t.Fatalf("LoadDir = %v", err)
			}
			src := filepath.Join(t.TempDir(), "src")
			os.CopyFS(src, os.DirFS("../internal/testmodules/assets"))
			breakIt(src)
			if err := modbuild.Package(context.Background(), src, filepath.Join(t.TempDir(), "out")); err == nil || !strings.Contains(err.Error(), "bad assets") {
				t.Fatalf("modbuild.Package = %v", err)
			}
		})
	}
}

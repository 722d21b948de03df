package server

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/modhost"
)

// cacheModules builds the cache's test module and the bench module (a
// second module with a cacheable page) once per test binary.
var cacheModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "cachemodules")
	for _, src := range []string{"../internal/testmodules/cachetest", "../internal/testmodules/bench"} {
		if err := modbuild.Package(context.Background(), src, filepath.Join(dir, filepath.Base(src))); err != nil {
			return "", err
		}
	}
	return dir, nil
})

// fetched is one answer of the site.
type fetched struct {
	status int
	cache  string // the Websonic-Cache header
	body   string
	header http.Header
}

// nonce is the nonce the cachetest module put in a page ("" for none).
func (f fetched) nonce() string {
	m := regexp.MustCompile(`nonce=(\w+)`).FindStringSubmatch(f.body)
	if m == nil {
		return ""
	}
	return m[1]
}

func fetch(t testing.TB, c *http.Client, method, u string, header ...string) fetched {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fetched{status: resp.StatusCode, cache: resp.Header.Get("Websonic-Cache"), body: string(b), header: resp.Header}
}

// TestResponseCache drives the host response cache through real HTTP
// clients, signed-in users, the real compiled modules and PostgreSQL.
func TestResponseCache(t *testing.T) {
	if testing.Short() {
		t.Skip("builds modules")
	}
	dir, err := cacheModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, dir, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	anon := s.client(t)
	ada, _ := signIn(t, s, "ada")
	grace, _ := signIn(t, s, "grace")
	get := func(c *http.Client, path string, header ...string) fetched {
		t.Helper()
		return fetch(t, c, "GET", s.URL+path, header...)
	}
	// missThenHit fetches path twice: a miss, then a hit of the same page.
	missThenHit := func(t *testing.T, c *http.Client, path string) fetched {
		t.Helper()
		first, second := fetch(t, c, "GET", s.URL+path), fetch(t, c, "GET", s.URL+path)
		if first.status != 200 || first.cache != "miss" || second.cache != "hit" || second.body != first.body {
			t.Fatalf("%s: first %d %q %q, second %q %q", path, first.status, first.cache, first.body, second.cache, second.body)
		}
		if second.header.Get("Age") == "" {
			t.Errorf("%s: a hit without Age", path)
		}
		return first
	}

	t.Run("users never see each other's page", func(t *testing.T) {
		pages := map[string]fetched{}
		for name, c := range map[string]*http.Client{"anonymous": anon, "ada": ada, "grace": grace} {
			f := missThenHit(t, c, "/cachetest/user")
			if !strings.Contains(f.body, "user="+name+" ") {
				t.Fatalf("%s got %q", name, f.body)
			}
			pages[name] = f
		}
		for name, c := range map[string]*http.Client{"anonymous": anon, "ada": ada, "grace": grace} {
			if f := get(c, "/cachetest/user"); f.cache != "hit" || f.nonce() != pages[name].nonce() {
				t.Errorf("%s: %q %q, want its own %q", name, f.cache, f.body, pages[name].body)
			}
		}
		if cc := pages["ada"].header.Get("Cache-Control"); cc != "private, max-age=3600" {
			t.Errorf("a signed-in user's page went out as %q", cc)
		}
		if f := fetch(t, anon, "HEAD", s.URL+"/cachetest/user"); f.cache != "hit" || f.body != "" || f.status != 200 {
			t.Errorf("HEAD: %d %q %q", f.status, f.cache, f.body)
		}
	})

	t.Run("private pages are kept for signed-in users only", func(t *testing.T) {
		a, b := get(anon, "/cachetest/private"), get(anon, "/cachetest/private")
		if a.cache != "miss" || b.cache != "miss" || a.nonce() == b.nonce() {
			t.Errorf("anonymous: %q %q, %q %q", a.cache, a.body, b.cache, b.body)
		}
		missThenHit(t, ada, "/cachetest/private")
		if f := get(grace, "/cachetest/private"); f.cache != "miss" {
			t.Errorf("grace: %q", f.cache)
		}
	})

	t.Run("a shared page is framed per request", func(t *testing.T) {
		first := get(anon, "/cachetest/shared")
		if first.cache != "miss" || first.nonce() == "" {
			t.Fatalf("%q %q", first.cache, first.body)
		}
		for name, c := range map[string]*http.Client{"ada": ada, "grace": grace} {
			f := get(c, "/cachetest/shared")
			other := map[string]string{"ada": "grace", "grace": "ada"}[name]
			if f.cache != "hit" || f.nonce() != first.nonce() || !strings.Contains(f.body, ">"+name+"</a>") || strings.Contains(f.body, ">"+other+"</a>") {
				t.Errorf("%s: %q, body %s", name, f.cache, f.body)
			}
			if f.header.Get("Content-Security-Policy") == "" || f.header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: headers %v", name, f.header)
			}
		}
	})

	t.Run("responses that set a cookie are never stored", func(t *testing.T) {
		a, b := get(anon, "/cachetest/cookie"), get(anon, "/cachetest/cookie")
		if a.cache != "miss" || b.cache != "miss" || a.nonce() == b.nonce() || b.header.Get("Set-Cookie") == "" {
			t.Errorf("%q %q, %q %q %v", a.cache, a.body, b.cache, b.body, b.header)
		}
	})

	t.Run("vary", func(t *testing.T) {
		fr := get(anon, "/cachetest/lang", "Accept-Language", "fr")
		en := get(anon, "/cachetest/lang", "Accept-Language", "en")
		again := get(ada, "/cachetest/lang", "Accept-Language", "fr")
		if fr.nonce() == en.nonce() || en.cache != "miss" || again.cache != "hit" || again.nonce() != fr.nonce() {
			t.Errorf("fr %q %q, en %q %q, fr again %q %q", fr.cache, fr.body, en.cache, en.body, again.cache, again.body)
		}
	})

	t.Run("conditional requests and revalidation", func(t *testing.T) {
		first := get(anon, "/cachetest/etag?v=1")
		if first.cache != "miss" || first.header.Get("ETag") != `"v1"` {
			t.Fatalf("%q %v", first.cache, first.header)
		}
		// The host answers the client's condition against the fresh
		// entry (it is fresh for a second; a slow machine may see it
		// stale: then the module answers 304 and the host revalidates).
		nm := get(grace, "/cachetest/etag?v=1", "If-None-Match", `"v1"`)
		if nm.status != http.StatusNotModified || nm.body != "" || (nm.cache != "hit" && nm.cache != "revalidated") || nm.header.Get("ETag") != `"v1"` {
			t.Errorf("If-None-Match: %d %q %q", nm.status, nm.cache, nm.body)
		}
		if f := get(grace, "/cachetest/etag?v=1", "If-None-Match", `"v0"`); f.status != 200 || f.nonce() != first.nonce() {
			t.Errorf("another etag: %d %q", f.status, f.body)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			f := get(anon, "/cachetest/etag?v=1")
			if f.cache == "revalidated" {
				if f.status != 200 || f.nonce() != first.nonce() {
					t.Errorf("revalidated: %d %q, want the stored %q", f.status, f.body, first.body)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("never revalidated: %q", f.cache)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("purge drops only the caller's entries", func(t *testing.T) {
		bench := missThenHit(t, anon, "/wasm/cached?name=x")
		// The visitor's cookies changed since (the cookie subtest): an
		// anonymous visitor's copy is per cookies, so it gets its own again.
		get(anon, "/cachetest/user")
		before := get(anon, "/cachetest/user")
		if before.cache != "hit" {
			t.Fatalf("%q", before.cache)
		}
		for _, form := range []url.Values{{"prefix": {"/cachetest/u"}}, {}} {
			resp := postForm(t, anon, s.URL+"/cachetest/purge", form)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("purge %v: %d", form, resp.StatusCode)
			}
			if f := get(anon, "/cachetest/user"); f.cache != "miss" || f.nonce() == before.nonce() {
				t.Errorf("after purge %v: %q", form, f.cache)
			}
			if f := get(anon, "/wasm/cached?name=x"); f.cache != "hit" || f.body != bench.body {
				t.Errorf("the bench module's page after cachetest's purge %v: %q", form, f.cache)
			}
		}
		resp := postForm(t, anon, s.URL+"/cachetest/purge", url.Values{"prefix": {"relative"}})
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("a bad prefix: %d", resp.StatusCode)
		}
	})

	t.Run("settings, enable and disable, new versions start afresh", func(t *testing.T) {
		steps := []struct {
			name string
			do   func()
		}{
			{"settings", func() {
				if err := s.srv.Module("cachetest").SetConfig(nil); err != nil {
					t.Fatal(err)
				}
			}},
			{"disable and enable", func() {
				for _, on := range []bool{false, true} {
					if _, err := s.srv.SetModuleEnabled(t.Context(), nil, "cachetest", on); err != nil {
						t.Fatal(err)
					}
				}
			}},
			{"new version", func() {
				p, err := modhost.LoadDir(filepath.Join(dir, "cachetest"))
				if err != nil {
					t.Fatal(err)
				}
				p.Manifest.Version = "0.0.2"
				if err := s.srv.Swap(t.Context(), p, modhost.ApproveAll(p.Manifest), SwapOptions{}); err != nil {
					t.Fatal(err)
				}
			}},
		}
		for _, st := range steps {
			path := "/cachetest/private?" + url.QueryEscape(st.name)
			before := missThenHit(t, ada, path)
			st.do()
			if f := get(ada, path); f.cache != "miss" || f.nonce() == before.nonce() {
				t.Errorf("after %s: %q %q", st.name, f.cache, f.body)
			}
		}
	})

	t.Run("metrics", func(t *testing.T) {
		f := get(anon, "/metrics", "Authorization", "Bearer "+testMetricsToken)
		for _, m := range []string{`websonic_module_cache_hits_total{module="cachetest"}`, `websonic_module_cache_misses_total{module="bench"}`,
			`websonic_module_cache_bytes{module="cachetest"}`, `websonic_module_cache_revalidated_total{module="cachetest"} 1`} {
			if !strings.Contains(f.body, m) {
				t.Errorf("no %s in /metrics", m)
			}
		}
	})

	t.Run("hammer", func(t *testing.T) {
		clients := map[string]*http.Client{"anonymous": anon, "ada": ada, "grace": grace}
		var wg sync.WaitGroup
		for name, c := range clients {
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 40 {
						if i%10 == 0 && name == "ada" {
							resp, err := c.PostForm(s.URL+"/cachetest/purge", url.Values{"prefix": {"/cachetest/user"}})
							if err == nil {
								resp.Body.Close()
							}
							continue
						}
						f := fetch(t, c, "GET", s.URL+"/cachetest/user")
						if f.status != 200 || !strings.Contains(f.body, "user="+name+" ") {
							t.Errorf("%s got %d %q", name, f.status, f.body)
							return
						}
					}
				}()
			}
		}
		wg.Wait()
	})
}

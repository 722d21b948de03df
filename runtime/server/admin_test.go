package server

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// publishAssets publishes the assets test module as version v; with
// users, it asks for the core data "users" too (more than 1.0.0).
func (e *updateEnv) publishAssets(v string, users bool) {
	e.t.Helper()
	dir, err := assetModules()
	if err != nil {
		e.t.Fatal(err)
	}
	pkg := filepath.Join(e.pkgs, "assets-"+v)
	if err := os.CopyFS(pkg, os.DirFS(filepath.Join(dir, "assets"))); err != nil {
		e.t.Fatal(err)
	}
	raw, _ := os.ReadFile(filepath.Join(pkg, "module.json"))
	var m map[string]any
	json.Unmarshal(raw, &m)
	m["version"] = v
	if users {
		m["capabilities"].(map[string]any)["core_data"] = []string{"users"}
	}
	raw, _ = json.Marshal(m)
	os.WriteFile(filepath.Join(pkg, "module.json"), raw, 0o644)
	if _, err := e.pub.Publish(context.Background(), pkg, tufrepo.ChannelStable); err != nil {
		e.t.Fatal(err)
	}
}

// assetsLayer is the digest of a release's assets layer at the registry.
func (e *updateEnv) assetsLayer(version string) string {
	e.t.Helper()
	var md string
	for _, rel := range e.reg.TUF().Repo().Releases() {
		if rel.Module == "assets" && rel.Version == version {
			md = rel.ManifestDigest
		}
	}
	_, b, err := getBody(e.regSrv.URL + "/v2/modules/assets/manifests/" + md)
	if err != nil {
		e.t.Fatal(err)
	}
	var im struct {
		Layers []struct{ MediaType, Digest string }
	}
	json.Unmarshal(b, &im)
	for _, l := range im.Layers {
		if l.MediaType == "application/vnd.websonic.module.assets.v1.tar" {
			return l.Digest
		}
	}
	e.t.Fatalf("release %s has no assets layer: %s", version, b)
	return ""
}

// newStagedAssetsEnv is a registry and a runtime serving assets@1.0.0,
// with 1.1.0 (asking for core data users) staged for approval, the
// runtime answering module requests, and its admin area served on an
// origin of its own.
func newStagedAssetsEnv(t *testing.T, wrap func(http.Handler) http.Handler) (e *updateEnv, adminURL string) {
	e = newUpdateEnv(t)
	ctx := context.Background()
	e.publishAssets("1.0.0", false)
	if _, err := e.updater().Install(ctx, "assets", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	e.publishAssets("1.1.0", true)
	if err := e.updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	wantStaged(t, e)
	runCtx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	go e.updater().Run(runCtx)
	e.waitListener(t)
	h := e.site.srv.AdminHandler()
	if wrap != nil {
		h = wrap(h)
	}
	as := httptest.NewServer(h)
	t.Cleanup(as.Close)
	return e, as.URL
}

// wantStaged checks that assets@1.0.0 serves and 1.1.0 waits, and that no
// approval was ever requested.
func wantStaged(t *testing.T, e *updateEnv) {
	t.Helper()
	ins, err := updater.ListFrom(context.Background(), e.site.srv.db.Pool)
	if err != nil || len(ins) != 1 || ins[0].Version != "1.0.0" || ins[0].StagedVersion != "1.1.0" {
		t.Fatalf("installed %+v, %v; want assets 1.0.0 with 1.1.0 staged", ins, err)
	}
	if m := e.site.srv.Module("assets"); m == nil || m.Manifest().Version != "1.0.0" {
		t.Fatalf("running: %v", m)
	}
	var n int
	if err := e.site.srv.db.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM websonic.module_requests WHERE action = 'approve' AND NOT dry_run`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d approve requests were queued (%v)", n, err)
	}
}

// TestAssetsFromRegistry: the asset layer goes build → publish → pull →
// verify → serve; a tampered asset layer fails the download (ErrTransfer).
func TestAssetsFromRegistry(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	e.publishAssets("1.0.0", false)
	layer := e.assetsLayer("1.0.0")
	hit := false
	var mu sync.Mutex
	tamper := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+layer) {
			return false
		}
		mu.Lock()
		hit = true
		mu.Unlock()
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		b := rec.Body.Bytes()
		i := strings.Index(string(b), "window.ran")
		b[i] = 'W' // the same size, another digest
		w.Header().Set("Content-Length", rec.Header().Get("Content-Length"))
		w.WriteHeader(rec.Code)
		w.Write(b)
		return true
	}
	e.tamper.Store(&tamper)
	_, err := e.updater().Install(ctx, "assets", "", tufrepo.ChannelStable, updater.PolicyAuto)
	e.tamper.Store(nil)
	if !errors.Is(err, updater.ErrTransfer) || !hit {
		t.Fatalf("install with a tampered asset layer = %v (layer fetched: %v), want ErrTransfer", err, hit)
	}
	if e.site.srv.Module("assets") != nil {
		t.Fatal("the module runs")
	}
	if _, err := e.updater().Install(ctx, "assets", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	_, prefix := get(t, http.DefaultClient, e.site.URL+"/assets/prefix")
	if !strings.HasPrefix(prefix, "/static/modules/assets/1.0.0~"+strings.TrimPrefix(layer, "sha256:")[:16]+"/") {
		t.Fatalf("prefix %q does not name the signed layer %s", prefix, layer)
	}
	want, _ := os.ReadFile("../internal/testmodules/assets/assets/attack.js")
	if status, got := get(t, http.DefaultClient, e.site.URL+prefix+"attack.js"); status != 200 || got != string(want) {
		t.Fatalf("GET attack.js = %d, %d bytes", status, len(got))
	}
}

// adminClient talks to the admin area as a browser on its origin would,
// unless a test changes the headers.
type adminClient struct {
	t      *testing.T
	origin string
	cookie *http.Cookie
}

func (c *adminClient) do(method, path string, form url.Values, headers map[string]string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.origin+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	req.Header.Set("Sec-Fetch-Dest", "document")
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Origin", c.origin)
	}
	for k, v := range headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

func (c *adminClient) login(username, password string) *http.Response {
	c.t.Helper()
	resp, _ := c.do("POST", "/admin/login", url.Values{"username": {username}, "password": {password}}, nil)
	for _, ck := range resp.Cookies() {
		if ck.Name == "websonic_admin" && ck.Value != "" {
			c.cookie = ck
		}
	}
	return resp
}

var (
	csrfRE   = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	digestRE = regexp.MustCompile(`name="digest" value="([^"]+)"`)
)

// TestAdminArea: the admin area's session, Fetch-Metadata, Origin and CSRF
// checks, and its one action, over HTTP.
func TestAdminArea(t *testing.T) {
	e, adminURL := newStagedAssetsEnv(t, nil)
	ctx := context.Background()
	const adminPass, memberPass = "admin-password-1234", "member-password-1234"
	if _, err := e.site.srv.CreateAdmin(ctx, "root", "Root", "", adminPass); err != nil {
		t.Fatal(err)
	}
	if _, err := e.site.srv.site.Store().CreateUser(ctx, site.NewUser{Username: "mia", DisplayName: "Mia", Password: memberPass, Role: site.RoleMember}); err != nil {
		t.Fatal(err)
	}

	t.Run("non-admin refused", func(t *testing.T) {
		c := &adminClient{t: t, origin: adminURL}
		if resp := c.login("mia", memberPass); resp.StatusCode != 403 || c.cookie != nil {
			t.Fatalf("member login: %d, cookie %v", resp.StatusCode, c.cookie)
		}
		if resp := c.login("root", "wrong-password-0000"); resp.StatusCode != 401 || c.cookie != nil {
			t.Fatalf("wrong password: %d", resp.StatusCode)
		}
	})

	c := &adminClient{t: t, origin: adminURL}
	if resp := c.login("root", adminPass); resp.StatusCode != 303 || c.cookie == nil {
		t.Fatalf("admin login: %d", resp.StatusCode)
	}
	t.Run("cookie scoping", func(t *testing.T) {
		ck := c.cookie
		if !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
			t.Fatalf("admin cookie %+v: want HttpOnly, SameSite=Strict, Path=/, host-only", ck)
		}
		// A site session does not open the admin area.
		sitec := e.site.client(t)
		postForm(t, sitec, e.site.URL+"/login", url.Values{"username": {"root"}, "password": {adminPass}})
		var siteCookie *http.Cookie
		u, _ := url.Parse(e.site.URL)
		for _, sc := range sitec.Jar.Cookies(u) {
			if sc.Name == "websonic_session" {
				siteCookie = sc
			}
		}
		if siteCookie == nil {
			t.Fatal("no site session")
		}
		sc := &adminClient{t: t, origin: adminURL, cookie: siteCookie}
		if resp, _ := sc.do("GET", "/admin/", nil, nil); resp.StatusCode != 303 || resp.Header.Get("Location") != "/admin/login?next=%2Fadmin%2F" {
			t.Fatalf("the site session opened the admin area: %d", resp.StatusCode)
		}
		sc.cookie = &http.Cookie{Name: "websonic_admin", Value: siteCookie.Value}
		if resp, _ := sc.do("GET", "/admin/", nil, nil); resp.StatusCode != 303 {
			t.Fatalf("a site session token as the admin cookie opened the admin area: %d", resp.StatusCode)
		}
		// Browsers send the admin cookie to the site's origin too (cookies
		// ignore ports): it never reaches a module.
		req, _ := http.NewRequest("GET", e.site.URL+"/assets/cookies", nil)
		req.AddCookie(ck)
		req.AddCookie(&http.Cookie{Name: "__Host-websonic_admin", Value: ck.Value})
		req.AddCookie(&http.Cookie{Name: "kept", Value: "1"})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if got := body(t, resp); got != "kept=1" {
			t.Fatalf("the module received cookies %q", got)
		}
	})

	_, page := c.do("GET", "/admin/modules", nil, nil)
	m := csrfRE.FindStringSubmatch(page)
	d := digestRE.FindStringSubmatch(page)
	if m == nil || d == nil || !strings.Contains(page, `<li class="new">Read the list of user names`) {
		t.Fatalf("admin page without an approval form:\n%s", page)
	}
	csrf, digest := html.UnescapeString(m[1]), html.UnescapeString(d[1])
	approval := func(csrf, password string) url.Values {
		return url.Values{"module": {"assets"}, "digest": {digest}, "csrf": {csrf}, "password": {password}}
	}

	t.Run("fetch metadata", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			method  string
			path    string
			headers map[string]string
			status  int
		}{
			{"same-site post", "POST", "/admin/modules/approve", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": e.site.URL}, 403},
			{"same-site post, own origin claimed", "POST", "/admin/modules/approve", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
			{"cross-site post", "POST", "/admin/modules/approve", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, 403},
			{"user-initiated post", "POST", "/admin/modules/approve", map[string]string{"Sec-Fetch-Site": "none"}, 403},
			{"post without fetch metadata", "POST", "/admin/modules/approve", map[string]string{"Sec-Fetch-Site": ""}, 403},
			{"same-origin post from the site's origin", "POST", "/admin/modules/approve", map[string]string{"Origin": e.site.URL}, 403},
			{"same-origin post without origin", "POST", "/admin/modules/approve", map[string]string{"Origin": ""}, 403},
			{"same-site login post", "POST", "/admin/login", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": e.site.URL}, 403},
			{"same-site fetch of a page", "GET", "/admin/", map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, 403},
			{"same-site frame", "GET", "/admin/", map[string]string{"Sec-Fetch-Site": "same-site", "Sec-Fetch-Dest": "iframe"}, 403},
			{"same-site navigation", "GET", "/admin/", map[string]string{"Sec-Fetch-Site": "same-site"}, 200},
			{"typed address", "GET", "/admin/", map[string]string{"Sec-Fetch-Site": "none"}, 200},
		} {
			t.Run(tc.name, func(t *testing.T) {
				var form url.Values
				if tc.method == "POST" {
					form = approval(csrf, adminPass)
				}
				resp, b := c.do(tc.method, tc.path, form, tc.headers)
				if resp.StatusCode != tc.status {
					t.Fatalf("%d %q, want %d", resp.StatusCode, b, tc.status)
				}
				h := resp.Header
				if !strings.Contains(h.Get("Content-Security-Policy"), "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY" ||
					h.Get("Cross-Origin-Opener-Policy") != "same-origin" || !strings.Contains(h.Get("Content-Security-Policy"), "script-src 'none'") {
					t.Fatalf("headers %v", h)
				}
			})
		}
	})
	t.Run("csrf", func(t *testing.T) {
		other := &adminClient{t: t, origin: adminURL}
		other.login("root", adminPass)
		_, otherPage := other.do("GET", "/admin/", nil, nil)
		otherCSRF := html.UnescapeString(csrfRE.FindStringSubmatch(otherPage)[1])
		for name, token := range map[string]string{"missing": "", "wrong": "guessed", "another session's": otherCSRF, "truncated": csrf[:10]} {
			if resp, b := c.do("POST", "/admin/modules/approve", approval(token, adminPass), nil); resp.StatusCode != 403 {
				t.Fatalf("%s token: %d %q", name, resp.StatusCode, b)
			}
		}
		if resp, b := c.do("POST", "/admin/modules/approve", approval(csrf, "not-the-password"), nil); resp.StatusCode != 401 {
			t.Fatalf("wrong password: %d %q", resp.StatusCode, b)
		}
		anon := &adminClient{t: t, origin: adminURL}
		if resp, _ := anon.do("POST", "/admin/modules/approve", approval(csrf, adminPass), nil); resp.StatusCode != 401 {
			t.Fatalf("signed out: %d", resp.StatusCode)
		}
	})
	wantStaged(t, e)

	// The admin approves, in the admin area.
	resp, b := c.do("POST", "/admin/modules/approve", approval(csrf, adminPass), nil)
	if resp.StatusCode != 200 || !strings.Contains(b, "1.1.0") {
		t.Fatalf("approve: %d %q", resp.StatusCode, b)
	}
	if m := e.site.srv.Module("assets"); m == nil || m.Manifest().Version != "1.1.0" {
		t.Fatalf("after approval, running %v", m)
	}
	var actor int64
	if err := e.site.srv.db.Pool.QueryRow(ctx, `SELECT actor_id FROM websonic.audit_log WHERE action = 'admin.module_approve' AND detail->>'ok' = 'true'`).Scan(&actor); err != nil || actor == 0 {
		t.Fatalf("audit: %v", err)
	}
	// Signing out ends the session.
	if resp, _ := c.do("POST", "/admin/logout", url.Values{"csrf": {csrf}}, nil); resp.StatusCode != 303 {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if resp, _ := c.do("GET", "/admin/", nil, nil); resp.StatusCode != 303 {
		t.Fatalf("after logout: %d", resp.StatusCode)
	}
}

// TestAdminListener: Serve serves the admin area on Config.AdminAddr, an
// origin of its own, and with SecureCookies its cookie is the __Host- one.
func TestAdminListener(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	adminAddr := l.Addr().String()
	l.Close()
	s := newSiteWith(t, "", hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), func(c *Config) {
		c.AdminAddr, c.SecureCookies = adminAddr, true
	})
	const password = "admin-password-1234"
	if _, err := s.srv.CreateAdmin(t.Context(), "root", "Root", "", password); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	adminURL := "http://" + adminAddr
	waitFor(t, func() bool {
		resp, err := http.Get(adminURL + "/admin/login")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	c := &adminClient{t: t, origin: adminURL}
	resp := c.login("root", password)
	var ck *http.Cookie
	for _, x := range resp.Cookies() {
		if strings.HasSuffix(x.Name, "websonic_admin") {
			ck = x
		}
	}
	if resp.StatusCode != 303 || ck == nil || ck.Name != "__Host-websonic_admin" || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %d, cookie %+v", resp.StatusCode, ck)
	}
	// The site's own listener has no admin pages.
	if status, _ := get(t, http.DefaultClient, "http://"+ln.Addr().String()+"/admin/modules/approve"); status != 404 {
		t.Fatalf("the site's origin answers the admin path: %d", status)
	}
}

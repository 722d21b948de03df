package server

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"io/fs"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/websonic/websonic/runtime/internal/theme"
)

// brokenThemes is a theme source with one theme whose home page refers to
// an asset it does not have.
type brokenThemes struct{}

func (brokenThemes) List(context.Context) ([]theme.Info, error) {
	return []theme.Info{{Name: "broken", Version: "1.0.0", Origin: theme.OriginRegistry}}, nil
}

func (brokenThemes) Files(_ context.Context, name string) (fs.FS, error) {
	if name != "broken" {
		return nil, theme.ErrNotFound
	}
	m := fstest.MapFS{}
	for p, f := range map[string]string{
		"theme.json":          `{"name": "broken", "version": "1.0.0", "theme_version": 1}`,
		"layout.html":         string(must(fs.ReadFile(theme.BuiltinFS(), "layout.html"))),
		"assets/css/site.css": "body {}",
		"pages/home.html":     "{{define \"content\"}}\n<img src=\"{{asset \"images/hero.png\"}}\" alt=\"\">{{end}}",
	} {
		m[p] = &fstest.MapFile{Data: []byte(f)}
	}
	return m, nil
}

// shiftingTheme is a source of one theme, "shifting", whose files the
// test changes (as the distribution does when it updates a theme): its
// body class is "shift-<version>", and version "bad" breaks it.
type shiftingTheme struct{ version atomic.Pointer[string] }

func (s *shiftingTheme) List(context.Context) ([]theme.Info, error) {
	return []theme.Info{{Name: "shifting", Version: "1.0.0", Origin: theme.OriginRegistry}}, nil
}

func (s *shiftingTheme) Files(_ context.Context, name string) (fs.FS, error) {
	if name != "shifting" {
		return nil, theme.ErrNotFound
	}
	v := *s.version.Load()
	layout := strings.Replace(string(must(fs.ReadFile(theme.BuiltinFS(), "layout.html"))), "theme-builtin", "shift-"+v, 1)
	if v == "bad" {
		layout = strings.Replace(layout, "{{.Site.Name}}</span>", "{{.Site.Nom}}</span>", 1)
	}
	return fstest.MapFS{
		"theme.json":          {Data: []byte(`{"name": "shifting", "version": "1.0.0", "theme_version": 1}`)},
		"layout.html":         {Data: []byte(layout)},
		"assets/css/site.css": {Data: []byte("body {}")},
	}, nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// get fetches path from the site with Accept-Language lang.
func getPage(t *testing.T, h http.Handler, path, lang string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest("GET", path, nil)
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result(), rec.Body.String()
}

func pngLogo(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, 40, 20))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestThemesAndSettings: over HTTP against a real site and its admin
// area, the owner switches themes (the site's pages and a module's page
// change, on this replica and another), previews them, refuses a broken
// one (the active theme stays), and sets the site's name, accent colour,
// logo and language, which every page shows; French follows the browser,
// then the owner's choice.
func TestThemesAndSettings(t *testing.T) {
	s := newSite(t)
	shifting := &shiftingTheme{}
	v1 := "one"
	shifting.version.Store(&v1)
	s.srv.look.setSource(theme.Combine(brokenThemes{}, shifting, theme.Bundled()))
	as := httptest.NewServer(s.srv.AdminHandler())
	defer as.Close()
	const pass = "correct-staple-horse-88"
	if _, err := s.srv.CreateAdmin(t.Context(), "owner", "Owner", "", pass); err != nil {
		t.Fatal(err)
	}
	c := &adminClient{t: t, origin: as.URL}
	if resp := c.login("owner", pass); resp.StatusCode != 303 {
		t.Fatalf("admin login: %d", resp.StatusCode)
	}
	_, themesPage := c.do("GET", "/admin/themes", nil, nil)
	m := csrfRE.FindStringSubmatch(themesPage)
	if m == nil {
		t.Fatalf("no CSRF token on the themes page:\n%s", themesPage)
	}
	csrf := m[1]
	site := s.srv.Handler()
	activate := func(t *testing.T, name string) (*http.Response, string) {
		t.Helper()
		return c.do("POST", "/admin/themes/activate", url.Values{"csrf": {csrf}, "theme": {name}}, nil)
	}

	t.Run("built-in by default, English and French", func(t *testing.T) {
		for _, name := range []string{"builtin", "harbor", "meadow", "broken"} {
			if !strings.Contains(themesPage, `id="theme-`+name+`"`) {
				t.Errorf("the themes page does not list %s", name)
			}
		}
		resp, b := getPage(t, site, "/", "")
		if !strings.Contains(b, "theme-builtin") || !strings.Contains(b, `<html lang="en">`) || !strings.Contains(b, "Welcome to Web Sonic") {
			t.Fatalf("home page:\n%s", b)
		}
		if resp.Header.Get("Content-Language") != "en" {
			t.Errorf("Content-Language %q", resp.Header.Get("Content-Language"))
		}
		resp, b = getPage(t, site, "/", "fr-CA,fr;q=0.9,en;q=0.5")
		if !strings.Contains(b, `<html lang="fr">`) || !strings.Contains(b, "Bienvenue sur Web Sonic") || resp.Header.Get("Content-Language") != "fr" {
			t.Fatalf("French home page:\n%s", b)
		}
		// A form's error, in French, with its value in place.
		req := httptest.NewRequest("POST", "/register", strings.NewReader(url.Values{"username": {"zoé"}, "password": {"short"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", "fr")
		rec := httptest.NewRecorder()
		site.ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), "Un nom d&#39;utilisateur compte de 3 à 32 caractères") {
			t.Errorf("French registration error:\n%s", rec.Body.String())
		}
	})

	t.Run("switch theme", func(t *testing.T) {
		for _, name := range []string{"harbor", "meadow"} {
			if resp, b := activate(t, name); resp.StatusCode != 303 {
				t.Fatalf("activate %s: %d\n%s", name, resp.StatusCode, b)
			}
			_, b := getPage(t, site, "/", "")
			if !strings.Contains(b, `class="theme-`+name) {
				t.Fatalf("after activating %s, the home page is:\n%s", name, b)
			}
			css := regexp.MustCompile(`href="(/static/site/themes/` + name + `/[^"]+\.css)"`).FindStringSubmatch(b)
			if css == nil {
				t.Fatalf("no %s stylesheet in\n%s", name, b)
			}
			resp, sheet := getPage(t, site, css[1], "")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(sheet, "--accent") {
				t.Fatalf("stylesheet %s: %d %s", css[1], resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			// A module's page renders inside the theme, under the module's policy.
			resp, b = getPage(t, site, "/guestbook", "")
			if resp.StatusCode != 200 || !strings.Contains(b, `class="theme-`+name) || !strings.Contains(b, "Guestbook") ||
				!strings.Contains(resp.Header.Get("Content-Security-Policy"), "object-src 'none'") {
				t.Fatalf("module page in %s: %d %v\n%s", name, resp.StatusCode, resp.Header, b)
			}
		}
		if _, b := c.do("GET", "/admin/themes", nil, nil); !regexp.MustCompile(`id="theme-meadow">\s*<h2>meadow <small class="muted">1.0.0</small> <span class="badge ok">`).MatchString(b) {
			t.Errorf("the themes page does not mark meadow in use:\n%s", b)
		}
	})

	t.Run("broken theme refused, the active one stays", func(t *testing.T) {
		resp, b := activate(t, "broken")
		if resp.StatusCode != 422 || !strings.Contains(b, "pages/home.html:2") || !strings.Contains(b, "images/hero.png") {
			t.Fatalf("activate broken: %d\n%s", resp.StatusCode, b)
		}
		if _, b := getPage(t, site, "/", ""); !strings.Contains(b, "theme-meadow") {
			t.Fatalf("the active theme changed:\n%s", b)
		}
		if got := s.srv.look.settings.Current().Theme; got != "meadow" {
			t.Fatalf("settings say %s", got)
		}
		if resp, _ := activate(t, "no-such-theme"); resp.StatusCode != 422 {
			t.Fatalf("unknown theme: %d", resp.StatusCode)
		}
	})

	t.Run("an installed theme changes", func(t *testing.T) {
		if resp, b := activate(t, "shifting"); resp.StatusCode != 303 {
			t.Fatalf("activate shifting: %d\n%s", resp.StatusCode, b)
		}
		if _, b := getPage(t, site, "/", ""); !strings.Contains(b, "shift-one") {
			t.Fatalf("shifting one:\n%s", b)
		}
		for _, tc := range []struct{ version, want string }{{"two", "shift-two"}, {"bad", "shift-two"}} {
			v := tc.version
			shifting.version.Store(&v)
			if err := s.srv.look.themesChanged(t.Context()); err != nil {
				t.Fatal(err)
			}
			if _, b := getPage(t, site, "/", ""); !strings.Contains(b, tc.want) {
				t.Fatalf("files %s: want %s in\n%s", v, tc.want, b)
			}
		}
		if resp, _ := activate(t, "meadow"); resp.StatusCode != 303 {
			t.Fatal("activate meadow")
		}
	})

	t.Run("preview", func(t *testing.T) {
		resp, b := c.do("GET", "/admin/themes/harbor/preview", nil, nil)
		if resp.StatusCode != 200 || !strings.Contains(b, "theme-harbor") || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "form-action 'none'") {
			t.Fatalf("preview: %d %v\n%s", resp.StatusCode, resp.Header, b)
		}
		css := regexp.MustCompile(`href="(/admin/themes/assets/harbor/[^"]+\.css)"`).FindStringSubmatch(b)
		if css == nil {
			t.Fatalf("no stylesheet on the admin origin in\n%s", b)
		}
		if resp, _ := c.do("GET", css[1], nil, nil); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/css; charset=utf-8" {
			t.Fatalf("preview stylesheet: %d", resp.StatusCode)
		}
		if resp, b := c.do("GET", "/admin/themes/meadow/preview?page=frame", nil, nil); resp.StatusCode != 200 || !strings.Contains(b, "A module&#39;s page") {
			t.Fatalf("frame preview: %d\n%s", resp.StatusCode, b)
		}
		if resp, _ := c.do("GET", "/admin/themes/broken/preview", nil, nil); resp.StatusCode != 422 {
			t.Fatalf("broken preview: %d", resp.StatusCode)
		}
		if resp, _ := c.do("GET", "/admin/themes/nope/preview", nil, nil); resp.StatusCode != 404 {
			t.Fatalf("unknown preview: %d", resp.StatusCode)
		}
		if _, b := getPage(t, site, "/", ""); !strings.Contains(b, "theme-meadow") {
			t.Fatal("a preview changed the site")
		}
	})

	t.Run("settings", func(t *testing.T) {
		save := func(name, accent, lang string) (*http.Response, string) {
			return c.do("POST", "/admin/settings", url.Values{"csrf": {csrf}, "name": {name}, "accent": {accent}, "language": {lang}}, nil)
		}
		if resp, b := save("Boulangerie <Dupont>", "#0B5D7A", "auto"); resp.StatusCode != 303 {
			t.Fatalf("save: %d\n%s", resp.StatusCode, b)
		}
		for _, path := range []string{"/", "/login", "/guestbook", "/no-such-page"} {
			_, b := getPage(t, site, path, "")
			if !strings.Contains(b, "Boulangerie &lt;Dupont&gt;") || !strings.Contains(b, "--accent: #0b5d7a") {
				t.Errorf("%s does not show the name and accent:\n%s", path, b)
			}
		}
		if resp, b := save("Boulangerie", "#ffff00", "auto"); resp.StatusCode != 422 || !strings.Contains(b, "too light") {
			t.Fatalf("light accent: %d\n%s", resp.StatusCode, b)
		}
		// The logo: uploaded, shown, served with safe headers; SVG refused.
		upload := func(name string, data []byte) (*http.Response, string) {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			mw.WriteField("csrf", csrf)
			fw, _ := mw.CreateFormFile("logo", name)
			fw.Write(data)
			mw.Close()
			req, _ := http.NewRequest("POST", as.URL+"/admin/settings/logo", &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			req.Header.Set("Sec-Fetch-Site", "same-origin")
			req.Header.Set("Origin", as.URL)
			req.AddCookie(c.cookie)
			resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp, string(b)
		}
		if resp, b := upload("logo.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`)); resp.StatusCode != 422 || !strings.Contains(b, "SVG logos are not accepted") {
			t.Fatalf("SVG logo: %d\n%s", resp.StatusCode, b)
		}
		logo := pngLogo(t)
		if resp, b := upload("logo.png", logo); resp.StatusCode != 303 {
			t.Fatalf("logo: %d\n%s", resp.StatusCode, b)
		}
		_, b := getPage(t, site, "/", "")
		src := regexp.MustCompile(`<img src="(/static/site/logo/[0-9a-f]{16}\.png)"`).FindStringSubmatch(b)
		if src == nil {
			t.Fatalf("no logo on the home page:\n%s", b)
		}
		resp, got := getPage(t, site, src[1], "")
		h := resp.Header
		if resp.StatusCode != 200 || got != string(logo) || h.Get("Content-Type") != "image/png" || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.Contains(h.Get("Content-Security-Policy"), "sandbox") || !strings.Contains(h.Get("Cache-Control"), "immutable") {
			t.Fatalf("logo: %d %v", resp.StatusCode, h)
		}
		if resp, _ := getPage(t, site, "/static/site/logo/0000000000000000.png", ""); resp.StatusCode != 404 {
			t.Errorf("a stale logo URL: %d", resp.StatusCode)
		}
		if resp, b := c.do("GET", "/admin/settings", nil, nil); resp.StatusCode != 200 || !strings.Contains(b, `src="/admin/settings/logo?v=`) {
			t.Fatalf("settings page: %d\n%s", resp.StatusCode, b)
		}
		// The owner's language wins over the browser's, on the site and in
		// the admin area.
		if resp, _ := save("Boulangerie", "#0b5d7a", "fr"); resp.StatusCode != 303 {
			t.Fatalf("save French: %d", resp.StatusCode)
		}
		if _, b := getPage(t, site, "/login", "en-US,en"); !strings.Contains(b, `<html lang="fr">`) || !strings.Contains(b, "Pas encore de compte ?") {
			t.Fatalf("owner's French on the site:\n%s", b)
		}
		if _, b := c.do("GET", "/admin/settings", nil, map[string]string{"Accept-Language": "en"}); !strings.Contains(b, `<html lang="fr">`) || !strings.Contains(b, "Réglages du site") {
			t.Fatalf("owner's French in the admin area:\n%s", b)
		}
		if resp, b := c.do("POST", "/admin/settings/logo/remove", url.Values{"csrf": {csrf}}, nil); resp.StatusCode != 303 {
			t.Fatalf("remove logo: %d\n%s", resp.StatusCode, b)
		}
		if _, b := getPage(t, site, "/", ""); strings.Contains(b, "/static/site/logo/") {
			t.Fatal("the logo is still shown")
		}
		save("", "#0b5d7a", "auto")
	})

	t.Run("another replica follows", func(t *testing.T) {
		cfg := s.srv.cfg
		cfg.DataDir = siteDataDir(t)
		keys := must(os.ReadFile(filepath.Join(s.srv.cfg.DataDir, "data-keys.json")))
		if err := os.WriteFile(filepath.Join(cfg.DataDir, "data-keys.json"), keys, 0o600); err != nil {
			t.Fatal(err)
		}
		other, err := Open(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close(context.Background())
		if _, b := getPage(t, other.Handler(), "/", ""); !strings.Contains(b, "theme-meadow") {
			t.Fatalf("the replica started without the active theme:\n%s", b)
		}
		if resp, _ := activate(t, "harbor"); resp.StatusCode != 303 {
			t.Fatal("activate harbor")
		}
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, b := getPage(t, other.Handler(), "/", ""); strings.Contains(b, "theme-harbor") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the other replica never switched to harbor")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

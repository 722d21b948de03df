package server

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/manifest"
)

// extrasModules builds the extras test module once per test binary.
var extrasModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "extras-modules")
	if err := modbuild.Package(context.Background(), "../internal/testmodules/extras", filepath.Join(dir, "extras")); err != nil {
		return "", err
	}
	return dir, nil
})

func newExtrasSite(t *testing.T) *testSite {
	t.Helper()
	mods, err := extrasModules()
	if err != nil {
		t.Fatal(err)
	}
	return newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
}

// replicaOf opens another runtime on s's database with the same modules
// (a second replica, or a restart) and serves its site.
func (s *testSite) replicaOf(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	cfg := s.srv.cfg
	cfg.DataDir = siteDataDir(t)
	// Replicas share the site's data key (a real one gets it from the
	// first one's folder, or WEBSONIC_SITE_KEY).
	if b, err := os.ReadFile(filepath.Join(s.srv.cfg.DataDir, privacy.KeyFile)); err == nil {
		if err := os.WriteFile(filepath.Join(cfg.DataDir, privacy.KeyFile), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	srv, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		hs.Close()
		srv.Close(context.Background())
	})
	return srv, hs
}

func mget(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var hitsRE = regexp.MustCompile(`hits=(\d+)`)

func hits(t *testing.T, body string) int {
	t.Helper()
	m := hitsRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no hits in %q", body)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// navHas says whether the site's home page links to path.
func navHas(t *testing.T, siteURL, path string) bool {
	t.Helper()
	_, b := mget(t, siteURL+"/")
	return strings.Contains(b, `href="`+path+`"`)
}

// TestModuleToggle: disabling a module (from the terminal's path: the
// database and the module_state channel) unroutes it on every replica —
// 404, nav gone, its realtime subscriptions ended and new ones refused,
// its commands refused — while it keeps running; enabling it (the admin
// area's path) brings back the same running instance, with the counter
// in its memory intact (no restart); a runtime started while it is
// disabled never routes it.
func TestModuleToggle(t *testing.T) {
	s := newExtrasSite(t)
	r2, hs2 := s.replicaOf(t)
	ctx := context.Background()
	admin := s.mkUser(t, "owner", site.RoleAdmin)

	if st, b := mget(t, s.URL+"/extras"); st != 200 || hits(t, b) < 1 {
		t.Fatalf("before: %d %s", st, b)
	}
	_, b := mget(t, s.URL+"/extras")
	before := hits(t, b)
	if !navHas(t, s.URL, "/extras") || !navHas(t, hs2.URL, "/extras") {
		t.Fatal("no nav entry before disabling")
	}
	ws := dial(t, s.URL, nil)
	ws.subscribe("extras.news")
	running := s.srv.Module("extras")
	calls := running.Stats().Calls

	changed, err := s.console(t).SetModuleEnabled(ctx, "extras", false, "tester")
	if err != nil || !changed {
		t.Fatalf("disable: %v %v", changed, err)
	}
	for _, site := range []string{s.URL, hs2.URL} {
		waitFor(t, func() bool { st, _ := mget(t, site+"/extras"); return st == http.StatusNotFound })
		if navHas(t, site, "/extras") {
			t.Errorf("%s: the nav still links to the disabled module", site)
		}
	}
	if f := ws.next(); f.Type != realtime.TypeRefused || f.Topic != "extras.news" || f.Reason != realtime.ReasonNoModule {
		t.Errorf("the open subscription: %+v, want refused no_module", f)
	}
	ws.send(`{"type":"subscribe","topic":"extras.other"}`)
	if f := ws.next(); f.Type != realtime.TypeRefused || f.Reason != realtime.ReasonNoModule {
		t.Errorf("a new subscription: %+v, want refused", f)
	}
	if _, err := s.srv.RunCommand(ctx, admin, "extras", "table", nil); !errors.Is(err, ErrModuleDisabled) {
		t.Errorf("a command of a disabled module: %v", err)
	}
	if got := len(s.srv.enabledModules()); got != 0 {
		t.Errorf("enabledModules (the jobs' and realtime's view) has %d modules", got)
	}
	if s.srv.Module("extras") != running || r2.Module("extras") == nil {
		t.Fatal("disabling stopped the module")
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'module.disable' AND subject = 'extras'`); n != 1 {
		t.Errorf("%d module.disable audit entries", n)
	}

	// Restarted while disabled: never routed.
	_, hs3 := s.replicaOf(t)
	if st, _ := mget(t, hs3.URL+"/extras"); st != http.StatusNotFound {
		t.Errorf("a runtime started while the module is disabled serves it: %d", st)
	}

	if changed, err := s.srv.SetModuleEnabled(ctx, admin, "extras", true); err != nil || !changed {
		t.Fatalf("enable: %v %v", changed, err)
	}
	st, b := mget(t, s.URL+"/extras") // at once on the replica that enabled it
	if st != 200 || hits(t, b) <= before {
		t.Fatalf("after enabling: %d %s (hits before: %d): the module restarted?", st, b, before)
	}
	if s.srv.Module("extras") != running || running.Stats().Calls <= calls {
		t.Error("enabling did not bring back the same running module")
	}
	if !navHas(t, s.URL, "/extras") {
		t.Error("no nav entry after enabling")
	}
	waitFor(t, func() bool { st, _ := mget(t, hs2.URL+"/extras"); return st == 200 })
	waitFor(t, func() bool { st, _ := mget(t, hs3.URL+"/extras"); return st == 200 })
	ws.subscribe("extras.news")
	if _, err := s.srv.RunCommand(ctx, admin, "extras", "table", nil); err != nil {
		t.Errorf("a command after enabling: %v", err)
	}
	if _, err := s.console(t).SetModuleEnabled(ctx, "nosuch", false, "tester"); !errors.Is(err, ErrNotInstalled) {
		t.Errorf("disabling a module not installed: %v", err)
	}
}

// extrasAdmin signs an admin into s's admin area and returns its client
// and CSRF token.
func extrasAdmin(t *testing.T, s *testSite) (*adminClient, string) {
	t.Helper()
	u := s.mkUser(t, "boss", site.RoleAdmin)
	token := make([]byte, 32)
	rand.Read(token)
	if _, err := s.srv.db.Pool.Exec(t.Context(), `INSERT INTO websonic.admin_sessions (token_hash, user_id, expires_at)
		VALUES (sha256($1), $2, now() + interval '1 hour')`, token, u.ID); err != nil {
		t.Fatal(err)
	}
	as := httptest.NewServer(s.srv.AdminHandler())
	t.Cleanup(as.Close)
	c := &adminClient{t: t, origin: as.URL, cookie: &http.Cookie{Name: admin.AdminCookie, Value: base64.RawURLEncoding.EncodeToString(token)}}
	_, body := c.do("GET", "/admin/", nil, nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on the dashboard:\n%.500s", body)
	}
	return c, m[1]
}

// TestModuleSettings: the settings form shows each setting by its type,
// with its description (translated by the module's catalogue), default
// and the owner's value; bad values come back with a message each and
// the owner's text kept; good ones apply live on every replica (the
// module reads them on its next request), from the admin area and from
// `websonic module config` (the request queue); a restart starts the
// module with them.
func TestModuleSettings(t *testing.T) {
	s := newExtrasSite(t)
	_, hs2 := s.replicaOf(t)
	c, csrf := extrasAdmin(t, s)

	_, page := c.do("GET", "/admin/modules/extras/settings", nil, nil)
	for _, want := range []string{`id="settings-form"`, `<label for="setting-greeting">Greeting`, `id="setting-limit" name="limit" value="" type="number" step="1"`,
		`placeholder="Hello"`, "The greeting on the page", `type="checkbox" id="setting-shout"`, `id="module-toggle"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the form lacks %q:\n%s", want, page)
		}
	}
	if _, fr := c.do("GET", "/admin/modules/extras/settings", nil, map[string]string{"Accept-Language": "fr"}); !strings.Contains(fr, "La salutation de la page") || !strings.Contains(fr, "Enregistrer les réglages") {
		t.Errorf("no French from the module's catalogue and the runtime's:\n%s", fr)
	}

	resp, page := c.do("POST", "/admin/modules/extras/settings", url.Values{"csrf": {csrf}, "greeting": {"Bonjour"}, "limit": {"many"}, "ratio": {"x"}}, nil)
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("bad values: %d", resp.StatusCode)
	}
	for _, want := range []string{`id="error-limit">must be a whole number`, `id="error-ratio">must be a number`, `value="Bonjour"`, `value="many"`, `aria-invalid="true"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the refused form lacks %q:\n%s", want, page)
		}
	}
	if _, b := mget(t, s.URL+"/extras"); !strings.Contains(b, "greeting=Hello limit=3") {
		t.Errorf("a refused form changed the settings: %s", b)
	}

	resp, _ = c.do("POST", "/admin/modules/extras/settings", url.Values{"csrf": {csrf}, "greeting": {"Bonjour"}, "limit": {"7"}, "shout": {"on"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasSuffix(resp.Header.Get("Location"), "/settings?saved=1") {
		t.Fatalf("good values: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, b := mget(t, s.URL+"/extras"); !strings.Contains(b, "greeting=BONJOUR limit=7 ratio=0.5") {
		t.Errorf("the settings are not live: %s", b)
	}
	waitFor(t, func() bool {
		_, b := mget(t, hs2.URL+"/extras")
		return strings.Contains(b, "greeting=BONJOUR limit=7")
	})
	if _, page = c.do("GET", "/admin/modules/extras/settings?saved=1", nil, nil); !strings.Contains(page, `id="settings-saved"`) || !strings.Contains(page, `value="7"`) || !strings.Contains(page, "checked") {
		t.Errorf("the saved form:\n%s", page)
	}

	// `websonic module config` through the request queue.
	s.serve(t)
	con := s.console(t)
	nine, bad := "9", "lots"
	set, err := con.ModuleConfig(t.Context(), "extras", map[string]*string{"limit": &nine, "shout": nil}, "tester", RequestOptions{})
	if err != nil || string(set.Values["limit"]) != "9" || set.Values["shout"] != nil {
		t.Fatalf("module config limit=9 shout=: %+v %v", set, err)
	}
	if _, b := mget(t, s.URL+"/extras"); !strings.Contains(b, "greeting=Bonjour limit=9") {
		t.Errorf("after module config: %s", b)
	}
	if _, err := con.ModuleConfig(t.Context(), "extras", map[string]*string{"limit": &bad}, "tester", RequestOptions{}); err == nil || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("a bad value: %v", err)
	}
	if _, err := con.ModuleConfig(t.Context(), "extras", map[string]*string{"nope": &nine}, "tester", RequestOptions{}); err == nil || !strings.Contains(err.Error(), "not in the module's config schema") {
		t.Errorf("an unknown key: %v", err)
	}
	if show, err := con.ModuleConfig(t.Context(), "extras", nil, "tester", RequestOptions{}); err != nil || show.Schema["greeting"].Type != "string" {
		t.Errorf("show: %+v %v", show, err)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'module.config' AND subject = 'extras'`); n != 2 {
		t.Errorf("%d module.config audit entries, want 2", n)
	}

	_, hs3 := s.replicaOf(t) // a restart starts with the stored settings
	if _, b := mget(t, hs3.URL+"/extras"); !strings.Contains(b, "greeting=Bonjour limit=9") {
		t.Errorf("after a restart: %s", b)
	}
}

// TestUsableConfig: an update whose schema no longer accepts a stored
// value falls back to its default for that key; the others stay.
func TestUsableConfig(t *testing.T) {
	mf := &manifest.Manifest{Capabilities: manifest.Capabilities{ConfigSchema: map[string]manifest.ConfigItem{
		"title": {Type: "string"}, "limit": {Type: "integer", Default: json.RawMessage("3")}, "ratio": {Type: "number"},
	}}}
	for _, tc := range []struct {
		name    string
		stored  string
		dropped []string
		want    string
	}{
		{"all accepted", `{"title":"x","limit":4}`, nil, `{"limit":4,"title":"x"}`},
		{"key gone", `{"title":"x","colour":"red"}`, []string{"colour"}, `{"limit":3,"title":"x"}`},
		{"type changed", `{"limit":"four","ratio":1.5}`, []string{"limit"}, `{"limit":3,"ratio":1.5}`},
		{"nothing stored", `{}`, nil, `{"limit":3}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stored map[string]json.RawMessage
			json.Unmarshal([]byte(tc.stored), &stored)
			usable, dropped := usableConfig(mf, stored)
			if strings.Join(dropped, ",") != strings.Join(tc.dropped, ",") {
				t.Errorf("dropped %v, want %v", dropped, tc.dropped)
			}
			got, err := mf.ResolveConfig(usable)
			if err != nil || string(got) != tc.want {
				t.Errorf("resolved %s %v, want %s", got, err, tc.want)
			}
		})
	}
}

// TestModuleCommandsForm: each admin command is a form of typed,
// labelled inputs; running one shows its text or table on the page and
// is audited with the admin as actor; bad arguments come back as errors.
func TestModuleCommandsForm(t *testing.T) {
	s := newExtrasSite(t)
	c, csrf := extrasAdmin(t, s)
	_, page := c.do("GET", "/admin/modules/extras/commands", nil, nil)
	for _, want := range []string{`id="command-greet"`, "Greets someone", `<label for="arg-greet-name">Name <small>(required)</small>`,
		`id="arg-greet-times" name="times" value="" type="number" step="1"`, `placeholder="1"`, `type="checkbox" id="arg-greet-loud"`, `id="run-table"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the commands page lacks %q:\n%s", want, page)
		}
	}
	resp, page := c.do("POST", "/admin/modules/extras/commands/greet", url.Values{"csrf": {csrf}, "name": {"Ada"}, "times": {"2"}, "loud": {"on"}}, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, "HELLO ADA x2 by admin boss (id ") || !strings.Contains(page, `id="command-result-greet"`) {
		t.Errorf("greet: %d\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(page, `value="Ada"`) {
		t.Error("the form did not keep the admin's values")
	}
	resp, page = c.do("POST", "/admin/modules/extras/commands/table", url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `<th scope="col">count</th>`) || !strings.Contains(page, "<td>&lt;b&gt;pears&lt;/b&gt;</td>") || !strings.Contains(page, "<td>5</td>") {
		t.Errorf("table: %d\n%s", resp.StatusCode, page)
	}
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"not an integer", url.Values{"name": {"Ada"}, "times": {"two"}}, "must be a whole number"},
		{"required missing", url.Values{"times": {"2"}}, "The command failed:"},
	} {
		tc.form.Set("csrf", csrf)
		resp, page := c.do("POST", "/admin/modules/extras/commands/greet", tc.form, nil)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(page, tc.want) {
			t.Errorf("%s: %d, want %q in\n%s", tc.name, resp.StatusCode, tc.want, page)
		}
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log a JOIN websonic.users u ON u.id = a.actor_id
		WHERE a.action = 'command.run' AND u.username = 'boss'`); n < 2 {
		t.Errorf("%d command.run audit entries by the admin", n)
	}
}

// TestModuleAdminPages: a module's page is shown in the admin layout,
// sanitized; its form posts back with the shell's CSRF token (which the
// module never sees), and a redirect shows the page again; a form without
// the token is refused by the shell; every way out of the box the hostile
// page tries is closed; a disabled module's pages are gone.
func TestModuleAdminPages(t *testing.T) {
	s := newExtrasSite(t)
	c, csrf := extrasAdmin(t, s)
	const board = "/admin/modules/extras/pages/board"

	_, page := c.do("GET", board, nil, nil)
	for _, want := range []string{`id="module-page"`, "<h2>Board of boss</h2>", `<form method="post" action="` + board + `"><input type="hidden" name="csrf" value="` + csrf + `"/>`,
		`<label for="m-extras-item">Item</label>`, `class="module-page-link" href="` + board + `"`,
		// The side navigation lists the modules' pages in a group of their
		// own, each named with its module.
		`id="module-pages-nav"`, `<a href="` + board + `" aria-current="page">extras: Board</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("the board lacks %q:\n%s", want, page)
		}
	}
	if _, fr := c.do("GET", board, nil, map[string]string{"Accept-Language": "fr"}); !strings.Contains(fr, "<h1>Tableau</h1>") ||
		!strings.Contains(fr, `<a href="`+board+`" aria-current="page">extras: Tableau</a>`) {
		t.Errorf("the page's label is not translated by the module's catalogue:\n%s", fr)
	}
	resp, _ := c.do("POST", board, url.Values{"csrf": {csrf}, "item": {"Apples <3"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != board+"?added=1" {
		t.Fatalf("posting the board's form: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, page = c.do("GET", board+"?added=1", nil, nil); !strings.Contains(page, "<li>Apples &lt;3</li>") || !strings.Contains(page, `<p class="ok">Added.</p>`) {
		t.Errorf("after posting:\n%s", page)
	}
	if resp, _ := c.do("POST", board, url.Values{"item": {"no token"}}, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("a post without the CSRF token: %d", resp.StatusCode)
	}
	if n := s.count(t, `SELECT count(*) FROM websonic.audit_log WHERE action = 'module.admin_page'`); n != 1 {
		t.Errorf("%d module.admin_page audit entries, want 1", n)
	}

	_, page = c.do("GET", "/admin/modules/extras/pages/hostile", nil, nil)
	i, j := strings.Index(page, `<section class="card" id="module-page">`), strings.LastIndex(page, "</section>")
	if i < 0 || j < i {
		t.Fatalf("no module page section:\n%s", page)
	}
	frag := page[i:j]
	for _, tc := range []struct{ attack, left string }{
		{"script element", "<script"},
		{"script in svg", "<svg"},
		{"event handler", "onerror"},
		{"click handler", "onclick"},
		{"javascript: URL", "javascript:"},
		{"links and forms elsewhere", "evil.example"},
		{"style attribute", "style="},
		{"style element", "<style"},
		{"shell's classes", "brand"},
		{"password field", "password"},
		{"forged csrf field", `value="forged"`},
		{"iframe", "<iframe"},
		{"base", "<base"},
		{"meta refresh", "<meta"},
		{"form attribute", `form="logout"`},
		{"formaction", "formaction"},
		{"id clash", `id="main"`},
	} {
		if strings.Contains(frag, tc.left) {
			t.Errorf("%s: %q left in the fragment:\n%s", tc.attack, tc.left, frag)
		}
	}
	for _, want := range []string{`href="/admin/modules/extras/pages/hostile?tab=2"`, `id="m-extras-self"`,
		`<form id="m-extras-elsewhere" method="post" action="/admin/modules/extras/pages/hostile"><input type="hidden" name="csrf" value="` + csrf + `"/>`, `id="m-extras-main"`} {
		if !strings.Contains(frag, want) {
			t.Errorf("the hostile page lacks %q:\n%s", want, frag)
		}
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != "" && !strings.Contains(csp, "script-src 'none'") {
		t.Errorf("CSP %q", csp)
	}

	if _, page := c.do("GET", "/admin/modules/extras", nil, nil); !strings.Contains(page, `id="module-toggle"`) || !strings.Contains(page, `id="module-settings-link"`) {
		t.Errorf("the module's detail page lacks the extras:\n%s", page)
	}
	if _, err := s.srv.SetModuleEnabled(t.Context(), nil, "extras", false); err != nil {
		t.Fatal(err)
	}
	if resp, _ := c.do("GET", board, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a disabled module's page: %d", resp.StatusCode)
	}
	_, page = c.do("GET", "/admin/modules/extras/settings", nil, nil)
	if !strings.Contains(page, `id="module-state">Disabled`) || strings.Contains(page, "module-page-link") {
		t.Errorf("the extras of a disabled module:\n%s", page)
	}
	resp, page = c.do("POST", "/admin/modules/extras/enable", url.Values{"csrf": {csrf}}, nil)
	if resp.StatusCode != 200 || !strings.Contains(page, `id="toggle-result"`) || !strings.Contains(page, `id="module-state">Enabled`) {
		t.Errorf("enable from the admin area: %d\n%s", resp.StatusCode, page)
	}
	if st, _ := mget(t, s.URL+"/extras"); st != 200 {
		t.Errorf("after enabling from the admin area: %d", st)
	}
}

// TestDisabledModuleActsNoMore: a disabled module is still asked for a
// user's data (it holds it), but may not publish on its realtime topics
// meanwhile (the hub knows enabled modules only); enabled, it may.
func TestDisabledModuleActsNoMore(t *testing.T) {
	s := newExtrasSite(t)
	u := s.user(t, "mia", site.RoleMember)
	published := func() string {
		var b bytes.Buffer
		if err := s.srv.ExportUser(t.Context(), u.ID, &b); err != nil {
			t.Fatal(err)
		}
		zr, err := zip.NewReader(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil {
			t.Fatal(err)
		}
		f, err := zr.Open("modules/extras.json")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var got struct{ Published string }
		if err := json.NewDecoder(f).Decode(&got); err != nil {
			t.Fatal(err)
		}
		return got.Published
	}
	if got := published(); got != "yes" {
		t.Fatalf("enabled, the module could not publish: %q", got)
	}
	if _, err := s.srv.SetModuleEnabled(t.Context(), nil, "extras", false); err != nil {
		t.Fatal(err)
	}
	if got := published(); !strings.HasPrefix(got, "no: ") || !strings.Contains(got, "denied") {
		t.Fatalf("disabled, the module still acts through a host service: published %q", got)
	}
}

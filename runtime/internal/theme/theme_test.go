package theme

import (
	"bytes"
	"context"
	"io/fs"
	"maps"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/templates"
)

// TestShippedThemesLoad: the built-in theme and every bundled theme load,
// and each bundled folder's name is its theme's.
func TestShippedThemesLoad(t *testing.T) {
	if b := Builtin(); b.Name() != BuiltinName {
		t.Fatalf("built-in theme is %q", b.Name())
	}
	for _, n := range templates.Names {
		sub, err := fs.Sub(templates.FS, n)
		if err != nil {
			t.Fatal(err)
		}
		th, err := Load(sub)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if th.Name() != n {
			t.Errorf("folder %s holds theme %s", n, th.Name())
		}
	}
	list, err := Bundled().List(t.Context())
	if err != nil || len(list) != 1+len(templates.Names) || list[0].Origin != OriginBuiltin {
		t.Fatalf("Bundled().List = %v, %v", list, err)
	}
}

// minimal is a small valid theme; tests change a copy.
func minimal() fstest.MapFS {
	return fstest.MapFS{
		"theme.json": {Data: []byte(`{"name": "tiny", "version": "1.0.0", "theme_version": 1}`)},
		"layout.html": {Data: []byte(`{{define "layout"}}<!doctype html><html lang="{{.Lang}}"><head><title>{{.Title}}</title>` +
			`<link rel="stylesheet" href="{{asset "css/a.css"}}">{{with .Site.Accent}}<style>:root{--accent: {{.}}}</style>{{end}}</head>` +
			`<body class="theme-tiny">{{with .Site.Logo}}<img src="{{.}}" alt="">{{end}}{{.Site.Name}}<main>{{template "content" .}}</main></body></html>{{end}}`)},
		"assets/css/a.css":  {Data: []byte(`body { background: url(../img/bg.png); }`)},
		"assets/img/bg.png": {Data: []byte("\x89PNG\r\n\x1a\n")},
		"locales/fr.json":   {Data: []byte(`{"Tiny": "Petit"}`)},
		"partials/nav.html": {Data: []byte(`{{define "nav"}}<nav>{{range .Nav}}<a href="{{.Path}}">{{.Label}}</a>{{end}}</nav>{{end}}`)},
		"pages/home.html":   {Data: []byte(`{{define "content"}}{{template "nav" .}}<h1>{{$.T "Tiny"}}</h1>{{end}}`)},
	}
}

func with(m fstest.MapFS, changes map[string]string) fstest.MapFS {
	c := maps.Clone(m)
	for p, s := range changes {
		if s == "" {
			delete(c, p)
		} else {
			c[p] = &fstest.MapFile{Data: []byte(s)}
		}
	}
	return c
}

// TestLoadRefuses: every kind of bad theme is refused with an error that
// names the file (and the line, for templates and stylesheets).
func TestLoadRefuses(t *testing.T) {
	if _, err := Load(minimal()); err != nil {
		t.Fatalf("the minimal theme: %v", err)
	}
	layout := string(minimal()["layout.html"].Data)
	for _, tc := range []struct {
		name    string
		changes map[string]string
		want    string // in the error
	}{
		{"no theme.json", map[string]string{"theme.json": ""}, "theme.json is missing"},
		{"unknown field", map[string]string{"theme.json": `{"name":"tiny","version":"1.0.0","theme_version":1,"script":"x"}`}, `unknown field "script"`},
		{"bad name", map[string]string{"theme.json": `{"name":"Tiny!","version":"1.0.0","theme_version":1}`}, "name"},
		{"bad version", map[string]string{"theme.json": `{"name":"tiny","version":"one","theme_version":1}`}, "semantic version"},
		{"future format", map[string]string{"theme.json": `{"name":"tiny","version":"1.0.0","theme_version":2}`}, "theme_version 2"},
		{"no layout", map[string]string{"layout.html": ""}, "layout.html is missing"},
		{"layout does not parse", map[string]string{"layout.html": "{{define \"layout\"}}\n<p>{{if .User}}</p>\n{{end}}"}, "layout.html:"},
		{"page does not parse", map[string]string{"pages/home.html": "{{define \"content\"}}\n\n{{.Title\n{{end}}"}, "pages/home.html:4"},
		{"unknown function", map[string]string{"pages/home.html": `{{define "content"}}{{exec "rm"}}{{end}}`}, `function "exec" not defined`},
		{"bad field", map[string]string{"pages/home.html": "{{define \"content\"}}\n{{.Password}}{{end}}"}, "pages/home.html:2"},
		{"missing asset", map[string]string{"pages/home.html": "{{define \"content\"}}\n\n<img src=\"{{asset \"img/logo.png\"}}\">{{end}}"}, `pages/home.html:3:12: asset "img/logo.png": no such file`},
		{"missing asset in a branch", map[string]string{"pages/home.html": `{{define "content"}}{{if false}}{{asset "nope.css"}}{{end}}{{end}}`}, `asset "nope.css"`},
		{"missing asset by value", map[string]string{"pages/home.html": `{{define "content"}}{{asset (printf "%s.css" "gone")}}{{end}}`}, `no asset "gone.css"`},
		{"css refers to a missing file", map[string]string{"assets/css/a.css": "a {}\nb { background: url('../img/none.png') }"}, "assets/css/a.css:2: url(../img/none.png): no such file"},
		{"css loads from elsewhere", map[string]string{"assets/css/a.css": "b { background: url(https://evil.example/x.png) }"}, "loads only its own assets"},
		{"css import", map[string]string{"assets/css/a.css": `@import "other.css";`}, "@import"},
		{"css expression", map[string]string{"assets/css/a.css": `b { width: expression(alert(1)) }`}, "not allowed"},
		{"script file", map[string]string{"assets/app.js": "alert(1)"}, "assets/app.js: a theme carries no scripts"},
		{"script at the root", map[string]string{"app.mjs": "alert(1)"}, "no scripts"},
		{"html asset", map[string]string{"assets/page.html": "<p>"}, "assets may be only"},
		{"unknown page", map[string]string{"pages/admin.html": `{{define "content"}}{{end}}`}, "not a page the site renders"},
		{"stray file", map[string]string{"notes.txt": "hi"}, "a theme holds only"},
		{"hidden file", map[string]string{"assets/.env": "x"}, "starting with a dot"},
		{"script tag", map[string]string{"pages/home.html": `{{define "content"}}<SCRIPT>alert(1)</SCRIPT>{{end}}`}, "runs no script"},
		{"event handler", map[string]string{"pages/home.html": `{{define "content"}}<p onclick="x()">{{end}}`}, "runs no script"},
		{"javascript url", map[string]string{"pages/home.html": `{{define "content"}}<a href="javascript:x()">{{end}}`}, "runs no script"},
		{"iframe", map[string]string{"partials/nav.html": `{{define "nav"}}<iframe src="/"></iframe>{{end}}`}, "partials/nav.html:1"},
		{"base", map[string]string{"layout.html": strings.Replace(layout, "<head>", "<head><base href=\"https://evil.example/\">", 1)}, "runs no script"},
		{"no site name", map[string]string{"layout.html": strings.Replace(layout, "{{.Site.Name}}", "", 1)}, "the site's name"},
		{"no logo", map[string]string{"layout.html": strings.Replace(layout, `{{with .Site.Logo}}<img src="{{.}}" alt="">{{end}}`, "", 1)}, "the site's logo"},
		{"no accent", map[string]string{"layout.html": strings.Replace(layout, `{{with .Site.Accent}}<style>:root{--accent: {{.}}}</style>{{end}}`, "", 1)}, "accent colour"},
		{"no lang", map[string]string{"layout.html": strings.Replace(layout, `lang="{{.Lang}}"`, `lang="en"`, 1)}, "language"},
		{"no content", map[string]string{"layout.html": strings.Replace(layout, `{{template "content" .}}`, "", 1)}, "module's content"},
		{"no main", map[string]string{"layout.html": strings.ReplaceAll(layout, "main>", "div>")}, "<main>"},
		{"huge output", map[string]string{"pages/home.html": `{{define "content"}}{{template "big" .}}{{end}}{{define "big"}}` + strings.Repeat("<p>0123456789abcdef</p>", 1<<12) + strings.Repeat(`{{template "b2" .}}`, 30) + `{{end}}{{define "b2"}}` + strings.Repeat("x", 100000) + `{{end}}`}, "renders more than"},
		{"bad catalogue", map[string]string{"locales/fr.json": `{"a": 1}`}, "locales"},
		{"bad catalogue language", map[string]string{"locales/french.json": `{}`}, "not a language tag"},
		{"too large template", map[string]string{"partials/big.html": strings.Repeat("x", MaxTemplateSize+1)}, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(with(minimal(), tc.changes))
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q lacks %q", err, tc.want)
			}
			if Validate(with(minimal(), tc.changes)) == nil {
				t.Fatal("Validate accepts what Load refuses")
			}
		})
	}
}

// escapeFS is a file system that lists one more entry in its root,
// whatever name it has: fs.ValidPath would refuse it, but a file system
// may still list it.
type escapeFS struct {
	fstest.MapFS
	extra string
}

func (e escapeFS) ReadDir(name string) ([]fs.DirEntry, error) {
	list, err := e.MapFS.ReadDir(name)
	if name == "." {
		list = append(list, fs.FileInfoToDirEntry(fakeFile(e.extra)))
	}
	return list, err
}

func (e escapeFS) Open(name string) (fs.File, error) {
	if name == e.extra {
		return e.MapFS.Open("theme.json") // what an escape would read
	}
	return e.MapFS.Open(name)
}

type fakeFile string

func (f fakeFile) Name() string       { return string(f) }
func (f fakeFile) Size() int64        { return 1 }
func (f fakeFile) Mode() fs.FileMode  { return 0o444 }
func (f fakeFile) ModTime() time.Time { return time.Time{} }
func (f fakeFile) IsDir() bool        { return false }
func (f fakeFile) Sys() any           { return nil }

// TestPathEscape: a file system that names files outside the theme, or
// by unclean paths, is refused.
func TestPathEscape(t *testing.T) {
	for _, p := range []string{"../evil.css", "/etc/passwd", `assets\x.css`, "a b.css", ".hidden"} {
		if _, err := Load(escapeFS{minimal(), p}); err == nil {
			t.Errorf("%q: loaded", p)
		}
	}
	for _, p := range []string{"assets/a b.css", "assets/.hidden/x.css", "assets/x~y.css"} {
		m := minimal()
		m[p] = &fstest.MapFile{Data: []byte("x")}
		if _, err := Load(m); err == nil {
			t.Errorf("%q: loaded", p)
		}
	}
}

// TestRender: a page shows the data, the theme's translations and asset
// URLs; the assets are served under their key only.
func TestRender(t *testing.T) {
	th, err := Load(minimal())
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.Parse(map[string][]byte{"fr.json": []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	d := NewPage(cat.Printer("fr").With(th.Catalog()))
	d.Site = Site{Name: "Chez <Nous>", Accent: "#112233", Logo: "/logo.png"}
	d.Nav = []Link{{Label: "Chat", Path: "/chat"}}
	var buf bytes.Buffer
	if err := th.Render(&buf, PageHome, d); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{`lang="fr"`, "<h1>Petit</h1>", "Chez &lt;Nous&gt;", "--accent: #112233", `<a href="/chat">Chat</a>`,
		`href="` + AssetRoot + "tiny/" + th.Key() + `/css/a.css"`} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	// An unoverridden page is the built-in theme's content in this layout.
	buf.Reset()
	d.Error = "Nope"
	if err := th.Render(&buf, PageLogin, d); err != nil || !strings.Contains(buf.String(), `class="theme-tiny"`) || !strings.Contains(buf.String(), `action="/login"`) {
		t.Errorf("login page: %v\n%s", err, buf.String())
	}
	for _, tc := range []struct {
		key, path string
		status    int
	}{{th.Key(), "css/a.css", 200}, {"1.0.0~0000000000000000", "css/a.css", 404}, {th.Key(), "css/none.css", 404}} {
		rec := httptest.NewRecorder()
		th.ServeAsset(rec, httptest.NewRequest("GET", "/", nil), tc.key, tc.path)
		if rec.Code != tc.status {
			t.Errorf("%s %s: %d, want %d", tc.key, tc.path, rec.Code, tc.status)
		}
		if tc.status == 200 && (rec.Header().Get("Content-Type") != "text/css; charset=utf-8" || !strings.Contains(rec.Header().Get("Cache-Control"), "immutable")) {
			t.Errorf("headers %v", rec.Header())
		}
	}
	// Another build of the theme has another key.
	other, err := Load(with(minimal(), map[string]string{"assets/css/a.css": "body { color: red }"}))
	if err != nil || other.Key() == th.Key() {
		t.Errorf("keys %q %q, %v", th.Key(), other.Key(), err)
	}
}

// TestCombine: the first source with a name wins, and lists merge.
func TestCombine(t *testing.T) {
	mine := mapSource{"harbor": with(minimal(), map[string]string{"theme.json": `{"name":"harbor","version":"9.0.0","theme_version":1}`})}
	c := Combine(mine, Bundled())
	list, err := c.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var harbor []Info
	for _, i := range list {
		if i.Name == "harbor" {
			harbor = append(harbor, i)
		}
	}
	if len(harbor) != 1 || harbor[0].Version != "9.0.0" {
		t.Fatalf("harbor listed as %v", harbor)
	}
	fsys, err := c.Files(t.Context(), "harbor")
	if err != nil {
		t.Fatal(err)
	}
	if th, err := Load(fsys); err != nil || th.Manifest.Version != "9.0.0" {
		t.Fatalf("harbor from the first source: %v %v", th, err)
	}
	if _, err := c.Files(t.Context(), "nope"); err == nil {
		t.Fatal("found nope")
	}
}

type mapSource map[string]fs.FS

func (m mapSource) List(context.Context) ([]Info, error) {
	var out []Info
	for n, f := range m {
		th, err := Load(f)
		if err != nil {
			return nil, err
		}
		out = append(out, Info{Name: n, Version: th.Manifest.Version, Origin: OriginRegistry})
	}
	return out, nil
}

func (m mapSource) Files(_ context.Context, name string) (fs.FS, error) {
	if f, ok := m[name]; ok {
		return f, nil
	}
	return nil, ErrNotFound
}

// FuzzLoad feeds Load arbitrary templates, stylesheets and theme.json:
// it refuses or accepts, never panics, and what it accepts renders.
func FuzzLoad(f *testing.F) {
	m := minimal()
	f.Add(string(m["pages/home.html"].Data), string(m["assets/css/a.css"].Data), string(m["theme.json"].Data))
	f.Add(`{{define "content"}}{{asset "css/a.css"}}<script>{{end}}`, `a{background:url(x.png)}`, `{}`)
	f.Add(`{{define "content"}}{{template "content" .}}{{end}}`, `@import url(a.css)`, `{"name":"tiny","version":"1.0.0","theme_version":1,"color_schemes":["dark"]}`)
	f.Fuzz(func(t *testing.T, page, css, manifest string) {
		th, err := Load(with(minimal(), map[string]string{"pages/home.html": page, "assets/css/a.css": css, "theme.json": manifest}))
		if err != nil {
			return
		}
		var buf bytes.Buffer
		if err := th.Render(&buf, PageHome, NewPage(nil)); err != nil && !strings.Contains(err.Error(), "template") {
			t.Fatalf("an accepted theme fails oddly: %v", err)
		}
	})
}

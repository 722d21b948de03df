package theme

import (
	"strings"
	"testing"
)

// TestLoadRefusesSplitMarkup: markup a theme may not write is refused
// also when a template comment, an action or a branch splits it (html/template
// glues the pieces back together in the page), or when a template begins
// or ends in the middle of it; and what a theme may not do without script
// (redirect the page, prefetch from elsewhere) is refused too.
func TestLoadRefusesSplitMarkup(t *testing.T) {
	page := func(s string) map[string]string {
		return map[string]string{"pages/home.html": `{{define "content"}}` + s + `{{end}}`}
	}
	for _, tc := range []struct {
		name    string
		changes map[string]string
	}{
		{"script split by a comment", page(`<scr{{/* x */}}ipt>alert(1)</script>`)},
		{"script split by a constant", page(`<scr{{"ip"}}t>alert(1)</script>`)},
		{"script split by a branch", page(`<scr{{if .User}}{{end}}ipt>alert(1)</script>`)},
		{"script tag name from a template", map[string]string{
			"pages/home.html":    `{{define "content"}}<scr{{template "tail" .}}{{end}}`,
			"partials/tail.html": `{{define "tail"}}ipt>alert(1)</script>{{end}}`,
		}},
		{"script opened by a partial", map[string]string{
			"pages/home.html":    `{{define "content"}}{{template "head" .}}ipt>alert(1)</script>{{end}}`,
			"partials/head.html": `{{define "head"}}<scr{{end}}`,
		}},
		{"meta refresh split by a comment", page(`<me{{/**/}}ta http-equiv="refresh" content="0;url=https://evil.example/">`)},
		{"meta refresh attribute split", page(`<meta http-{{/**/}}equiv="refresh" content="0;url=https://evil.example/">`)},
		{"event handler split by a comment", page(`<a o{{/**/}}nclick="alert(1)">x</a>`)},
		{"event handler split by a branch", page(`<a o{{if .User}}{{end}}nclick="alert(1)">x</a>`)},
		{"event handler name from a constant", page(`<a {{"o"}}nclick="alert(1)">x</a>`)},
		{"event handler from a partial", map[string]string{
			"pages/home.html":     `{{define "content"}}<a {{template "attrs" .}}>x</a>{{end}}`,
			"partials/attrs.html": `{{define "attrs"}}o{{/**/}}nclick="alert(1)"{{end}}`,
		}},
		{"javascript url split by a comment", page(`<a href="java{{/**/}}script:alert(1)">x</a>`)},
		{"javascript url scheme from a constant", page(`<a href="java{{"script"}}:alert(1)">x</a>`)},
		{"iframe split", page(`<ifr{{/**/}}ame srcdoc="&lt;p&gt;"></iframe>`)},
		{"srcdoc", page(`<img srcdoc="x" alt="">`)},
		{"object split", page(`<obj{{/**/}}ect data="/x"></object>`)},
		{"dns prefetch elsewhere", page(`<link rel="dns-prefetch" href="//{{.Site.Name}}.evil.example">`)},
		{"preconnect", page(`<link rel="preconnect" href="https://evil.example">`)},
		{"prefetch", page(`<link rel="prefetch" href="https://evil.example/x">`)},
		{"link rel from data", page(`<link rel="{{.Name}}" href="https://evil.example/x">`)},
		{"javascript url with an entity", page(`<a href="jav&#97;script:alert(1)">x</a>`)},
		{"tag name from a branch", page(`<{{if .User}}script{{end}}>alert(1)</script>`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(with(minimal(), tc.changes))
			if err == nil {
				t.Fatal("loaded")
			}
			if !strings.Contains(err.Error(), "runs no script") {
				t.Fatalf("error %q does not say the theme runs no script", err)
			}
		})
	}
}

// TestLoadAcceptsBranchesInTags: actions and branches in attribute values
// and between attributes stay allowed.
func TestLoadAcceptsBranchesInTags(t *testing.T) {
	page := `{{define "content"}}<a href="/"{{if eq .Name "home"}} aria-current="page"{{end}} class="{{.Name}} x">{{.T "Home"}}</a>` +
		`<input name="u" value="{{.Form.Username}}"{{if .Error}} aria-invalid="true"{{end}}><a href="/login?next={{.Next}}">in</a>` +
		`<a href="mailto:{{.Site.Name}}">m</a>{{template "two" .}}{{end}}`
	two := `{{define "two"}}{{template "nav" .}}{{template "nav" .}}{{.Site.Name}}rocks <b>{{.Name}}</b>{{end}}`
	if _, err := Load(with(minimal(), map[string]string{"pages/home.html": page, "partials/two.html": two})); err != nil {
		t.Fatal(err)
	}
}

// FuzzCheckMarkup: the markup check reads any text without panicking,
// and a text with a script element is never accepted.
func FuzzCheckMarkup(f *testing.F) {
	for _, s := range []string{"<p>x</p>", "<a href=\"" + markValue + "\">", "<scr" + markFlow + "ipt>", "<x " + markValue, "<link rel=prefetch>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, tmpl := range []bool{true, false} {
			_ = checkMarkup(s, tmpl)
			if checkMarkup(s+"<script>", tmpl) == nil {
				t.Fatalf("%q accepted", s+"<script>")
			}
		}
	})
}

package theme

import (
	"bytes"
	"strings"
	"testing"
)

// victim is data the samples never have: a theme that misbehaves only
// for it passes the sample renderings.
const victim = `{{if eq .Site.Name "victim"}}`

// TestLoadRefusesUnboundedWork: a template that calls itself (directly or
// through others), ranges over a number, or calls templates so many times
// that one page is unbounded work is refused at Load, whatever the data:
// text/template cannot be stopped once it runs.
func TestLoadRefusesUnboundedWork(t *testing.T) {
	fan := func(name, callee string, n int) string {
		return `{{define "` + name + `"}}` + strings.Repeat(`{{template "`+callee+`" .}}`, n) + `{{end}}`
	}
	for _, tc := range []struct {
		name, partials, want string
	}{
		{"self recursion", `{{define "a"}}` + victim + `{{template "a" .}}{{template "a" .}}{{end}}{{end}}`, "calls itself"},
		{"mutual recursion", `{{define "a"}}` + victim + `{{template "b" .}}{{end}}{{end}}{{define "b"}}{{template "a" .}}{{end}}`, "calls itself"},
		{"range over a number", `{{define "a"}}` + victim + `{{range 1000000000000}}{{end}}{{end}}{{end}}`, "not over a number"},
		{"call fan-out", `{{define "a"}}` + victim + `{{template "b" .}}{{end}}{{end}}` + fan("b", "c", 40) + fan("c", "d", 40) + fan("d", "e", 40) + `{{define "e"}}{{end}}`, "calls templates"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(with(minimal(), map[string]string{
				"partials/bad.html": tc.partials,
				"pages/home.html":   `{{define "content"}}{{template "a" .}}{{end}}`,
			}))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRenderCapsOutput: a page that would write more than MaxOutput for
// data the samples do not have fails at MaxOutput instead of filling the
// server's memory.
func TestRenderCapsOutput(t *testing.T) {
	th, err := Load(with(minimal(), map[string]string{
		"pages/home.html": `{{define "content"}}` + victim + strings.Repeat(`{{template "big" .}}`, 30) + `{{end}}{{end}}` +
			`{{define "big"}}` + strings.Repeat("x", 200000) + `{{end}}`,
	}))
	if err != nil {
		t.Fatal(err)
	}
	d := NewPage(nil)
	d.Site.Name = "victim"
	var buf bytes.Buffer
	if err := th.Render(&buf, PageHome, d); err == nil {
		t.Fatalf("rendered %d bytes", buf.Len())
	}
	if buf.Len() > MaxOutput {
		t.Fatalf("wrote %d bytes, more than %d", buf.Len(), MaxOutput)
	}
}

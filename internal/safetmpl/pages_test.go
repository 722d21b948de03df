package safetmpl

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/i18n"
)

func pages(t *testing.T, files map[string]string) *Pages {
	t.Helper()
	in := map[string][]byte{}
	for k, v := range files {
		in[PagesDir+"/"+k] = []byte(v)
	}
	p, err := ParsePages(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func render(p *Pages, name, data string) (string, error) {
	var b bytes.Buffer
	err := p.Render(&b, name, []byte(data), Env{Asset: func(a string) (string, error) {
		if a == "app.css" {
			return "/static/modules/m/1~d/app.css", nil
		}
		return "", errors.New("no such asset")
	}})
	return b.String(), err
}

// TestRenderEscapes: host-rendered templates escape module data exactly as
// html/template in the guest did (the XSS table).
func TestRenderEscapes(t *testing.T) {
	p := pages(t, map[string]string{
		"page.html": `<p title="{{.V}}">{{.V}}</p><a href="{{.V}}">x</a><script>var v = {{.V}};</script><style>p{color:{{.V}}}</style>`,
	})
	for _, c := range []struct{ v, want string }{
		{`<script>alert(1)</script>`, `<p title="&lt;script&gt;alert(1)&lt;/script&gt;">&lt;script&gt;alert(1)&lt;/script&gt;</p>`},
		{`javascript:alert(1)`, `<a href="#ZgotmplZ">`},
		{`" onmouseover="x`, `title="&#34; onmouseover=&#34;x"`},
		{`</script><script>x`, `var v = "\u003c/script\u003e\u003cscript\u003ex";`},
		{`red;background:url(javascript:x)`, `color:ZgotmplZ`},
	} {
		out, err := render(p, "page.html", `{"V":`+quote(c.v)+`}`)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, c.want) {
			t.Errorf("%q: got %s, want it to contain %s", c.v, out, c.want)
		}
	}
}

func quote(s string) string {
	var b bytes.Buffer
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

func TestRender(t *testing.T) {
	p := pages(t, map[string]string{
		"list.html":       `{{range .Items}}{{template "parts/item.html" .}}{{end}}{{if eq .Count 2}} two{{end}}{{if gt .Price 1.5}} dear{{end}}`,
		"parts/item.html": `<li>{{.Name}}</li>`,
		"nested.html":     `{{range .A}}{{range $.A}}.{{end}}{{end}}`,
		"int.html":        `{{range .N}}.{{end}}`,
		"asset.html":      `<link rel="stylesheet" href="{{asset "app.css"}}">{{asset "nope.css"}}`,
		"big.html":        `{{range .A}}{{printf "%60000d" 1}}{{end}}`,
		"wide.html":       `{{printf "%100000d" 1}}`,
		"t.html":          `{{t "Hello {name}" "name" .Who}} {{lang}}`,
	})
	big := `{"A":[` + strings.Repeat(`1,`, 400) + `1]}`
	tests := []struct {
		name, tmpl, data, want string
		err                    error
	}{
		{"list and partial", "list.html", `{"Items":[{"Name":"a"},{"Name":"<b>"}],"Count":2,"Price":2.5}`, `<li>a</li><li>&lt;b&gt;</li> two dear`, nil},
		{"nested range within budget", "nested.html", `{"A":[1,2,3]}`, `.........`, nil},
		{"nested range past the budget", "nested.html", big, ``, ErrBudget},
		{"range over a number from the data", "int.html", `{"N":3}`, `...`, nil},
		{"range over a huge number", "int.html", `{"N":100000000000}`, ``, ErrBudget},
		{"asset that exists, then one that does not", "asset.html", `{}`, ``, ErrRender},
		{"output past the cap", "big.html", big, ``, ErrTooLarge},
		{"printf past its cap", "wide.html", `{}`, ``, ErrRender},
		{"no such template", "nope.html", `{}`, ``, ErrRender},
		{"data not an object", "list.html", `[1,2]`, ``, ErrRender},
		{"two values", "list.html", `{} {}`, ``, ErrRender},
		{"t without a printer", "t.html", `{"Who":"Ada"}`, `Hello {name} en`, nil},
	}
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) {
			out, err := render(p, c.tmpl, c.data)
			if c.err != nil {
				if !errors.Is(err, c.err) {
					t.Fatalf("err %v, want %v", err, c.err)
				}
				if out != "" {
					t.Fatalf("wrote %q on an error", out)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out != c.want {
				t.Fatalf("got %q, want %q", out, c.want)
			}
		})
	}
}

func TestRenderTranslates(t *testing.T) {
	cat, err := i18n.Parse(map[string][]byte{"fr.json": []byte(`{"Hello {name}": "Bonjour {name}"}`), "en.json": []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	p := pages(t, map[string]string{"t.html": `{{t "Hello {name}" "name" .Who}} {{lang}}`})
	var b bytes.Buffer
	if err := p.Render(&b, "t.html", []byte(`{"Who":"<Ada>"}`), Env{Printer: cat.Printer("fr")}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "Bonjour &lt;Ada&gt; fr"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestParsePagesRefuses: what cannot run bounded, or escape, is refused
// when the module loads, not on a visitor's request.
func TestParsePagesRefuses(t *testing.T) {
	for name, files := range map[string]map[string]string{
		"syntax":        {"a.html": `{{.A`},
		"recursion":     {"a.html": `{{template "b.html" .}}`, "b.html": `{{template "a.html" .}}`},
		"self call":     {"a.html": `{{define "x"}}{{template "x"}}{{end}}{{template "x"}}`},
		"missing call":  {"a.html": `{{template "nope.html" .}}`},
		"own budget fn": {"a.html": `{{websonic_range_budget .A}}`},
		"ambiguous":     {"a.html": `<a href="{{if .A}}/x{{else}}/y"{{end}}>`},
		"too large":     {"a.html": strings.Repeat("x", MaxTemplateSize+1)},
	} {
		t.Run(name, func(t *testing.T) {
			in := map[string][]byte{}
			for k, v := range files {
				in[PagesDir+"/"+k] = []byte(v)
			}
			if _, err := ParsePages(in); !errors.Is(err, ErrPages) {
				t.Fatalf("err %v, want ErrPages", err)
			}
		})
	}
	if p, err := ParsePages(map[string][]byte{"app.css": nil}); p != nil || err != nil {
		t.Fatalf("no templates: %v, %v", p, err)
	}
}

// TestRenderConcurrent: clones are never shared between two renderings
// (run with -race).
func TestRenderConcurrent(t *testing.T) {
	p := pages(t, map[string]string{"a.html": `{{range .A}}{{.}}{{end}}`})
	done := make(chan error)
	for i := range 8 {
		go func() {
			for range 200 {
				out, err := render(p, "a.html", `{"A":[`+strings.Repeat("1,", i)+`1]}`)
				if err == nil && out != strings.Repeat("1", i+1) {
					err = errors.New("wrong output " + out)
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5,{"b":null}],"c":"x"}`))
	f.Add([]byte(`[1]`))
	f.Add([]byte(`{"n":1e400}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}

// TestRenderCompares: numbers compare by value whatever JSON made of them
// (8.0 arrives as the integer 8), as the template's author means.
func TestRenderCompares(t *testing.T) {
	p := pages(t, map[string]string{
		"c.html": `{{if gt .Price 2.5}}dear{{end}} {{if eq .Count 1}}one{{end}} {{if eq .Price 8}}eight{{end}} ` +
			`{{if lt .Name "b"}}a-name{{end}} {{if eq .Name "x" "ada"}}ada{{end}} {{if ne .Flag false}}flag{{end}} ` +
			`{{if eq .Missing nil}}none{{end}} {{if le .Count 1.0}}le{{end}} {{if ge .Big 1}}big{{end}}`,
		"bad.html":  `{{if lt .Name 3}}x{{end}}`,
		"bool.html": `{{if lt .Flag true}}x{{end}}`,
	})
	out, err := render(p, "c.html", `{"Price":8.0,"Count":1,"Name":"ada","Flag":true,"Big":18446744073709551615}`)
	if err != nil {
		t.Fatal(err)
	}
	if want := "dear one eight a-name ada flag none le big"; out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
	for _, name := range []string{"bad.html", "bool.html"} {
		if _, err := render(p, name, `{"Name":"ada","Flag":true}`); !errors.Is(err, ErrRender) {
			t.Errorf("%s: err %v, want a render error", name, err)
		}
	}
}

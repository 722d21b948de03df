package safetmpl

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// allocated is what f allocates on the Go heap, in bytes.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestFormattingAmplification: a hostile module's template cannot make
// the host allocate far more than the data and the output caps allow
// through the builtins that format their arguments. Each case below
// produces a string of hundreds of MiB from a few KiB of template and a
// small datum (printf's width, one datum referenced many times by print,
// println, js, html or urlquery); scaled up (a 256 KiB template, 2 MiB
// of data) they ask for tens of GiB and kill the runtime. The rendering
// must fail with nothing like that allocated.
func TestFormattingAmplification(t *testing.T) {
	const refs = 300
	datum := strings.Repeat("x", 1<<20) // 1 MiB, well under MaxData
	data := `{"S":"` + datum + `","N":1}`
	many := func(f string) string { return strings.TrimSpace(strings.Repeat(f+" ", refs)) }
	for _, c := range []struct{ name, tmpl string }{
		{"printf width", `{{printf "` + strings.Repeat("%0999999d", refs) + `" ` + many(".N") + `}}`},
		{"printf args", `{{printf "` + strings.Repeat("%[1]s", refs) + `" .S}}`},
		{"print", `{{print ` + many(".S") + `}}`},
		{"println", `{{println ` + many(".S") + `}}`},
		{"js", `{{js ` + many(".S") + `}}`},
		{"html", `{{if html ` + many(".S") + `}}{{end}}`},
		{"urlquery", `{{if urlquery ` + many(".S") + `}}{{end}}`},
		{"js unwritten", `{{if js ` + many(".S") + `}}{{end}}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := pages(t, map[string]string{"p.html": c.tmpl})
			var err error
			n := allocated(func() { _, err = render(p, "p.html", data) })
			if err == nil {
				t.Error("the rendering succeeded")
			}
			if n > 64<<20 {
				t.Errorf("the rendering allocated %d MiB (err %v)", n>>20, err)
			}
		})
	}
}

// TestFormattingStillWorks: the bounded builtins give what
// html/template's give for ordinary use.
func TestFormattingStillWorks(t *testing.T) {
	p := pages(t, map[string]string{"p.html": `{{printf "%s=%05d|%-4s|%.2f|%v|%q" .K .N .K .F .L .K}};{{print .K 1 2 .K}};{{println .K .N}};{{js .K "'"}};{{urlquery .K "a b"}};{{html "<" .K}};{{printf "%d %s"}}`})
	out, err := render(p, "p.html", `{"K":"ab","N":42,"F":3.14159,"L":[1,2]}`)
	if err != nil {
		t.Fatal(err)
	}
	want := `ab=00042|ab  |3.14|[1 2]|&#34;ab&#34;;ab1 2ab;ab 42
;ab\&#39;;aba&#43;b;&lt;ab;%!d(MISSING) %!s(MISSING)`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	if _, err := render(p, "p.html", `{"K":"`+strings.Repeat("k", MaxPrint)+`","N":1,"F":1,"L":[]}`); !errors.Is(err, ErrRender) {
		t.Errorf("a printf result over MaxPrint: %v", err)
	}
}

// TestWorkAmplification: the work of one rendering is bounded by the
// template's size times the data's only as far as MaxSteps allows. A range
// charged one unit per iteration let a hostile template run a body of
// thousands of silent actions (or of calls to templates full of them) for
// each of its 100,000 allowed iterations, and template calls outside any
// range multiply the same way: billions of steps on the host's CPU from one
// request, which nothing can stop once text/template runs. Each case is
// scaled to take seconds unbounded; bounded, the rendering fails at once
// with ErrBudget (or the templates are refused when they load).
func TestWorkAmplification(t *testing.T) {
	items := "[" + strings.Repeat("0,", 19_999) + "0]"
	silent := strings.Repeat("{{$x := 0}}", 2000)
	calls := strings.Repeat(`{{template "e.html"}}`, 9000)
	for _, c := range []struct {
		name  string
		files map[string]string
		data  string
	}{
		{"big range body", map[string]string{"p.html": `{{range .L}}` + silent + `{{end}}`}, `{"L":` + items + `}`},
		{"range body calling", map[string]string{"p.html": `{{range .L}}{{template "w.html"}}{{end}}`, "w.html": calls, "e.html": ``}, `{"L":[` + strings.Repeat("0,", 1999) + `0]}`},
		{"range in a called template", map[string]string{"p.html": `{{template "r.html" .}}`, "r.html": `{{range .L}}` + silent + `{{end}}`}, `{"L":` + items + `}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := pages(t, c.files)
			if _, err := render(p, "p.html", c.data); !errors.Is(err, ErrBudget) {
				t.Errorf("got %v, want ErrBudget", err)
			}
		})
	}
	t.Run("calls outside ranges", func(t *testing.T) {
		in := map[string][]byte{
			PagesDir + "/p.html": []byte(strings.Repeat(`{{template "s.html"}}`, 9999)),
			PagesDir + "/s.html": []byte(silent),
		}
		if _, err := ParsePages(in); !errors.Is(err, ErrPages) {
			t.Errorf("ParsePages: got %v, want ErrPages", err)
		}
	})
	t.Run("ordinary pages still render", func(t *testing.T) {
		p := pages(t, map[string]string{
			"p.html":    `<ul>{{range .L}}<li>{{template "card.html" .}}</li>{{end}}</ul>`,
			"card.html": `{{if .}}<b>{{.}}</b>{{else}}<i>none</i>{{end}}`,
		})
		if _, err := render(p, "p.html", `{"L":`+items+`}`); err != nil {
			t.Fatal(err)
		}
	})
}

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

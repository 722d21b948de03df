package safetmpl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/websonic/websonic/internal/i18n"
)

// Limits of a module's page templates.
const (
	// PagesDir is the folder of a module's package assets holding its page
	// templates: assets/templates/NAME.html is the template NAME.html.
	PagesDir = "templates"
	// MaxTemplateSize caps one template file.
	MaxTemplateSize = 256 << 10
	// MaxData caps the data a module hands over for one page.
	MaxData = 2 << 20
	// MaxOutput caps one rendered page.
	MaxOutput = 4 << 20
	// MaxIterations is the Budget of one rendering: the range iterations
	// of every {{range}} it runs, nested ones included.
	MaxIterations = 100_000
)

// ErrPages wraps every refusal of a module's templates at load.
var ErrPages = errors.New("safetmpl: bad page templates")

// ErrRender wraps every failure of one rendering: a name with no template,
// data that is not a JSON object, a template that fails on its data or
// passes a bound.
var ErrRender = errors.New("safetmpl: page rendering failed")

// Env is what a rendering's helpers read of its request.
type Env struct {
	// Printer translates t's keys (the module's catalogue, then the
	// site's) into the visitor's language; nil leaves keys as they are.
	Printer *i18n.Printer
	// Asset maps a path of the module's assets to its URL, or fails for
	// one that does not exist; nil fails every asset call.
	Asset func(p string) (string, error)
}

// Pages is a module version's page templates: html/template files the
// host executes with data the module hands over, so the page's rendering
// runs as native code rather than inside the sandbox. Every template file
// is parsed with every other, so one may call another ({{template
// "parts/card.html" .}}) or define blocks; each runs bounded (CheckCalls,
// Bound, Writer, MaxIterations).
//
// Helpers a template may call, beside html/template's builtins:
//
//	t KEY ARGS…  translate KEY (with {name} arguments as pairs) in the visitor's language
//	lang         the visitor's language tag
//	asset PATH   the URL of one of the module's assets (fails if there is none)
//
// It is safe for concurrent use.
type Pages struct {
	master *template.Template // parsed and bounded, never executed: cloned
	names  []string
	pool   sync.Pool // of *clone
}

// clone is one executable copy of the master with its own execution state,
// reused one rendering at a time.
type clone struct {
	t      *template.Template
	budget Budget
	env    Env
}

// ParsePages parses the templates among files, keyed by paths under
// PagesDir ("templates/item.html"); other files are ignored. It returns nil
// and no error when there are none. Every template must parse, must not
// recurse or make more than MaxCalls calls, and must escape cleanly
// (html/template's contextual checks run here, not on a visitor's request).
func ParsePages(files map[string][]byte) (*Pages, error) {
	p, err := parsePages(files)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPages, err)
	}
	return p, nil
}

func parsePages(files map[string][]byte) (*Pages, error) {
	var names []string
	for f := range files {
		if rest, ok := strings.CutPrefix(f, PagesDir+"/"); ok && path.Ext(rest) == ".html" {
			names = append(names, rest)
		}
	}
	if len(names) == 0 {
		return nil, nil
	}
	slices.Sort(names)
	p := &Pages{names: names}
	p.master = template.New("").Funcs(p.funcs(&clone{})) // placeholders: each clone binds its own
	for _, n := range names {
		src := files[PagesDir+"/"+n]
		if len(src) > MaxTemplateSize {
			return nil, fmt.Errorf("%s/%s: larger than %d bytes", PagesDir, n, MaxTemplateSize)
		}
		if _, err := p.master.New(n).Parse(string(src)); err != nil {
			return nil, err
		}
	}
	if err := Bound(p.master); err != nil {
		return nil, err
	}
	for _, n := range names {
		if err := CheckCalls(p.master, n); err != nil {
			return nil, err
		}
	}
	// Escape every template now, on a clone (html/template escapes on
	// first execution and then forbids cloning): a template whose
	// contexts are ambiguous fails here. Errors from the empty data
	// itself are expected and ignored.
	c, err := p.newClone()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		c.budget = Budget{Left: MaxIterations, Steps: MaxSteps}
		err := c.t.ExecuteTemplate(io.Discard, n, map[string]any{})
		var te *template.Error
		if errors.As(err, &te) {
			return nil, err
		}
	}
	p.pool.Put(c)
	return p, nil
}

func (p *Pages) newClone() (*clone, error) {
	t, err := p.master.Clone()
	if err != nil {
		return nil, err
	}
	c := &clone{t: t}
	t.Funcs(p.funcs(c))
	return c, nil
}

// funcs are the helpers of c's executions.
func (p *Pages) funcs(c *clone) template.FuncMap {
	f := Funcs(func() *Budget { return &c.budget })
	for name, fn := range comparisons() {
		f[name] = fn
	}
	f["t"] = func(key string, args ...any) string {
		if c.env.Printer == nil {
			return key
		}
		return c.env.Printer.T(key, args...)
	}
	f["lang"] = func() string {
		if c.env.Printer == nil {
			return "en"
		}
		return c.env.Printer.Lang()
	}
	f["asset"] = func(a string) (string, error) {
		if c.env.Asset == nil {
			return "", fmt.Errorf("no asset %q", a)
		}
		return c.env.Asset(a)
	}
	return f
}

// Render executes template name with data, a JSON object as the module
// encoded it, into w. Objects become maps (a template reads .Field as it
// would a struct's field), arrays slices, integral numbers int64, other
// numbers float64. On an error nothing has been written to w.
func (p *Pages) Render(w io.Writer, name string, data []byte, env Env) error {
	if err := p.render(w, name, data, env); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrRender, name, err)
	}
	return nil
}

func (p *Pages) render(w io.Writer, name string, data []byte, env Env) error {
	if _, ok := slices.BinarySearch(p.names, name); !ok {
		return fmt.Errorf("no template %s/%s in the module", PagesDir, name)
	}
	v, err := Decode(data)
	if err != nil {
		return err
	}
	c, _ := p.pool.Get().(*clone)
	if c == nil {
		if c, err = p.newClone(); err != nil {
			return err
		}
	}
	c.budget, c.env = Budget{Left: MaxIterations, Steps: MaxSteps}, env
	var buf bytes.Buffer
	err = c.t.ExecuteTemplate(&Writer{W: &buf, Max: MaxOutput}, name, v)
	c.env = Env{}
	p.pool.Put(c)
	if err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// Decode reads a module's page data: one JSON object, at most MaxData
// bytes, numbers as int64 when integral and float64 otherwise.
func Decode(data []byte) (map[string]any, error) {
	if len(data) > MaxData {
		return nil, fmt.Errorf("page data larger than %d bytes", MaxData)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("page data: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("page data: more than one JSON value")
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("page data must be a JSON object (a struct or a map)")
	}
	numbers(m)
	return m, nil
}

// numbers turns json.Numbers into int64 or float64, in place.
func numbers(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		for _, k := range slices.Collect(maps.Keys(v)) {
			v[k] = numbers(v[k])
		}
	case []any:
		for i := range v {
			v[i] = numbers(v[i])
		}
	}
	return v
}

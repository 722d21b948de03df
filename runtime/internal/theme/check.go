package theme

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strings"
	"sync"
	"text/template/parse"
	"time"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/locales"
)

// Markers of the sample data, which every page must show.
const (
	sampleName     = "Sample Site 7f3a"
	sampleLogo     = "/static/site/logo/sample-7f3a.png"
	sampleAccent   = "#0b5d7a"
	sampleFragment = `<p id="websonic-sample-fragment">module content</p>`
)

// sampleCatalog is the runtime's catalogue, which the samples render with.
var sampleCatalog = sync.OnceValues(locales.Catalog)

// variant is one rendering of the sample data.
type variant struct {
	label  string
	lang   string
	user   *User
	settle func(*Page)
}

// samples are the situations every page is rendered in before a theme is
// accepted: visitor and signed-in admin, with and without a logo and an
// accent, a form error, an error page offering sign-in, in English and in
// French.
func samples() []variant {
	admin := &User{Username: "alice", DisplayName: "Alice Martin", Email: "alice@example.com", Roles: []string{"admin", "staff", "member"}}
	member := &User{Username: "bob", DisplayName: "Bob", Roles: []string{"member"}}
	full := func(d *Page) {
		d.Site.Logo, d.Site.Accent = sampleLogo, sampleAccent
	}
	return []variant{
		{"visitor, English", "en", nil, full},
		{"visitor, French", "fr", nil, func(d *Page) { full(d); d.Error, d.SignIn = "Erreur de formulaire", true }},
		{"admin, English, no logo or accent", "en", admin, func(d *Page) { d.Error = "Form error" }},
		{"member, French", "fr", member, full},
	}
}

// sampleData fills d for page in variant v.
func sampleData(page string, v variant, p *i18n.Printer) *Page {
	d := NewPage(p)
	d.Site = Site{Name: sampleName}
	d.Title = p.T("Welcome")
	d.User = v.user
	d.Nav = []Link{{Label: "Chat", Path: "/chat"}, {Label: "Tickets", Path: "/tickets"}}
	d.Next = "/chat"
	d.Form = Form{Username: "typed", DisplayName: "Typed Name", Email: "typed@example.com"}
	d.Message = p.T("Something went wrong on our side. Please try again.")
	d.PasswordMin = 15
	switch page {
	case PageFrame:
		d.Content = template.HTML(sampleFragment)
	case PageAudit:
		d.Audit = &Audit{Action: "user.", Older: "/account/audit?before=2", Entries: []AuditEntry{
			{ID: 3, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Actor: "alice", Action: "user.login", Subject: "alice", Detail: `{"ip":"192.0.2.1"}`},
			{ID: 2, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Action: "module.start", Subject: "chat", Detail: `{}`},
		}}
	}
	if v.settle != nil {
		v.settle(d)
	}
	return d
}

// check renders every page in every sample situation, refusing an error,
// an output over MaxOutput, and a page that leaves out what every page
// must show.
func (t *Theme) check() error {
	cat, err := sampleCatalog()
	if err != nil {
		return err
	}
	for _, page := range Pages {
		for _, v := range samples() {
			if v.user == nil && (page == PageAccount || page == PageAudit) {
				continue // signed-in pages
			}
			p := cat.Printer(v.lang).With(t.catalog)
			d := sampleData(page, v, p)
			var buf bytes.Buffer
			if err := t.Render(&buf, page, d); err != nil {
				if errors.Is(err, errTooLarge) {
					return fmt.Errorf("page %s (%s): renders more than %d bytes", page, v.label, MaxOutput)
				}
				return fmt.Errorf("page %s (%s): %w", page, v.label, err)
			}
			if err := shows(buf.String(), page, d); err != nil {
				return fmt.Errorf("page %s (%s): %w", page, v.label, err)
			}
		}
	}
	return nil
}

// shows checks that out, page rendered with d, shows what every page must.
func shows(out, page string, d *Page) error {
	need := []struct{ text, what string }{
		{`lang="` + d.Lang() + `"`, `the page's language (<html lang="{{.Lang}}">)`},
		{template.HTMLEscapeString(d.Site.Name), "the site's name (.Site.Name)"},
		{"<main", "a <main> landmark"},
		{"<title>", "a <title>"},
	}
	if d.Site.Logo != "" {
		need = append(need, struct{ text, what string }{d.Site.Logo, "the site's logo (.Site.Logo)"})
	}
	if d.Site.Accent != "" {
		need = append(need, struct{ text, what string }{d.Site.Accent, "the site's accent colour (.Site.Accent)"})
	}
	if page == PageFrame {
		need = append(need, struct{ text, what string }{sampleFragment, "the module's content (.Content)"})
	}
	for _, n := range need {
		if !strings.Contains(out, n.text) {
			return fmt.Errorf("does not show %s", n.what)
		}
	}
	return nil
}

var errTooLarge = errors.New("theme: output too large")

// capped is a writer that fails past max bytes.
type capped struct {
	w   io.Writer
	n   int // written so far
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if c.n+len(p) > c.max {
		return 0, errTooLarge
	}
	n, err := c.w.Write(p)
	c.n += n
	return n, err
}

// maxCalls bounds the template calls one page makes, counted through
// every template it calls (a range's body counted once).
const maxCalls = 10000

// checkCalls refuses, in the templates of t, one that calls itself
// (directly or through others: text/template cannot be stopped once it
// runs) and a page, from root, whose calls add up to more than maxCalls.
func checkCalls(t *template.Template, root string) error {
	const visiting = -1
	count := map[string]int{}
	var visit func(name string) (int, error)
	visit = func(name string) (int, error) {
		switch c := count[name]; {
		case c == visiting:
			return 0, fmt.Errorf("template %q calls itself: a theme's templates do not recurse", name)
		case c > 0:
			return c, nil
		}
		tt := t.Lookup(name)
		if tt == nil || tt.Tree == nil {
			return 1, nil // html/template reports it when it runs
		}
		count[name] = visiting
		total := 1
		var err error
		walk(tt.Tree.Root, func(n parse.Node) {
			if tn, ok := n.(*parse.TemplateNode); ok && err == nil {
				var c int
				if c, err = visit(tn.Name); err == nil {
					if total += c; total > maxCalls {
						err = fmt.Errorf("template %q calls templates more than %d times for one page", name, maxCalls)
					}
				}
			}
		})
		if err != nil {
			count[name] = 0
			return 0, err
		}
		count[name] = total
		return total, nil
	}
	_, err := visit(root)
	return err
}

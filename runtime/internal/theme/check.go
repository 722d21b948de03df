package theme

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"strings"
	"sync"
	"time"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/internal/safetmpl"
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
				if errors.Is(err, safetmpl.ErrTooLarge) {
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

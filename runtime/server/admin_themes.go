package server

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/settings"
	"github.com/websonic/websonic/runtime/internal/theme"
)

// adminAppearance is the admin area's view of the site's look
// (admin.Appearance).
type adminAppearance struct{ a *appearance }

var _ admin.Appearance = adminAppearance{}

func (x adminAppearance) Settings() *settings.Settings { return x.a.settings.Current() }

func (x adminAppearance) Languages() []string { return x.a.languages }

func (x adminAppearance) Update(ctx context.Context, actor int64, c settings.Change) error {
	return x.a.settings.Update(ctx, actor, c)
}

func (x adminAppearance) Themes(ctx context.Context) ([]theme.Info, string, error) {
	list, err := x.a.src().List(ctx)
	return list, x.a.current().Theme.Name(), err
}

func (x adminAppearance) Activate(ctx context.Context, actor int64, name string) error {
	return x.a.activate(ctx, actor, name)
}

// previewCSP is the policy of a preview on the admin origin: the site's
// pages' (no script; styles, images and fonts from the admin origin,
// where the previewed theme's assets are served), and forms that go
// nowhere.
const previewCSP = "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"

func (x adminAppearance) Preview(w http.ResponseWriter, r *http.Request, p *i18n.Printer, name, page, assetBase string) {
	th, err := x.a.preview(r.Context(), name, assetBase)
	if errors.Is(err, theme.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, p.T("The theme {theme} cannot be used: {reason}", "theme", name, "reason", err.Error()), http.StatusUnprocessableEntity)
		return
	}
	look := x.a.current()
	p = p.With(th.Catalog())
	d := theme.NewPage(p)
	d.Site = look.Site
	if d.Site.Name == "" {
		d.Site.Name = "Web Sonic"
	}
	if st := x.a.settings.Current(); st.Logo != nil {
		d.Site.Logo = admin.Prefix + "/settings/logo?v=" + st.LogoHash
	}
	for _, l := range x.a.nav(nil, p) {
		d.Nav = append(d.Nav, theme.Link{Label: l.Label, Path: l.Path})
	}
	d.Next, d.PasswordMin = "/", 15
	switch page {
	case theme.PageHome:
		d.Title = p.T("Welcome")
	case theme.PageLogin:
		d.Title = p.T("Log in")
	case theme.PageRegister:
		d.Title = p.T("Create an account")
	case theme.PageError:
		d.Title, d.Message = p.T("Error"), p.T("Something went wrong on our side. Please try again.")
	case theme.PageFrame:
		d.Title = p.T("A module's page")
		d.Content = template.HTML("<h1>" + template.HTMLEscapeString(p.T("A module's page")) + "</h1><p>" +
			template.HTMLEscapeString(p.T("Modules' pages appear here, inside the theme.")) + "</p>")
	default:
		http.NotFound(w, r)
		return
	}
	var buf bytes.Buffer
	if err := th.Render(&buf, page, d); err != nil {
		x.a.log.Error("rendering a preview failed", "theme", name, "page", page, "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Language", p.Lang())
	h.Set("Content-Security-Policy", previewCSP)
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes()) //nolint:errcheck // the client went away
}

func (x adminAppearance) PreviewAsset(w http.ResponseWriter, r *http.Request, name, key, p string) {
	th, err := x.a.preview(r.Context(), name, admin.Prefix+"/themes/assets/")
	if err != nil {
		http.NotFound(w, r)
		return
	}
	th.ServeAsset(w, r, key, p)
}

// previews keeps the themes loaded for the admin area's previews (with
// their assets on the admin origin) for a minute: a preview page and its
// stylesheets load the theme once.
type previews struct {
	mu   sync.Mutex
	byID map[string]previewed
}

type previewed struct {
	th *theme.Theme
	at time.Time
}

const previewTTL = time.Minute

// preview loads name for a preview with its assets under base.
func (a *appearance) preview(ctx context.Context, name, base string) (*theme.Theme, error) {
	a.previews.mu.Lock()
	defer a.previews.mu.Unlock()
	id := base + name
	if p, ok := a.previews.byID[id]; ok && time.Since(p.at) < previewTTL {
		return p.th, nil
	}
	fsys, err := a.src().Files(ctx, name)
	if err != nil {
		return nil, err
	}
	th, err := theme.Load(fsys, theme.WithAssetBase(base))
	if err != nil {
		return nil, err
	}
	if a.previews.byID == nil {
		a.previews.byID = map[string]previewed{}
	}
	for k, p := range a.previews.byID {
		if time.Since(p.at) >= previewTTL {
			delete(a.previews.byID, k)
		}
	}
	a.previews.byID[id] = previewed{th: th, at: time.Now()}
	return th, nil
}

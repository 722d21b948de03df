package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	xlanguage "golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/settings"
	"github.com/websonic/websonic/runtime/internal/theme"
)

// Appearance is what the admin area does with the site's look: its
// settings (package settings) and its themes. The server implements it
// (runtime/server/admin_themes.go).
type Appearance interface {
	// Settings are the site's settings now.
	Settings() *settings.Settings
	// Languages are the languages the site has.
	Languages() []string
	// Update changes the settings for the admin actor, on every replica.
	Update(ctx context.Context, actor int64, c settings.Change) error
	// Themes lists the themes the owner may activate, and the active one.
	Themes(ctx context.Context) (list []theme.Info, active string, err error)
	// Activate makes name the site's theme on every replica if it loads;
	// otherwise it returns why and the active theme stays.
	Activate(ctx context.Context, actor int64, name string) error
	// Preview answers with page (one of theme.Pages but frame and audit)
	// of the site rendered with theme name and sample data, its assets
	// under assetBase (WithAssetBase), for the language of p.
	Preview(w http.ResponseWriter, r *http.Request, p *i18n.Printer, name, page, assetBase string)
	// PreviewAsset answers with an asset of a theme being previewed.
	PreviewAsset(w http.ResponseWriter, r *http.Request, name, key, path string)
}

// previewAssets is the URL prefix of previewed themes' assets.
const previewAssets = Prefix + "/themes/assets/"

// maxLogoForm bounds the logo upload's form.
const maxLogoForm = settings.MaxLogoBytes + 64<<10

// language is a language the site has, named in its own words.
type language struct{ Code, Name string }

// settingsView is what settings.html shows.
type settingsView struct {
	Name, Accent, Language string
	DefaultAccent          bool
	Languages              []language // each in its own words
	Logo                   string     // the logo's preview URL, "" for none
	Contrast               string     // the accent's contrast with white, "" for the theme's
	Saved                  string
	Mail                   string // Config.Mail: where modules' e-mail goes, "" for nowhere
}

func (a *Area) settingsView(form *settingsView) settingsView {
	st := a.cfg.Appearance.Settings()
	v := settingsView{Name: st.Name, Accent: st.Accent, Language: st.Language, Mail: a.cfg.Mail}
	for _, code := range a.cfg.Appearance.Languages() {
		v.Languages = append(v.Languages, language{Code: code, Name: display.Self.Name(xlanguage.Make(code))})
	}
	if form != nil {
		v.Name, v.Accent, v.Language, v.DefaultAccent = form.Name, form.Accent, form.Language, form.DefaultAccent
	}
	if v.Accent == "" {
		v.DefaultAccent, v.Accent = true, "#2b59c3"
	}
	if !v.DefaultAccent {
		v.Contrast = fmt.Sprintf("%.1f:1", settings.Contrast(strings.ToLower(v.Accent), "#ffffff"))
	}
	if st.Logo != nil {
		v.Logo = Prefix + "/settings/logo?v=" + st.LogoHash
	}
	return v
}

// handleSettings shows the settings form.
func (a *Area) handleSettings(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	v := a.settingsView(nil)
	switch r.URL.Query().Get("saved") {
	case "settings":
		v.Saved = q.T("Your settings are saved: the site shows them now.")
	case "logo":
		v.Saved = q.T("The logo is saved: the site shows it now.")
	case "logo-removed":
		v.Saved = q.T("The logo is removed.")
	}
	a.show(w, r, q, http.StatusOK, "settings.html", page{Title: i18n.Key("Site settings"), Data: v})
}

// handleSaveSettings saves the name, accent colour and language.
func (a *Area) handleSaveSettings(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	form := settingsView{
		Name: r.PostForm.Get("name"), Accent: strings.ToLower(r.PostForm.Get("accent")),
		Language: r.PostForm.Get("language"), DefaultAccent: r.PostForm.Get("default_accent") != "",
	}
	accent := form.Accent
	if form.DefaultAccent {
		accent = ""
	}
	err := a.cfg.Appearance.Update(r.Context(), q.user.ID, settings.Change{Name: &form.Name, Accent: &accent, Language: &form.Language})
	if err != nil {
		msg, status := a.settingsError(q, err)
		if status == http.StatusInternalServerError {
			a.fail(w, r, q, "saving the settings failed", err)
			return
		}
		a.show(w, r, q, status, "settings.html", page{Title: i18n.Key("Site settings"), Error: msg, Data: a.settingsView(&form)})
		return
	}
	a.log.Info("site settings changed", "user", q.user.Username)
	http.Redirect(w, r, Prefix+"/settings?saved=settings", http.StatusSeeOther)
}

// settingsError says a refused setting in plain words.
func (a *Area) settingsError(q *request, err error) (string, int) {
	if ce, ok := errors.AsType[*settings.ContrastError](err); ok {
		return q.T("This colour is too light for text on a white background: its contrast is {ratio}:1, and at least 4.5:1 is needed. Choose a darker shade.",
			"ratio", fmt.Sprintf("%.1f", ce.Ratio)), http.StatusUnprocessableEntity
	}
	switch {
	case errors.Is(err, settings.ErrName):
		return q.T("The site's name may have at most 80 characters."), http.StatusUnprocessableEntity
	case errors.Is(err, settings.ErrAccent):
		return q.T("Choose the accent colour with the colour picker."), http.StatusUnprocessableEntity
	case errors.Is(err, settings.ErrLanguage):
		return q.T("Choose a language from the list."), http.StatusUnprocessableEntity
	case errors.Is(err, settings.ErrLogoSVG):
		return q.T("SVG logos are not accepted. Export the logo as a PNG image and upload that."), http.StatusUnprocessableEntity
	case errors.Is(err, settings.ErrLogoSize):
		return q.T("The logo is too large: upload an image of at most 512 KB."), http.StatusRequestEntityTooLarge
	case errors.Is(err, settings.ErrLogoDims):
		return q.T("The logo is too large: upload an image of at most 4096 × 4096 pixels."), http.StatusUnprocessableEntity
	case errors.Is(err, settings.ErrLogoType):
		return q.T("The logo must be a PNG, JPEG or WebP image."), http.StatusUnprocessableEntity
	}
	return "", http.StatusInternalServerError
}

// handleUploadLogo saves an uploaded logo.
func (a *Area) handleUploadLogo(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	f, _, err := r.FormFile("logo")
	var b []byte
	if err == nil {
		b, err = io.ReadAll(io.LimitReader(f, settings.MaxLogoBytes+1))
		f.Close()
	}
	if err != nil || len(b) == 0 {
		a.show(w, r, q, http.StatusBadRequest, "settings.html", page{Title: i18n.Key("Site settings"),
			Error: q.T("Choose an image file to upload."), Data: a.settingsView(nil)})
		return
	}
	if err := a.cfg.Appearance.Update(r.Context(), q.user.ID, settings.Change{Logo: &b}); err != nil {
		msg, status := a.settingsError(q, err)
		if status == http.StatusInternalServerError {
			a.fail(w, r, q, "saving the logo failed", err)
			return
		}
		a.show(w, r, q, status, "settings.html", page{Title: i18n.Key("Site settings"), Error: msg, Data: a.settingsView(nil)})
		return
	}
	a.log.Info("site logo changed", "user", q.user.Username)
	http.Redirect(w, r, Prefix+"/settings?saved=logo", http.StatusSeeOther)
}

// handleLogo serves the logo, for the settings page's preview.
func (a *Area) handleLogo(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	st := a.cfg.Appearance.Settings()
	if st.Logo == nil {
		http.NotFound(w, r)
		return
	}
	h := w.Header()
	h.Set("Content-Type", st.LogoType)
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Content-Disposition", "inline")
	w.Write(st.Logo) //nolint:errcheck // the client went away
}

// handleRemoveLogoForm asks to confirm removing the logo.
func (a *Area) handleRemoveLogoForm(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	a.show(w, r, q, http.StatusOK, "settings-logo-remove.html", page{Title: i18n.Key("Remove the logo?"), Data: a.settingsView(nil)})
}

// handleRemoveLogo removes the logo.
func (a *Area) handleRemoveLogo(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	var none []byte
	if err := a.cfg.Appearance.Update(r.Context(), q.user.ID, settings.Change{Logo: &none}); err != nil {
		a.fail(w, r, q, "removing the logo failed", err)
		return
	}
	http.Redirect(w, r, Prefix+"/settings?saved=logo-removed", http.StatusSeeOther)
}

// themeView is one theme on themes.html.
type themeView struct {
	theme.Info
	Active bool
	// Available is a newer version the registry offers (policy notify).
	Available string
}

// handleThemes lists the themes, with a preview and an activate button.
func (a *Area) handleThemes(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	list, active, err := a.cfg.Appearance.Themes(r.Context())
	if err != nil {
		a.fail(w, r, q, "listing themes failed", err)
		return
	}
	var d struct {
		Themes    []themeView
		Activated string
		Store     bool // themes can come from the registry (themestore.go)
	}
	available := a.themeUpdates(r.Context())
	for _, t := range list {
		d.Themes = append(d.Themes, themeView{Info: t, Active: t.Name == active, Available: available[t.Name]})
	}
	if n := r.URL.Query().Get("activated"); n != "" && n == active {
		d.Activated = q.T("The site now uses the theme {theme}.", "theme", n)
	}
	if n := r.URL.Query().Get("removed"); n != "" {
		d.Activated = q.T("The theme {theme} is removed.", "theme", n)
	}
	d.Store = a.cfg.ThemeStore != nil
	a.show(w, r, q, http.StatusOK, "themes.html", page{Title: i18n.Key("Themes"), Data: d})
}

// handleActivateTheme makes a theme the site's.
func (a *Area) handleActivateTheme(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	name := r.PostForm.Get("theme")
	err := a.cfg.Appearance.Activate(r.Context(), q.user.ID, name)
	a.audit(r.Context(), r, q.user.ID, "admin.theme_activate", name, map[string]any{"ok": err == nil})
	if err != nil {
		a.log.Warn("theme refused", "user", q.user.Username, "theme", name, "error", err)
		a.show(w, r, q, http.StatusUnprocessableEntity, "message.html", page{Title: i18n.Key("Theme refused"),
			Message: q.T("The theme {theme} cannot be used, so the site keeps its current theme. Choose another theme, or install a corrected version of this one; the technical details below say what is wrong.", "theme", name),
			Detail:  err.Error()})
		return
	}
	a.log.Info("theme activated", "user", q.user.Username, "theme", name)
	http.Redirect(w, r, Prefix+"/themes?activated="+url.QueryEscape(name), http.StatusSeeOther)
}

// handlePreview shows a page of the site in a theme, with sample data.
func (a *Area) handlePreview(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	pg := r.URL.Query().Get("page")
	switch pg {
	case "":
		pg = theme.PageHome
	case theme.PageHome, theme.PageLogin, theme.PageRegister, theme.PageError, theme.PageFrame, theme.PageAccount:
	default:
		http.NotFound(w, r)
		return
	}
	a.cfg.Appearance.Preview(w, r, q.p, chi.URLParam(r, "name"), pg, previewAssets)
}

// handlePreviewAsset serves a previewed theme's asset.
func (a *Area) handlePreviewAsset(w http.ResponseWriter, r *http.Request, q *request) {
	if a.cfg.Appearance == nil {
		http.NotFound(w, r)
		return
	}
	name, key, p, ok := theme.SplitAssetPath(previewAssets, r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	a.cfg.Appearance.PreviewAsset(w, r, name, key, p)
}

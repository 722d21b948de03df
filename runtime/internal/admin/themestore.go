package admin

import (
	"context"
	"net/http"
	"net/url"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// ThemeStore is what the Themes pages do with themes from the registry:
// the same requests as `websonic theme install|rollback|policy|uninstall`,
// through the site's request queue, so any runtime serving the site may
// carry them out. A theme is data (templates and assets, validated before
// use), so installing one asks no capability approval; which theme the
// site uses stays a site setting (Appearance.Activate).
type ThemeStore interface {
	// Installed lists the themes installed from the registry.
	Installed(ctx context.Context) ([]updater.InstalledTheme, error)
	// Events returns the newest theme update events first, at most limit.
	Events(ctx context.Context, limit int) ([]updater.Event, error)
	// Catalogue is what the registry offers, refreshed now.
	Catalogue(ctx context.Context) ([]updater.Offer, error)
	// Install installs exactly the release of digest (the one the owner
	// confirmed), or moves the installed theme to it.
	Install(ctx context.Context, r InstallRequest) (string, error)
	// Rollback returns theme to its previous version (and pins it).
	Rollback(ctx context.Context, theme, actor string) (string, error)
	// SetPolicy sets theme's update policy and channel.
	SetPolicy(ctx context.Context, theme, policy, channel, actor string) (string, error)
	// Uninstall removes theme (refused for the site's active theme).
	Uninstall(ctx context.Context, theme, actor string) (string, error)
}

var (
	policies = []string{"auto", "notify", "pinned"}
	channels = []string{"stable", "beta"}
)

// themeStore is the configured ThemeStore, or a page saying there is
// none (the runtime has no registry).
func (a *Area) themeStore(w http.ResponseWriter, r *http.Request, q *request) ThemeStore {
	if a.cfg.ThemeStore == nil || a.cfg.Appearance == nil {
		a.message(w, r, q, http.StatusNotImplemented, i18n.Key("No registry"),
			i18n.Key("This site is not connected to a registry, so themes cannot be added from one."))
		return nil
	}
	return a.cfg.ThemeStore
}

// themeOffer is a theme of the catalogue as the page shows it.
type themeOffer struct {
	updater.Offer
	Installed string // the version installed ("": none)
}

// handleThemeCatalogue lists the themes the registry offers.
func (a *Area) handleThemeCatalogue(w http.ResponseWriter, r *http.Request, q *request) {
	ts := a.themeStore(w, r, q)
	if ts == nil {
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	var d struct {
		Offers []themeOffer
		Error  string
	}
	offers, err := ts.Catalogue(ctx)
	if err != nil {
		a.log.Warn("reading the registry's themes failed", "error", err)
		d.Error = err.Error()
	}
	ins, err := ts.Installed(r.Context())
	if err != nil {
		a.fail(w, r, q, "listing installed themes failed", err)
		return
	}
	for _, o := range offers {
		of := themeOffer{Offer: o}
		for _, t := range ins {
			if t.Name == o.Module {
				of.Installed = t.Version
			}
		}
		d.Offers = append(d.Offers, of)
	}
	a.show(w, r, q, http.StatusOK, "theme-catalogue.html", page{Title: i18n.Key("Themes you can add"), Data: d})
}

// themeInstallView is the install confirmation.
type themeInstallView struct {
	Theme, Version, Digest, Channel, Description string
	Installed                                    string // the version installed now ("": none)
	Active, Same, Older                          bool
	Policy                                       string
	Policies                                     []string
}

// handleThemeInstallForm confirms an install: which version, and what
// changes for the site.
func (a *Area) handleThemeInstallForm(w http.ResponseWriter, r *http.Request, q *request) {
	ts := a.themeStore(w, r, q)
	if ts == nil {
		return
	}
	v := r.URL.Query()
	name, version, channel := v.Get("theme"), v.Get("version"), v.Get("channel")
	if channel == "" {
		channel = "stable"
	}
	if name == "" || !slices.Contains(channels, channel) {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("Name the theme and the version."))
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	offers, err := ts.Catalogue(ctx)
	if err != nil {
		a.message(w, r, q, http.StatusBadGateway, i18n.Key("It did not work"),
			q.T("The registry could not be reached, so nothing was installed. The reason: {reason}", "reason", err.Error()))
		return
	}
	d := themeInstallView{Theme: name, Channel: channel, Policy: "auto", Policies: policies}
	for _, o := range offers {
		if o.Module != name {
			continue
		}
		d.Description = o.Description
		for _, ov := range o.Versions { // newest first
			if (version == "" && (ov.Channel == "stable" || channel == "beta")) || ov.Version == version {
				d.Version, d.Digest = ov.Version, ov.Digest
				break
			}
		}
	}
	if d.Digest == "" {
		a.message(w, r, q, http.StatusNotFound, i18n.Key("Not found"), i18n.Key("The registry offers no such theme or version."))
		return
	}
	ins, err := ts.Installed(r.Context())
	if err != nil {
		a.fail(w, r, q, "listing installed themes failed", err)
		return
	}
	for _, t := range ins {
		if t.Name == name {
			d.Installed, d.Same, d.Policy = t.Version, t.Digest == d.Digest, string(t.Policy)
			d.Older = versionLess(d.Version, t.Version)
		}
	}
	d.Active = a.activeTheme(r.Context()) == name
	a.show(w, r, q, http.StatusOK, "theme-install.html", page{Title: i18n.Key("Add a theme"), Data: d})
}

// handleThemeInstall installs the release the owner confirmed.
func (a *Area) handleThemeInstall(w http.ResponseWriter, r *http.Request, q *request) {
	ts := a.themeStore(w, r, q)
	if ts == nil {
		return
	}
	f := r.PostForm
	req := InstallRequest{Module: f.Get("theme"), Version: f.Get("version"), Channel: f.Get("channel"), Policy: f.Get("policy"),
		Digest: f.Get("digest"), Actor: q.user.Username}
	if req.Module == "" || req.Version == "" || req.Digest == "" {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("Name the theme and the version."))
		return
	}
	if !slices.Contains(policies, req.Policy) || !slices.Contains(channels, req.Channel) {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("Choose a policy and a channel."))
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	_, err := ts.Install(ctx, req)
	a.audit(r.Context(), r, q.user.ID, "admin.theme_install", req.Module, map[string]any{"version": req.Version, "digest": req.Digest, "ok": err == nil})
	if err != nil {
		a.themeRefused(w, r, q, req.Module, err)
		return
	}
	a.log.Info("theme installed", "user", q.user.Username, "theme", req.Module, "version", req.Version)
	http.Redirect(w, r, Prefix+"/themes/"+url.PathEscape(req.Module)+"/manage?done=installed", http.StatusSeeOther)
}

// themeRefused says why a theme request failed: nothing changed.
func (a *Area) themeRefused(w http.ResponseWriter, r *http.Request, q *request, name string, err error) {
	a.log.Warn("theme request failed", "user", q.user.Username, "theme", name, "path", r.URL.Path, "error", err)
	a.show(w, r, q, http.StatusConflict, "message.html", page{Title: i18n.Key("It did not work"),
		Message: q.T("Nothing changed: the site keeps the themes it had. The reason: {reason}", "reason", err.Error())})
}

// activeTheme names the site's theme ("" when unknown).
func (a *Area) activeTheme(ctx context.Context) string {
	if a.cfg.Appearance == nil {
		return ""
	}
	if st := a.cfg.Appearance.Settings(); st != nil {
		return st.Theme
	}
	return ""
}

// installedTheme finds the theme of the route among the installed ones,
// or answers 404.
func (a *Area) installedTheme(w http.ResponseWriter, r *http.Request, q *request, ts ThemeStore) *updater.InstalledTheme {
	name := chi.URLParam(r, "name")
	ins, err := ts.Installed(r.Context())
	if err != nil {
		a.fail(w, r, q, "listing installed themes failed", err)
		return nil
	}
	for i := range ins {
		if ins[i].Name == name {
			return &ins[i]
		}
	}
	a.message(w, r, q, http.StatusNotFound, i18n.Key("Not found"), i18n.Key("No theme of that name is installed from the registry."))
	return nil
}

// handleThemeManage is an installed theme's page: its version, updates
// policy, rollback, removal and history.
func (a *Area) handleThemeManage(w http.ResponseWriter, r *http.Request, q *request) {
	ts := a.themeStore(w, r, q)
	if ts == nil {
		return
	}
	t := a.installedTheme(w, r, q, ts)
	if t == nil {
		return
	}
	evs, err := ts.Events(r.Context(), 200)
	if err != nil {
		a.fail(w, r, q, "listing theme events failed", err)
		return
	}
	d := struct {
		Theme               *updater.InstalledTheme
		Active, CanRollBack bool
		Events              []updater.Event
		Done                string
	}{Theme: t, Active: a.activeTheme(r.Context()) == t.Name,
		CanRollBack: t.PreviousVersion != "" && versionLess(t.PreviousVersion, t.Version)}
	for _, e := range evs {
		if e.Module == t.Name && len(d.Events) < 20 {
			d.Events = append(d.Events, e)
		}
	}
	switch r.URL.Query().Get("done") {
	case "installed":
		d.Done = q.T("{theme} {version} is installed.", "theme", t.Name, "version", t.Version)
	case "policy":
		d.Done = q.T("The updates policy is saved.")
	case "rolled-back":
		d.Done = q.T("{theme} is back to version {version}. It stays there until you install another version.", "theme", t.Name, "version", t.Version)
	}
	a.show(w, r, q, http.StatusOK, "theme-manage.html", page{Title: t.Name, Data: d})
}

// handleThemePolicy sets a theme's updates policy and channel.
func (a *Area) handleThemePolicy(w http.ResponseWriter, r *http.Request, q *request) {
	ts := a.themeStore(w, r, q)
	if ts == nil {
		return
	}
	name, policy, channel := chi.URLParam(r, "name"), r.PostForm.Get("policy"), r.PostForm.Get("channel")
	if !slices.Contains(policies, policy) || !slices.Contains(channels, channel) {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("Choose a policy and a channel."))
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	_, err := ts.SetPolicy(ctx, name, policy, channel, q.user.Username)
	a.audit(r.Context(), r, q.user.ID, "admin.theme_policy", name, map[string]any{"policy": policy, "channel": channel, "ok": err == nil})
	if err != nil {
		a.themeRefused(w, r, q, name, err)
		return
	}
	http.Redirect(w, r, Prefix+"/themes/"+url.PathEscape(name)+"/manage?done=policy", http.StatusSeeOther)
}

// handleThemeRollback returns a theme to its previous version, after a
// confirmation step.
func (a *Area) handleThemeRollback(w http.ResponseWriter, r *http.Request, q *request) {
	ts := a.themeStore(w, r, q)
	if ts == nil {
		return
	}
	t := a.installedTheme(w, r, q, ts)
	if t == nil {
		return
	}
	if t.PreviousVersion == "" || !versionLess(t.PreviousVersion, t.Version) {
		a.message(w, r, q, http.StatusConflict, i18n.Key("Nothing to roll back to"), i18n.Key("This theme has no older version on record."))
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		d := struct {
			Theme  *updater.InstalledTheme
			Active bool
		}{t, a.activeTheme(r.Context()) == t.Name}
		a.show(w, r, q, http.StatusOK, "theme-rollback.html", page{Title: i18n.Key("Roll back"), Data: d})
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	_, err := ts.Rollback(ctx, t.Name, q.user.Username)
	a.audit(r.Context(), r, q.user.ID, "admin.theme_rollback", t.Name, map[string]any{"to": t.PreviousVersion, "ok": err == nil})
	if err != nil {
		a.themeRefused(w, r, q, t.Name, err)
		return
	}
	http.Redirect(w, r, Prefix+"/themes/"+url.PathEscape(t.Name)+"/manage?done=rolled-back", http.StatusSeeOther)
}

// handleThemeUninstall removes a theme: never the active one; the second
// post must carry the theme's name, typed.
func (a *Area) handleThemeUninstall(w http.ResponseWriter, r *http.Request, q *request) {
	ts := a.themeStore(w, r, q)
	if ts == nil {
		return
	}
	t := a.installedTheme(w, r, q, ts)
	if t == nil {
		return
	}
	if a.activeTheme(r.Context()) == t.Name {
		a.message(w, r, q, http.StatusConflict, i18n.Key("This theme is in use"),
			q.T("The site uses {theme} now, so it cannot be removed. Choose another theme on the Themes page first, then remove this one.", "theme", t.Name))
		return
	}
	typed, asked := r.PostForm.Get("confirm"), r.PostForm.Has("confirm")
	if !asked || typed != t.Name {
		status := http.StatusOK
		if asked {
			status = http.StatusBadRequest
		}
		d := struct {
			Theme *updater.InstalledTheme
			Wrong bool
		}{t, asked}
		a.show(w, r, q, status, "theme-uninstall.html", page{Title: i18n.Key("Remove a theme"), Data: d})
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	_, err := ts.Uninstall(ctx, t.Name, q.user.Username)
	a.audit(r.Context(), r, q.user.ID, "admin.theme_uninstall", t.Name, map[string]any{"ok": err == nil})
	if err != nil {
		a.themeRefused(w, r, q, t.Name, err)
		return
	}
	a.log.Info("theme removed", "user", q.user.Username, "theme", t.Name)
	http.Redirect(w, r, Prefix+"/themes?removed="+url.QueryEscape(t.Name), http.StatusSeeOther)
}

// versionLess says whether version a precedes b.
func versionLess(a, b string) bool { return tufrepo.CompareVersions(a, b) < 0 }

// themeUpdates are the newer versions the registry offers for installed
// themes under policy notify, by theme.
func (a *Area) themeUpdates(ctx context.Context) map[string]string {
	out := map[string]string{}
	if a.cfg.ThemeStore == nil {
		return out
	}
	ins, err := a.cfg.ThemeStore.Installed(ctx)
	if err != nil {
		a.log.Warn("listing installed themes failed", "error", err)
		return out
	}
	for _, t := range ins {
		if t.AvailableVersion != "" && versionLess(t.Version, t.AvailableVersion) {
			out[t.Name] = t.AvailableVersion
		}
	}
	return out
}

package admin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/capwords"
	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/updater"
	"github.com/websonic/websonic/sdk/manifest"
)

// Lifecycle is what the Modules pages do with the site's modules beyond
// approving (Modules): every change goes through the site's module
// request queue, as the CLI's (`websonic module …`), so any runtime
// serving the site may carry it out.
type Lifecycle interface {
	// States lists every module the site knows of: installed from the
	// registry, local, running, or waiting for approval.
	States(ctx context.Context) ([]ModuleState, error)
	// Events returns the newest update events first, at most limit.
	Events(ctx context.Context, limit int) ([]updater.Event, error)
	// Catalogue is what the registry offers (request "available").
	Catalogue(ctx context.Context) ([]updater.Offer, error)
	// PreviewInstall says what installing module at version ("": the
	// newest) of channel would grant, without doing it.
	PreviewInstall(ctx context.Context, module, version, channel string) (*updater.Preview, error)
	// Install installs exactly the release of digest with policy.
	Install(ctx context.Context, r InstallRequest) (string, error)
	// Rollback returns module to its previous version.
	Rollback(ctx context.Context, module, actor string) (string, error)
	// SetPolicy sets module's update policy and channel.
	SetPolicy(ctx context.Context, module, policy, channel, actor string) (string, error)
	// ModuleData says what uninstalling module drops.
	ModuleData(ctx context.Context, module string) (*ModuleData, error)
	// Export writes a zip archive of module's data to w.
	Export(ctx context.Context, module string, w io.Writer) error
	// Uninstall drops module, its schema, role and records, for good.
	Uninstall(ctx context.Context, module, actor string) (string, error)
	ModuleFigures
}

// ModuleFigures are a module's recent figures (the runtime's telemetry):
// ok is false when none are known.
type ModuleFigures interface {
	ModuleFigures(name string) (calls, errors int64, p95 time.Duration, memory int64, ok bool)
}

// InstallRequest installs one release, the one the owner confirmed.
type InstallRequest struct {
	Module, Version, Channel, Policy, Digest, Actor string
}

// ModuleState is one module as the site knows it.
type ModuleState struct {
	Name, Version, Description string
	Local                      bool // from the modules folder, unsigned
	Running                    bool
	// Problem says why it does not serve, or why its newest version did
	// not start ("": none).
	Problem string
	// Installed is the registry installation record (nil for a local
	// module).
	Installed *updater.Installed
	// Granted is what the serving version was approved for.
	Granted manifest.Capabilities
	// Awaiting is a local build waiting for the owner's approval (a
	// registry update waiting is Installed.StagedVersion).
	Awaiting *Awaiting
}

// Awaiting is a local module build waiting for approval.
type Awaiting struct {
	Version, Digest string
	Capabilities    manifest.Capabilities
	Approved        *manifest.Capabilities // nil: never approved
}

// ModuleData is what uninstalling a module drops.
type ModuleData struct {
	Schema, Role string
	Tables       []string
	Used         int64
}

// moduleRow is a module as the list shows it.
type moduleRow struct {
	ModuleState
	State  string // running, disabled, awaiting, failed, stopped
	Health string // ok, warn, error
	// Figures
	Figures               bool
	Calls, Errors         int64
	P95, Memory           string
	Staged, StagedReason  string
	Source, Policy, Chann string
}

func (a *Area) rows(ctx context.Context, q *request, states []ModuleState) []moduleRow {
	out := make([]moduleRow, 0, len(states))
	for _, st := range states {
		r := moduleRow{ModuleState: st, Source: "registry"}
		if st.Local {
			r.Source = "local"
		}
		if in := st.Installed; in != nil {
			r.Staged, r.StagedReason, r.Policy, r.Chann = in.StagedVersion, in.StagedReason, string(in.Policy), string(in.Channel)
		}
		switch {
		case st.Running && a.moduleDisabled(ctx, st.Name):
			r.State, r.Health = "disabled", "warn"
		case st.Running:
			r.State, r.Health = "running", "ok"
			if st.Problem != "" || st.Awaiting != nil || r.Staged != "" {
				r.Health = "warn"
			}
		case st.Awaiting != nil:
			r.State, r.Health = "awaiting", "warn"
		case st.Problem != "":
			r.State, r.Health = "failed", "error"
		default:
			r.State, r.Health = "stopped", "warn"
		}
		if a.cfg.Lifecycle != nil {
			if calls, errs, p95, mem, ok := a.cfg.Lifecycle.ModuleFigures(st.Name); ok {
				r.Figures, r.Calls, r.Errors = true, calls, errs
				r.P95, r.Memory = duration(q, p95), size(q, mem)
			}
		}
		out = append(out, r)
	}
	return out
}

// lifecycle is the configured Lifecycle, or an error page.
func (a *Area) lifecycle(w http.ResponseWriter, r *http.Request, q *request) Lifecycle {
	if a.cfg.Lifecycle == nil {
		a.message(w, r, q, http.StatusNotImplemented, i18n.Key("Error"), i18n.Key("This runtime does not manage modules."))
	}
	return a.cfg.Lifecycle
}

// waitCtx bounds a wait for the runtime's answer to a module request.
func (a *Area) waitCtx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), a.cfg.RequestWait)
}

// approval is one approval form: a registry update staged, or a local
// build waiting.
type approval struct {
	Module, Version, Digest, Serving, Reason, Error string
	Local                                           bool
	Lines                                           []capwords.Line
}

// approvals lists what waits for the owner's approval, with the
// capabilities in plain words.
func (a *Area) approvals(ctx context.Context, q *request, states []ModuleState) []approval {
	var out []approval
	for _, st := range states {
		switch {
		case st.Awaiting != nil:
			ap := approval{Module: st.Name, Version: st.Awaiting.Version, Digest: st.Awaiting.Digest, Local: true}
			if st.Running {
				ap.Serving = st.Version
			}
			prev := manifest.Capabilities{}
			if st.Awaiting.Approved != nil {
				prev = *st.Awaiting.Approved
			}
			ap.Lines = capwords.Compare(q.p.Lang(), st.Name, prev, st.Awaiting.Capabilities)
			out = append(out, ap)
		case st.Installed != nil && st.Installed.StagedVersion != "":
			ap := approval{Module: st.Name, Version: st.Installed.StagedVersion, Serving: st.Installed.Version, Reason: st.Installed.StagedReason}
			pctx, cancel := context.WithTimeout(ctx, a.cfg.RequestWait)
			p, err := a.cfg.Modules.Preview(pctx, st.Name)
			cancel()
			if err != nil {
				ap.Error = err.Error()
			} else {
				ap.Digest, ap.Version = p.Digest, p.Version
				ap.Lines = capwords.Compare(q.p.Lang(), st.Name, st.Installed.Approved, p.Capabilities)
			}
			out = append(out, ap)
		}
	}
	return out
}

// handleModules lists the modules, and what waits for approval.
func (a *Area) handleModules(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	states, err := lc.States(r.Context())
	if err != nil {
		a.fail(w, r, q, "listing modules failed", err)
		return
	}
	d := struct {
		Rows      []moduleRow
		Approvals []approval
	}{a.rows(r.Context(), q, states), a.approvals(r.Context(), q, states)}
	a.show(w, r, q, http.StatusOK, "modules.html", page{Title: i18n.Key("Modules"), Data: d})
}

// find returns the state of module name, or answers 404.
func (a *Area) find(w http.ResponseWriter, r *http.Request, q *request, lc Lifecycle) (*ModuleState, []ModuleState) {
	name := chi.URLParam(r, "name")
	states, err := lc.States(r.Context())
	if err != nil {
		a.fail(w, r, q, "listing modules failed", err)
		return nil, nil
	}
	for i := range states {
		if states[i].Name == name {
			return &states[i], states
		}
	}
	a.message(w, r, q, http.StatusNotFound, i18n.Key("Not found"), i18n.Key("There is no module of that name on this site."))
	return nil, nil
}

// handleModule is a module's page: its state, what it may do, and its
// lifecycle's actions.
func (a *Area) handleModule(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	st, _ := a.find(w, r, q, lc)
	if st == nil {
		return
	}
	row := a.rows(r.Context(), q, []ModuleState{*st})[0]
	evs, err := lc.Events(r.Context(), 200)
	if err != nil {
		a.fail(w, r, q, "listing update events failed", err)
		return
	}
	var mine []updater.Event
	for _, e := range evs {
		if e.Module == st.Name && len(mine) < 20 {
			mine = append(mine, e)
		}
	}
	d := struct {
		Row       moduleRow
		Granted   []capwords.Line
		Approvals []approval
		Events    []updater.Event
		Extras    any
		Policies  []string
		Channels  []string
	}{
		Row: row, Approvals: a.approvals(r.Context(), q, []ModuleState{*st}), Events: mine,
		Extras: a.moduleExtras(r.Context(), st.Name), Policies: []string{"auto", "notify", "pinned"}, Channels: []string{"stable", "beta"},
	}
	if st.Running {
		d.Granted = capwords.Describe(q.p.Lang(), st.Name, st.Granted)
	}
	a.show(w, r, q, http.StatusOK, "module.html", page{Title: st.Name, Data: d})
}

// handlePolicy sets a module's update policy and channel.
func (a *Area) handlePolicy(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	name, policy, channel := chi.URLParam(r, "name"), r.PostForm.Get("policy"), r.PostForm.Get("channel")
	if !slices.Contains([]string{"auto", "notify", "pinned"}, policy) || !slices.Contains([]string{"stable", "beta"}, channel) {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("Choose a policy and a channel."))
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	res, err := lc.SetPolicy(ctx, name, policy, channel, q.user.Username)
	a.audit(r.Context(), r, q.user.ID, "admin.module_policy", name, map[string]any{"policy": policy, "channel": channel, "ok": err == nil})
	a.answer(w, r, q, err, action{title: i18n.Key("Updates policy changed"),
		done:   i18n.Key("{module} now follows the {channel} channel; when a new version is published: {policy}."),
		failed: i18n.Key("The updates policy of {module} could not be changed."),
		args:   []any{"module", name, "policy", policyWords(q, policy), "channel", channelWords(q, channel)}}, res)
}

// handleRollback returns a module to its previous version, after a
// confirmation step.
func (a *Area) handleRollback(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	st, _ := a.find(w, r, q, lc)
	if st == nil {
		return
	}
	if st.Installed == nil || st.Installed.PreviousVersion == "" {
		a.message(w, r, q, http.StatusConflict, i18n.Key("Nothing to roll back to"), i18n.Key("This module has no previous version on record."))
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		a.show(w, r, q, http.StatusOK, "rollback.html", page{Title: i18n.Key("Roll back"), Data: st})
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	res, err := lc.Rollback(ctx, st.Name, q.user.Username)
	a.audit(r.Context(), r, q.user.ID, "admin.module_rollback", st.Name, map[string]any{"to": st.Installed.PreviousVersion, "ok": err == nil})
	a.answer(w, r, q, err, action{title: i18n.Key("Rolled back"),
		done:   i18n.Key("{module} is back to version {version}. It stays on this version until you install another."),
		failed: i18n.Key("{module} could not be rolled back to version {version}."),
		args:   []any{"module", st.Name, "version", st.Installed.PreviousVersion}}, res)
}

// handleExport downloads a module's data. It is a POST (with the CSRF
// token): a GET would let any page of the site's origin, same-site for
// the admin's cookie, queue exports and audit entries by navigating the
// admin to it.
func (a *Area) handleExport(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	name := chi.URLParam(r, "name")
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	var buf strings.Builder
	err := lc.Export(ctx, name, &buf)
	a.audit(r.Context(), r, q.user.ID, "admin.module_export", name, map[string]any{"ok": err == nil})
	if err != nil {
		a.failure(w, r, q, http.StatusConflict, q.T("The data of {module} could not be exported.", "module", name), err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/zip")
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-data-%s.zip"`, name, time.Now().UTC().Format("20060102")))
	io.WriteString(w, buf.String()) //nolint:errcheck // the client went away
}

// handleUninstall drops a module: the first post shows what goes and
// offers the export; the second must carry the module's name, typed.
func (a *Area) handleUninstall(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	st, _ := a.find(w, r, q, lc)
	if st == nil {
		return
	}
	typed, asked := r.PostForm.Get("confirm"), r.PostForm.Has("confirm")
	if !asked || typed != st.Name {
		data, err := lc.ModuleData(r.Context(), st.Name)
		if err != nil {
			a.fail(w, r, q, "reading a module's data failed", err)
			return
		}
		d := struct {
			Module *ModuleState
			Data   *ModuleData
			Wrong  bool
		}{st, data, asked}
		status := http.StatusOK
		if asked {
			status = http.StatusBadRequest
		}
		a.show(w, r, q, status, "uninstall.html", page{Title: i18n.Key("Uninstall"), Data: d})
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	res, err := lc.Uninstall(ctx, st.Name, q.user.Username)
	a.audit(r.Context(), r, q.user.ID, "admin.module_uninstall", st.Name, map[string]any{"ok": err == nil})
	a.answer(w, r, q, err, action{title: i18n.Key("Uninstalled"),
		done:   i18n.Key("{module} is uninstalled: its pages, its data and its database area are gone."),
		failed: i18n.Key("{module} could not be uninstalled."),
		args:   []any{"module", st.Name}}, res)
}

// offer is a catalogue entry as the page shows it.
type offer struct {
	updater.Offer
	Installed string // the version installed ("": none)
	Channels  []string
}

// handleAvailable is the registry's catalogue.
func (a *Area) handleAvailable(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	var d struct {
		Offers []offer
		Error  string
	}
	offers, err := lc.Catalogue(ctx)
	if err != nil {
		d.Error = err.Error()
	}
	states, serr := lc.States(r.Context())
	if serr != nil {
		a.fail(w, r, q, "listing modules failed", serr)
		return
	}
	for _, o := range offers {
		of := offer{Offer: o}
		for _, st := range states {
			if st.Name == o.Module {
				of.Installed = st.Version
			}
		}
		for _, v := range o.Versions {
			if !slices.Contains(of.Channels, string(v.Channel)) {
				of.Channels = append(of.Channels, string(v.Channel))
			}
		}
		d.Offers = append(d.Offers, of)
	}
	a.show(w, r, q, http.StatusOK, "available.html", page{Title: i18n.Key("Available modules"), Data: d})
}

// handleInstallForm is the confirmation before an install: what the
// release would be allowed to do, in plain words.
func (a *Area) handleInstallForm(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	v := r.URL.Query()
	a.installForm(w, r, q, lc, v.Get("module"), v.Get("version"), v.Get("channel"))
}

// handleUpdateNow checks for the newest release on a module's channel
// and shows its install confirmation.
func (a *Area) handleUpdateNow(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	st, _ := a.find(w, r, q, lc)
	if st == nil {
		return
	}
	if st.Installed == nil {
		a.message(w, r, q, http.StatusConflict, i18n.Key("Not from the registry"), i18n.Key("A local module is updated by rebuilding its folder."))
		return
	}
	a.installForm(w, r, q, lc, st.Name, "", string(st.Installed.Channel))
}

func (a *Area) installForm(w http.ResponseWriter, r *http.Request, q *request, lc Lifecycle, module, version, channel string) {
	if channel == "" {
		channel = "stable"
	}
	if module == "" || !slices.Contains([]string{"stable", "beta"}, channel) {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("Name the module and the release."))
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	p, err := lc.PreviewInstall(ctx, module, version, channel)
	if err != nil {
		a.failure(w, r, q, http.StatusConflict, q.T("The registry could not say what {module} would be allowed to do.", "module", module), err)
		return
	}
	d := struct {
		Preview  *updater.Preview
		Channel  string
		Lines    []capwords.Line
		Same     bool
		Policies []string
	}{Preview: p, Channel: channel, Policies: []string{"auto", "notify", "pinned"}}
	prev := manifest.Capabilities{}
	if p.Installed != "" {
		if states, err := lc.States(r.Context()); err == nil {
			for _, st := range states {
				if st.Name == module && st.Installed != nil {
					prev = st.Installed.Approved
				}
			}
		}
		d.Same = p.Installed == p.Version
	}
	d.Lines = capwords.Compare(q.p.Lang(), module, prev, p.Capabilities)
	if p.Installed == "" {
		for i := range d.Lines {
			d.Lines[i].New = false // all of it is new: nothing to single out
		}
	}
	a.show(w, r, q, http.StatusOK, "install.html", page{Title: i18n.Key("Install a module"), Data: d})
}

// handleInstall installs the release the owner confirmed: the form must
// carry its digest, the approval box ticked, and the owner's password.
func (a *Area) handleInstall(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	f := r.PostForm
	req := InstallRequest{Module: f.Get("module"), Version: f.Get("version"), Channel: f.Get("channel"), Policy: f.Get("policy"),
		Digest: f.Get("digest"), Actor: q.user.Username}
	if req.Module == "" || req.Version == "" || req.Digest == "" {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("Name the module and the release."))
		return
	}
	if f.Get("approve") != "all" {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Not approved"), i18n.Key("Nothing was installed: tick the box to approve what the module asks for."))
		return
	}
	if !slices.Contains([]string{"auto", "notify", "pinned"}, req.Policy) || !slices.Contains([]string{"stable", "beta"}, req.Channel) {
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("Choose a policy and a channel."))
		return
	}
	if !a.reauthenticate(w, r, q) {
		return
	}
	ctx, cancel := a.waitCtx(r)
	defer cancel()
	res, err := lc.Install(ctx, req)
	a.audit(r.Context(), r, q.user.ID, "admin.module_install", req.Module, map[string]any{"version": req.Version, "digest": req.Digest, "ok": err == nil})
	a.answer(w, r, q, err, action{title: i18n.Key("Installed"),
		done:   i18n.Key("{module} {version} is installed."),
		failed: i18n.Key("{module} {version} could not be installed."),
		args:   []any{"module", req.Module, "version", req.Version}}, res)
}

// handleUpdates is the history of updates, with what waits for approval.
func (a *Area) handleUpdates(w http.ResponseWriter, r *http.Request, q *request) {
	lc := a.lifecycle(w, r, q)
	if lc == nil {
		return
	}
	states, err := lc.States(r.Context())
	if err != nil {
		a.fail(w, r, q, "listing modules failed", err)
		return
	}
	evs, err := lc.Events(r.Context(), 100)
	if err != nil {
		a.fail(w, r, q, "listing update events failed", err)
		return
	}
	rt, err := a.runtimeUpdate(r.Context(), lc)
	if err != nil {
		a.fail(w, r, q, "reading the runtime's update record failed", err)
		return
	}
	d := struct {
		Approvals []approval
		Events    []updater.Event
		Runtime   *RuntimeUpdate
	}{a.approvals(r.Context(), q, states), evs, rt}
	a.show(w, r, q, http.StatusOK, "updates.html", page{Title: i18n.Key("Updates"), Data: d})
}

package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/commands"
	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/manifest"
)

// ModuleExtras is what the admin area does with a running module beyond
// its lifecycle: the owner's enable/disable toggle, its settings, its
// admin commands and its admin pages (runtime/server, modstate.go and
// modpages.go, implements it on the running runtime).
type ModuleExtras interface {
	// Running is the running module's manifest, or nil.
	Running(name string) *manifest.Manifest
	// Names lists the running modules.
	Names() []string
	// Enabled says whether the owner has not disabled the module.
	Enabled(name string) bool
	// SetEnabled enables or disables the module for every replica, for
	// user (audited); changed is false when it already was.
	SetEnabled(ctx context.Context, user *site.User, name string, enabled bool) (changed bool, err error)
	// Settings are the owner's stored values (not the defaults).
	Settings(ctx context.Context, name string) (map[string]json.RawMessage, error)
	// SaveSettings replaces the owner's values, checked against the
	// config_schema (an error joining *manifest.FieldError "config.KEY"
	// per bad value), and applies them live on every replica (audited).
	SaveSettings(ctx context.Context, user *site.User, name string, values map[string]json.RawMessage) error
	// RunCommand runs a module's admin command for user (audited).
	RunCommand(ctx context.Context, user *site.User, module, command string, args map[string]json.RawMessage) (*commands.Result, error)
	// AdminPage calls a module's admin page for user with the admin's
	// request: method, the page URL's query and a POST's form.
	AdminPage(ctx context.Context, user *site.User, module, page, method, query string, form url.Values, lang string) (*PageAnswer, error)
	// Catalog is the module's own message catalogue, or nil.
	Catalog(name string) *i18n.Catalog
}

// PageAnswer is a module's answer to an admin page call.
type PageAnswer struct {
	Status   int
	Fragment []byte // HTML, not yet sanitized
	// IsRedirect: the module answered 3xx; the area shows its page again
	// with the query Redirect (a redirect never leaves the page).
	IsRedirect bool
	Redirect   string
}

// extrasRoutes are the routes of the module extras (the route table
// includes them).
func (a *Area) extrasRoutes() []Route {
	return []Route{
		{Method: "POST", Pattern: "/modules/{name}/enable", Access: Admins, handle: a.handleToggle(true)},
		{Method: "POST", Pattern: "/modules/{name}/disable", Access: Admins, handle: a.handleToggle(false)},
		{Method: "GET", Pattern: "/modules/{name}/settings", Access: Admins, handle: a.handleModuleSettings},
		{Method: "POST", Pattern: "/modules/{name}/settings", Access: Admins, handle: a.handleSaveModuleSettings},
		{Method: "GET", Pattern: "/modules/{name}/commands", Access: Admins, handle: a.handleCommands},
		{Method: "POST", Pattern: "/modules/{name}/commands/{command}", Access: Admins, handle: a.handleRunCommand},
		{Method: "GET", Pattern: "/modules/{name}/pages/{page}", Access: Admins, handle: a.handleModulePage},
		{Method: "POST", Pattern: "/modules/{name}/pages/{page}", Access: Admins, MaxBody: 64 << 10, handle: a.handleModulePage},
	}
}

// extrasData is the data of the "module-extras" partial template and of
// the extras pages' header: the module, its state and where its extras
// are.
type extrasData struct {
	Module   string
	Version  string
	Enabled  bool
	Settings int        // how many settings its schema declares
	Commands int        // how many admin commands it declares
	Pages    []pageLink // its admin pages
}

// pageLink is a link to a module's admin page.
type pageLink struct {
	Name, Label string
}

// extrasView is what the partial gets: the page it is part of (for T,
// CSRF and Path) and the module's extras.
type extrasView struct {
	page
	X *extrasData
}

func init() {
	// {{template "module-extras" (extras $ .Extras)}}: the partial needs
	// the page (translations, the CSRF token) and the module's extras.
	funcs["extras"] = func(p page, x any) extrasView {
		d, _ := x.(*extrasData)
		return extrasView{page: p, X: d}
	}
	funcs["cell"] = func(v any) string { // a command result's cell; nil is empty
		if v == nil {
			return ""
		}
		return fmt.Sprint(v)
	}
}

// moduleExtras is what the module detail page shows below the module's
// lifecycle (its enable/disable toggle, settings, commands and admin
// pages): the data of the "module-extras" partial template, nil when the
// module is not running. The detail page includes it with
//
//	{{template "module-extras" (extras $ .Data.Extras)}}
func (a *Area) moduleExtras(ctx context.Context, name string) any {
	d := a.extras(name, nil)
	if d == nil {
		return nil // a nil *extrasData in an interface is not nil
	}
	return d
}

// extras gathers a running module's extras (nil: not running), labels
// translated by p when set.
func (a *Area) extras(name string, p *i18n.Printer) *extrasData {
	x := a.cfg.Extras
	if x == nil {
		return nil
	}
	m := x.Running(name)
	if m == nil {
		return nil
	}
	d := &extrasData{Module: name, Version: m.Version, Enabled: x.Enabled(name),
		Settings: len(m.Capabilities.ConfigSchema), Commands: len(m.Capabilities.AdminCommands)}
	mp := a.modulePrinter(name, p)
	for _, pg := range m.Capabilities.AdminPages {
		d.Pages = append(d.Pages, pageLink{Name: pg.Name, Label: mp.T(pg.Label)})
	}
	return d
}

// modulePrinter translates a module's own texts: its catalogue first,
// then the runtime's (p; English when nil).
func (a *Area) modulePrinter(name string, p *i18n.Printer) *i18n.Printer {
	if a.cfg.Extras == nil {
		return p
	}
	return p.With(a.cfg.Extras.Catalog(name))
}

// moduleDisabled says whether the owner has disabled the module.
func (a *Area) moduleDisabled(ctx context.Context, name string) bool {
	return a.cfg.Extras != nil && a.cfg.Extras.Running(name) != nil && !a.cfg.Extras.Enabled(name)
}

// moduleAdminNav lists the enabled modules' admin pages for the side
// navigation, in a group of their own below the shell's entries, each
// named with its module ("noticeboard: Moderation") and never passed
// through the shell's catalogue, so that no module can pass its page off
// as one of the shell's: a label is translated by its module's own
// catalogue alone, into lang. modules are the running modules' names.
func (a *Area) moduleAdminNav(modules []string, lang string) []navItem {
	x := a.cfg.Extras
	if x == nil {
		return nil
	}
	var out []navItem
	for _, name := range modules {
		m := x.Running(name)
		if m == nil || !x.Enabled(name) {
			continue
		}
		var own *i18n.Printer // nil prints the source text
		if c := x.Catalog(name); c != nil {
			own = c.Printer(lang)
		}
		for _, pg := range m.Capabilities.AdminPages {
			out = append(out, navItem{Path: "/modules/" + name + "/pages/" + pg.Name, Label: own.T(pg.Label), Module: name, Access: Admins})
		}
	}
	return out
}

// running finds the route's module, or answers 404 and returns nil.
func (a *Area) running(w http.ResponseWriter, r *http.Request, q *request) (string, *manifest.Manifest) {
	name := chi.URLParam(r, "name")
	if a.cfg.Extras != nil {
		if m := a.cfg.Extras.Running(name); m != nil {
			return name, m
		}
	}
	a.message(w, r, q, http.StatusNotFound, i18n.Key("Not found"), i18n.Key("No module of that name is running on this site."))
	return "", nil
}

// handleToggle enables or disables a module.
func (a *Area) handleToggle(enable bool) func(http.ResponseWriter, *http.Request, *request) {
	return func(w http.ResponseWriter, r *http.Request, q *request) {
		name, m := a.running(w, r, q)
		if m == nil {
			return
		}
		if _, err := a.cfg.Extras.SetEnabled(r.Context(), q.user, name, enable); err != nil {
			a.fail(w, r, q, "changing a module's state failed", err)
			return
		}
		a.log.Info("module state changed", "user", q.user.Username, "module", name, "enabled", enable)
		title, msg := i18n.Key("Module disabled"), q.T("{module} is disabled: its pages answer “not found” and its links are gone. Its data is kept.", "module", name)
		if enable {
			title, msg = i18n.Key("Module enabled"), q.T("{module} is enabled: its pages are back.", "module", name)
		}
		a.show(w, r, q, http.StatusOK, "module-toggled.html", page{Title: title, Message: msg, Data: a.extras(name, q.p)})
	}
}

// settingField is one setting of the settings form.
type settingField struct {
	Key, Label, Description, Type string
	Required                      bool
	Default                       string // the default, as text ("" for none)
	Value                         string // the owner's value, as text
	Checked                       bool   // a boolean's state
	Error                         string
}

// settingsData is the settings page's data.
type settingsData struct {
	X      *extrasData
	Fields []settingField
	Saved  bool
}

// label makes a form label of a setting's key: "max_entries" → "Max entries".
func label(key string) string {
	s := strings.ReplaceAll(key, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// text is a JSON value as a form shows it.
func text(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// fields lists m's settings in key order with values.
func (a *Area) fields(m *manifest.Manifest, p *i18n.Printer, values map[string]json.RawMessage) []settingField {
	mp := a.modulePrinter(m.Name, p)
	var out []settingField
	for _, k := range slices.Sorted(maps.Keys(m.Capabilities.ConfigSchema)) {
		it := m.Capabilities.ConfigSchema[k]
		f := settingField{Key: k, Label: label(k), Type: it.Type, Required: it.Required && len(it.Default) == 0, Default: text(it.Default)}
		if it.Description != "" {
			f.Description = mp.T(it.Description)
		}
		v, ok := values[k]
		if ok {
			f.Value = text(v)
		}
		if it.Type == "boolean" {
			f.Checked = string(v) == "true" || (!ok && string(it.Default) == "true")
		}
		out = append(out, f)
	}
	return out
}

// handleModuleSettings shows a module's settings form.
func (a *Area) handleModuleSettings(w http.ResponseWriter, r *http.Request, q *request) {
	name, m := a.running(w, r, q)
	if m == nil {
		return
	}
	values, err := a.cfg.Extras.Settings(r.Context(), name)
	if err != nil {
		a.fail(w, r, q, "reading a module's settings failed", err)
		return
	}
	d := settingsData{X: a.extras(name, q.p), Fields: a.fields(m, q.p, values), Saved: r.URL.Query().Get("saved") == "1"}
	a.show(w, r, q, http.StatusOK, "module-settings.html", page{Title: q.T("Settings of {module}", "module", name), Data: d})
}

// handleSaveModuleSettings checks and saves a module's settings form: on an
// error the form comes back with the owner's values and a message per
// field.
func (a *Area) handleSaveModuleSettings(w http.ResponseWriter, r *http.Request, q *request) {
	name, m := a.running(w, r, q)
	if m == nil {
		return
	}
	values := map[string]json.RawMessage{}
	errs := map[string]string{}
	for k, it := range m.Capabilities.ConfigSchema {
		t := r.PostForm.Get(k)
		if it.Type == "boolean" {
			t = "false"
			if r.PostForm.Get(k) != "" {
				t = "true"
			}
		}
		v, given, err := FormValue(it.Type, t)
		switch {
		case err != nil:
			errs[k] = q.T(err.Error())
		case given:
			values[k] = v
		}
	}
	if len(errs) == 0 {
		err := a.cfg.Extras.SaveSettings(r.Context(), q.user, name, values)
		if err == nil {
			a.log.Info("module settings saved", "user", q.user.Username, "module", name)
			http.Redirect(w, r, Prefix+"/modules/"+url.PathEscape(name)+"/settings?saved=1", http.StatusSeeOther)
			return
		}
		fe := fieldErrors(err)
		if len(fe) == 0 {
			a.fail(w, r, q, "saving a module's settings failed", err)
			return
		}
		for k, msg := range fe {
			errs[k] = q.T(msg)
		}
	}
	// Show the owner's own text back, not the converted values.
	fields := a.fields(m, q.p, nil)
	for i := range fields {
		f := &fields[i]
		f.Value = r.PostForm.Get(f.Key)
		if f.Type == "boolean" {
			f.Checked = f.Value != ""
		}
		f.Error = errs[f.Key]
	}
	d := settingsData{X: a.extras(name, q.p), Fields: fields}
	a.show(w, r, q, http.StatusUnprocessableEntity, "module-settings.html", page{
		Title: q.T("Settings of {module}", "module", name), Error: q.T("Some settings need your attention: see below."), Data: d,
	})
}

// fieldErrors collects the *manifest.FieldError of err's tree by setting
// key ("config.KEY" → KEY).
func fieldErrors(err error) map[string]string {
	out := map[string]string{}
	var walk func(error)
	walk = func(e error) {
		var fe *manifest.FieldError
		if errors.As(e, &fe) && e == error(fe) {
			if k, ok := strings.CutPrefix(fe.Field, "config."); ok {
				out[k] = fe.Msg
			}
			return
		}
		switch u := e.(type) {
		case interface{ Unwrap() []error }:
			for _, c := range u.Unwrap() {
				walk(c)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// commandForm is one command of the commands page.
type commandForm struct {
	Name, Description string
	Args              []settingField
	Ran               bool
	Error             string // translated
	Detail            string // the technical reason, untranslated
	Result            *commands.Result
}

// commandsData is the commands page's data.
type commandsData struct {
	X        *extrasData
	Commands []commandForm
}

// commandForms lists m's commands as forms; ran is the one just run,
// with its form values, result or error.
func (a *Area) commandForms(m *manifest.Manifest, p *i18n.Printer, ran *commandForm, form url.Values) []commandForm {
	mp := a.modulePrinter(m.Name, p)
	var out []commandForm
	for _, c := range m.Capabilities.AdminCommands {
		f := commandForm{Name: c.Name}
		if c.Description != "" {
			f.Description = mp.T(c.Description)
		}
		for _, arg := range c.Args {
			sf := settingField{Key: arg.Name, Label: label(arg.Name), Type: arg.Type, Required: arg.Required && len(arg.Default) == 0, Default: text(arg.Default)}
			if arg.Description != "" {
				sf.Description = mp.T(arg.Description)
			}
			if arg.Type == "boolean" {
				sf.Checked = string(arg.Default) == "true"
			}
			if ran != nil && ran.Name == c.Name {
				sf.Value = form.Get(arg.Name)
				if arg.Type == "boolean" {
					sf.Checked = sf.Value != ""
				}
			}
			f.Args = append(f.Args, sf)
		}
		if ran != nil && ran.Name == c.Name {
			f.Ran, f.Error, f.Result = true, ran.Error, ran.Result
		}
		out = append(out, f)
	}
	return out
}

// handleCommands shows a module's admin commands as forms.
func (a *Area) handleCommands(w http.ResponseWriter, r *http.Request, q *request) {
	name, m := a.running(w, r, q)
	if m == nil {
		return
	}
	d := commandsData{X: a.extras(name, q.p), Commands: a.commandForms(m, q.p, nil, nil)}
	a.show(w, r, q, http.StatusOK, "module-commands.html", page{Title: q.T("Commands of {module}", "module", name), Data: d})
}

// handleRunCommand runs a command from its form and shows the commands
// page with its result (or error) under its form.
func (a *Area) handleRunCommand(w http.ResponseWriter, r *http.Request, q *request) {
	name, m := a.running(w, r, q)
	if m == nil {
		return
	}
	cmd := m.Capabilities.Command(chi.URLParam(r, "command"))
	if cmd == nil {
		a.message(w, r, q, http.StatusNotFound, i18n.Key("Not found"), i18n.Key("This module has no such command."))
		return
	}
	args := map[string]json.RawMessage{}
	var bad []string
	for _, arg := range cmd.Args {
		t := r.PostForm.Get(arg.Name)
		if arg.Type == "boolean" {
			t = "false"
			if r.PostForm.Get(arg.Name) != "" {
				t = "true"
			}
		}
		v, given, err := FormValue(arg.Type, t)
		switch {
		case err != nil:
			bad = append(bad, label(arg.Name)+": "+q.T(err.Error()))
		case given:
			args[arg.Name] = v
		}
	}
	ran := &commandForm{Name: cmd.Name}
	status := http.StatusOK
	if len(bad) > 0 {
		ran.Error, status = strings.Join(bad, "; "), http.StatusUnprocessableEntity
	} else {
		res, err := a.cfg.Extras.RunCommand(r.Context(), q.user, name, cmd.Name, args)
		if err != nil {
			ran.Error, ran.Detail, status = q.T("The module could not carry out the command. Check what you entered and try again; if it keeps failing, the module's entries in the system log say why."), err.Error(), http.StatusUnprocessableEntity
		} else {
			ran.Result = res
		}
	}
	d := commandsData{X: a.extras(name, q.p), Commands: a.commandForms(m, q.p, ran, r.PostForm)}
	a.show(w, r, q, status, "module-commands.html", page{Title: q.T("Commands of {module}", "module", name), Data: d})
}

// modulePageData is a module admin page's data.
type modulePageData struct {
	X        *extrasData
	Label    string
	Fragment template.HTML // sanitized (fragment.go)
}

// handleModulePage shows a module's admin page, or forwards a POST of its
// form (the shell checked the CSRF token) to the module and shows its
// answer.
func (a *Area) handleModulePage(w http.ResponseWriter, r *http.Request, q *request) {
	name, m := a.running(w, r, q)
	if m == nil {
		return
	}
	pg := m.Capabilities.AdminPage(chi.URLParam(r, "page"))
	if pg == nil {
		a.message(w, r, q, http.StatusNotFound, i18n.Key("Not found"), i18n.Key("This module has no such page."))
		return
	}
	if !a.cfg.Extras.Enabled(name) {
		a.message(w, r, q, http.StatusNotFound, i18n.Key("Module disabled"), i18n.Key("This module is disabled: enable it to use its pages."))
		return
	}
	var form url.Values
	if r.Method == http.MethodPost {
		form = url.Values{}
		for k, v := range r.PostForm {
			if k != "csrf" {
				form[k] = v
			}
		}
	}
	ans, err := a.cfg.Extras.AdminPage(r.Context(), q.user, name, pg.Name, r.Method, r.URL.RawQuery, form, q.p.Lang())
	if err != nil {
		a.log.Warn("a module's admin page failed", "module", name, "page", pg.Name, "error", err)
		a.show(w, r, q, http.StatusBadGateway, "message.html", page{Title: i18n.Key("The module's page failed"),
			Message: q.T("The page of {module} could not be shown. Try again in a moment; if it keeps failing, the module's entries in the system log say why.", "module", name),
			Detail:  err.Error()})
		return
	}
	self := Prefix + "/modules/" + url.PathEscape(name) + "/pages/" + url.PathEscape(pg.Name)
	if ans.IsRedirect {
		to := self
		if ans.Redirect != "" {
			to += "?" + cleanQuery(ans.Redirect)
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	status := ans.Status
	if status < 200 || status > 599 {
		status = http.StatusBadGateway
	}
	d := modulePageData{X: a.extras(name, q.p), Label: a.modulePrinter(name, q.p).T(pg.Label),
		Fragment: template.HTML(sanitizeFragment(ans.Fragment, self, q.csrf(), "m-"+name+"-"))}
	a.show(w, r, q, status, "module-page.html", page{Title: d.Label, Data: d})
}

// cleanQuery re-encodes a query string (a module's redirect), dropping
// what does not parse.
func cleanQuery(q string) string {
	v, _ := url.ParseQuery(q)
	return v.Encode()
}

package admin

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The audit log page (admins and auditors, read-only): who did what, when,
// from which address, to what; filtered by action, actor, subject and
// dates; paged by id (keyset), newest first.

// auditPageSize is the length of a page of the audit log.
const auditPageSize = 50

// actionWords says each action of the audit log in plain words; an action
// not listed shows by its name alone.
var actionWords = map[string]string{
	"admin.login":              i18n.Key("signed in to the admin area"),
	"admin.login_refused":      i18n.Key("was refused the admin area"),
	"admin.module_approve":     i18n.Key("approved a module's capabilities"),
	"command.run":              i18n.Key("ran a module's admin command"),
	"ip.block":                 i18n.Key("blocked an address or network"),
	"ip.unblock":               i18n.Key("lifted the block of an address or network"),
	"module.drop":              i18n.Key("deleted a module's data"),
	"module.start":             i18n.Key("started a module"),
	"module.storage_near":      i18n.Key("noted a module nearing its storage quota"),
	"module.storage_ok":        i18n.Key("noted a module back within its storage quota"),
	"module.storage_suspended": i18n.Key("suspended a module's database: storage quota exceeded"),
	"module.tampering":         i18n.Key("found a module tampering with its database"),
	"module.update":            i18n.Key("updated a module"),
	"module.update_failed":     i18n.Key("failed to update a module"),
	"user.ban":                 i18n.Key("banned a user"),
	"user.erase":               i18n.Key("erased a user's account and data"),
	"user.erase_failed":        i18n.Key("tried to erase a user, without success"),
	"user.export":              i18n.Key("exported a user's data"),
	"user.login":               i18n.Key("signed in"),
	"user.login_failed":        i18n.Key("failed to sign in"),
	"user.logout":              i18n.Key("signed out"),
	"user.password":            i18n.Key("set a user's password"),
	"user.register":            i18n.Key("created an account"),
	"user.role":                i18n.Key("changed a user's role"),
	"user.role_grant":          i18n.Key("granted a role"),
	"user.role_revoke":         i18n.Key("removed a role"),
	"user.session_end":         i18n.Key("ended one of a user's sessions"),
	"user.sessions_end":        i18n.Key("ended all of a user's sessions"),
	"user.suspend":             i18n.Key("suspended a user"),
	"user.unban":               i18n.Key("lifted a user's ban"),
	"user.unsuspend":           i18n.Key("lifted a user's suspension"),
}

// actionGroups are the filter's prefixes.
var actionGroups = []option{
	{"user.", i18n.Key("Everything about users")},
	{"admin.", i18n.Key("Everything in the admin area")},
	{"module.", i18n.Key("Everything about modules")},
	{"ip.", i18n.Key("Everything about IP blocks")},
}

// auditPage is audit.html's data.
type auditPage struct {
	Action, Actor, Subject, From, To string
	Groups, Actions                  []option
	Entries                          []auditRow
	Older, Newest                    string // URLs ("" for none)
}

// auditRow is an entry as the page shows it.
type auditRow struct {
	ID                   int64
	At, Who, What, Raw   string
	Subject, IP, Details string
}

// auditRowOf puts entry e in words.
func auditRowOf(q *request, e site.AuditEntry) auditRow {
	row := auditRow{ID: e.ID, At: when(q, e.At), Raw: e.Action, Subject: e.Subject, What: e.Action}
	if k, ok := actionWords[e.Action]; ok {
		row.What = q.T(k)
	}
	d := detailOf(e.Detail)
	by, _ := d["by"].(string)
	switch {
	case e.Actor != "":
		row.Who = e.Actor
	case e.ActorID != 0:
		row.Who = q.T("user #{id} (erased)", "id", e.ActorID)
	case by == "terminal":
		row.Who = q.T("the site owner, at the terminal")
	case strings.HasPrefix(by, "module:"):
		row.Who = q.T("the module {name}", "name", strings.TrimPrefix(by, "module:"))
	default:
		row.Who = q.T("the site itself")
	}
	row.IP, _ = d["ip"].(string)
	var rest []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range d {
			if !yield(k) {
				return
			}
		}
	}) {
		if k == "ip" || k == "by" || k == "user_id" {
			continue
		}
		rest = append(rest, fmt.Sprintf("%s: %v", k, d[k]))
	}
	row.Details = strings.Join(rest, "; ")
	return row
}

// handleAudit shows the audit log: ?action= (exact, or a prefix ending in
// "."), ?actor= (a username, "terminal", "module:NAME"), ?subject=,
// ?from= and ?to= (dates, inclusive), ?before= (an entry id: the page
// after it).
func (a *Area) handleAudit(w http.ResponseWriter, r *http.Request, q *request) {
	v := r.URL.Query()
	d := auditPage{Action: v.Get("action"), Actor: strings.TrimSpace(v.Get("actor")), Subject: strings.TrimSpace(v.Get("subject")),
		From: v.Get("from"), To: v.Get("to")}
	for _, g := range actionGroups {
		d.Groups = append(d.Groups, option{Value: g.Value, Label: q.T(g.Label)})
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range actionWords {
			if !yield(k) {
				return
			}
		}
	}) {
		d.Actions = append(d.Actions, option{Value: name, Label: q.T(actionWords[name]) + " (" + name + ")"})
	}
	aq := site.AuditQuery{Action: d.Action, Actor: d.Actor, Subject: d.Subject, Limit: auditPageSize}
	bad := func(msg string) {
		a.show(w, r, q, http.StatusBadRequest, "audit.html", page{Title: i18n.Key("Audit log"), Data: d, Error: msg})
	}
	day := func(s string) (time.Time, bool) {
		t, err := time.ParseInLocation("2006-01-02", s, time.Local)
		return t, err == nil
	}
	if d.From != "" {
		t, ok := day(d.From)
		if !ok {
			bad(q.T("Dates are written 2024-01-31."))
			return
		}
		aq.Since = t
	}
	if d.To != "" {
		t, ok := day(d.To)
		if !ok {
			bad(q.T("Dates are written 2024-01-31."))
			return
		}
		aq.Until = t.AddDate(0, 0, 1)
	}
	if b := v.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			bad(q.T("That page of the audit log does not exist."))
			return
		}
		aq.Before = n
	}
	entries, err := a.cfg.Site.Store().AuditLog(r.Context(), aq)
	if errors.Is(err, site.ErrInvalidAuditQuery) {
		bad(q.T("That filter cannot be used: pick an action from the list, and type at most 200 characters."))
		return
	}
	if err != nil {
		a.fail(w, r, q, "reading the audit log failed", err)
		return
	}
	for _, e := range entries {
		d.Entries = append(d.Entries, auditRowOf(q, e))
	}
	link := func(before int64) string {
		u := url.Values{}
		for k, val := range map[string]string{"action": d.Action, "actor": d.Actor, "subject": d.Subject, "from": d.From, "to": d.To} {
			if val != "" {
				u.Set(k, val)
			}
		}
		if before > 0 {
			u.Set("before", strconv.FormatInt(before, 10))
		}
		return Prefix + "/audit?" + u.Encode()
	}
	if len(entries) == auditPageSize {
		d.Older = link(entries[len(entries)-1].ID)
	}
	if aq.Before != 0 {
		d.Newest = link(0)
	}
	a.show(w, r, q, http.StatusOK, "audit.html", page{Title: i18n.Key("Audit log"), Data: d})
}

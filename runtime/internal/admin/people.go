package admin

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The Users pages (admins only): the list and search of the site's
// accounts, each user's page with its roles, ban, suspension, password,
// sessions, addresses and recent events, and the actions on them. Every
// action goes through site.Store's user services as the signed-in admin
// (site.Actor with the admin's id and address), which enforce the site's
// rules (the last admin stays an admin) and audit it. Actions that grant
// powers (a role, a new password) ask for the admin's password again;
// bans and suspensions are confirmed on a page of their own first.

// usersPageSize is the length of a page of the user list.
const usersPageSize = 50

// actor is the signed-in admin acting on the site from r's address.
func actor(r *http.Request, q *request) site.Actor {
	return site.Actor{UserID: q.user.ID, IP: clientIP(r)}
}

// when formats a time for q's pages (see whenIn).
func when(q *request, t time.Time) string { return whenIn(q.p, t) }

// usersPage is users.html's data.
type usersPage struct {
	Search, Role, State, Sort string
	Users                     []userRow
	Total, From, To           int
	Prev, Next                string // other pages' URLs ("" for none)
}

// userRow is a user of the list.
type userRow struct {
	ID                         int64
	Username, DisplayName      string
	Email                      string
	Roles                      []string // translated
	State, StateClass          string
	Created, LastSeen          string
	Banned, Suspended, IsAdmin bool
}

// roleLabels names the roles for the pages.
var roleLabels = map[site.Role]string{
	site.RoleAdmin:   i18n.Key("Admin"),
	site.RoleStaff:   i18n.Key("Staff"),
	site.RoleAuditor: i18n.Key("Auditor"),
}

// roleHelp says what each role may do.
var roleHelp = map[site.Role]string{
	site.RoleAdmin:   i18n.Key("runs the whole site, this admin area included"),
	site.RoleStaff:   i18n.Key("uses the staff tools modules offer (moderation, tickets)"),
	site.RoleAuditor: i18n.Key("reads the dashboard, the audit log and the system logs, and changes nothing"),
}

// grantable lists the roles an admin grants, most powerful first.
var grantable = []site.Role{site.RoleAdmin, site.RoleStaff, site.RoleAuditor}

// stateOf says a user's state in words, with its CSS class.
func stateOf(q *request, st *site.UserStatus) (text, class string) {
	switch {
	case st.Banned:
		return q.T("Banned"), "error"
	case !st.SuspendedUntil.IsZero():
		return q.T("Suspended until {time}", "time", when(q, st.SuspendedUntil)), "warn"
	}
	return q.T("Active"), "ok"
}

func roleNames(q *request, roles []site.Role) []string {
	var out []string
	for _, r := range roles {
		if l, ok := roleLabels[r]; ok {
			out = append(out, q.T(l))
		}
	}
	return out
}

// handleUsers lists and searches the site's users: ?q= searches
// usernames, display names and e-mail addresses; ?role=, ?state= filter;
// ?sort= orders (name, created, seen); ?page= pages.
func (a *Area) handleUsers(w http.ResponseWriter, r *http.Request, q *request) {
	v := r.URL.Query()
	d := usersPage{Search: strings.TrimSpace(v.Get("q")), Role: v.Get("role"), State: v.Get("state"), Sort: v.Get("sort")}
	if d.Sort == "" {
		d.Sort = string(site.SortByName)
	}
	pageNo := 1
	if p := v.Get("page"); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > site.MaxUserOffset/usersPageSize {
			a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("That page of the list does not exist."))
			return
		}
		pageNo = n
	}
	list, total, err := a.cfg.Site.Store().ListUsers(r.Context(), site.UserQuery{
		Search: d.Search, Role: site.Role(d.Role), State: site.UserState(d.State), Sort: site.UserSort(d.Sort),
		Offset: (pageNo - 1) * usersPageSize, Limit: usersPageSize,
	})
	if errors.Is(err, site.ErrInvalidUserQuery) {
		a.show(w, r, q, http.StatusBadRequest, "users.html", page{Title: i18n.Key("Users"), Data: d,
			Error: q.T("That search cannot be done: search with at most 100 characters, and pick the filters from the lists.")})
		return
	}
	if err != nil {
		a.fail(w, r, q, "listing users failed", err)
		return
	}
	for i := range list {
		u := &list[i]
		text, class := stateOf(q, &u.UserStatus)
		d.Users = append(d.Users, userRow{
			ID: u.ID, Username: u.Username, DisplayName: u.DisplayName, Email: u.Email,
			Roles: roleNames(q, u.Granted), State: text, StateClass: class,
			Created: when(q, u.Created), LastSeen: when(q, u.LastSeen),
			Banned: u.Banned, Suspended: !u.SuspendedUntil.IsZero(), IsAdmin: u.Has(site.RoleAdmin),
		})
	}
	d.Total = total
	if len(list) > 0 {
		d.From, d.To = (pageNo-1)*usersPageSize+1, (pageNo-1)*usersPageSize+len(list)
	}
	link := func(n int) string {
		u := url.Values{}
		for k, val := range map[string]string{"q": d.Search, "role": d.Role, "state": d.State, "sort": d.Sort} {
			if val != "" {
				u.Set(k, val)
			}
		}
		if n > 1 {
			u.Set("page", strconv.Itoa(n))
		}
		return Prefix + "/users?" + u.Encode()
	}
	if pageNo > 1 {
		d.Prev = link(pageNo - 1)
	}
	if pageNo*usersPageSize < total {
		d.Next = link(pageNo + 1)
	}
	a.show(w, r, q, http.StatusOK, "users.html", page{Title: i18n.Key("Users"), Data: d})
}

// userPage is user.html's data.
type userPage struct {
	site.UserStatus
	State, StateClass string
	Created           string
	SuspendedUntil    string
	Self              bool // the signed-in admin's own account
	Roles             []roleRow
	CanGrant          []roleRow
	Sessions          []sessionRow
	Addresses         []addressRow
	Events            []eventRow
	Audit             []auditRow
	AuditLink         string
	MinPassword       int
	Durations         []option
}

type roleRow struct{ Role, Label, Help string }

type sessionRow struct {
	ID, Area, Started, Expires string
}

type addressRow struct{ Address, First, Last string }

type eventRow struct{ What, At string }

// option is an entry of a <select>.
type option struct{ Value, Label string }

// field is a hidden field of a form.
type field struct{ Name, Value string }

// suspensions are the lengths a suspension form offers.
var suspensions = []struct {
	d     time.Duration
	label string
}{
	{time.Hour, i18n.Key("1 hour")},
	{24 * time.Hour, i18n.Key("1 day")},
	{3 * 24 * time.Hour, i18n.Key("3 days")},
	{7 * 24 * time.Hour, i18n.Key("1 week")},
	{30 * 24 * time.Hour, i18n.Key("30 days")},
}

// eventWords says a user event in words.
var eventWords = map[string]string{
	site.EventSessionEnded: i18n.Key("a session ended"),
	site.EventBanned:       i18n.Key("banned"),
	site.EventUnbanned:     i18n.Key("ban lifted"),
	site.EventSuspended:    i18n.Key("suspended"),
	site.EventKicked:       i18n.Key("disconnected"),
	site.EventRoles:        i18n.Key("roles changed"),
	site.EventPassword:     i18n.Key("password changed"),
}

// doneMessages are the notices a user page shows after an action
// (?done=…), so that reloading it repeats nothing.
var doneMessages = map[string]string{
	"ban":        i18n.Key("The user is banned: their sessions ended, and they cannot sign in."),
	"unban":      i18n.Key("The ban is lifted: the user can sign in again."),
	"suspend":    i18n.Key("The user is suspended: their sessions ended."),
	"unsuspend":  i18n.Key("The suspension is lifted: the user can sign in again."),
	"password":   i18n.Key("The new password is set: the user was signed out everywhere and signs in with it."),
	"grant":      i18n.Key("The role is granted."),
	"revoke":     i18n.Key("The role is removed."),
	"session":    i18n.Key("The session has ended: that device is signed out."),
	"sessions":   i18n.Key("All the user's sessions have ended: every device is signed out."),
	"nosessions": i18n.Key("The user had no session."),
}

// userID reads the {id} of a user route; it answers 404 and returns false
// when it names no user.
func (a *Area) userID(w http.ResponseWriter, r *http.Request, q *request) (int64, bool) {
	id, err := strconv.ParseInt(chi.URLParam(r, "id"), 10, 64)
	if err != nil || id <= 0 {
		a.message(w, r, q, http.StatusNotFound, i18n.Key("No such user"), i18n.Key("There is no such user: the account may have been erased."))
		return 0, false
	}
	return id, true
}

// handleUser shows a user's page.
func (a *Area) handleUser(w http.ResponseWriter, r *http.Request, q *request) {
	id, ok := a.userID(w, r, q)
	if !ok {
		return
	}
	a.showUser(w, r, q, id, http.StatusOK, doneMessages[r.URL.Query().Get("done")], "")
}

// showUser renders user id's page with a notice (a catalogue key) or an
// error (translated).
func (a *Area) showUser(w http.ResponseWriter, r *http.Request, q *request, id int64, status int, notice, errText string) {
	ctx := r.Context()
	st := a.cfg.Site.Store()
	u, err := st.LookupUser(ctx, "", id)
	if errors.Is(err, site.ErrUnknownUser) {
		a.message(w, r, q, http.StatusNotFound, i18n.Key("No such user"), i18n.Key("There is no such user: the account may have been erased."))
		return
	}
	if err != nil {
		a.fail(w, r, q, "reading a user failed", err)
		return
	}
	d := userPage{UserStatus: *u, Created: when(q, u.Created), SuspendedUntil: when(q, u.SuspendedUntil), Self: u.ID == q.user.ID,
		MinPassword: site.MinPasswordLen, AuditLink: Prefix + "/audit?" + url.Values{"subject": {u.Username}}.Encode()}
	d.State, d.StateClass = stateOf(q, u)
	for _, role := range grantable {
		row := roleRow{Role: string(role), Label: q.T(roleLabels[role]), Help: q.T(roleHelp[role])}
		if u.Has(role) {
			d.Roles = append(d.Roles, row)
		} else {
			d.CanGrant = append(d.CanGrant, row)
		}
	}
	for _, s := range suspensions {
		d.Durations = append(d.Durations, option{Value: s.d.String(), Label: q.T(s.label)})
	}
	sessions, err := st.UserSessions(ctx, id)
	if err != nil {
		a.fail(w, r, q, "listing sessions failed", err)
		return
	}
	for _, s := range sessions {
		area := q.T("Site")
		if s.Area == site.AreaAdmin {
			area = q.T("Admin area")
		}
		d.Sessions = append(d.Sessions, sessionRow{ID: s.ID, Area: area, Started: when(q, s.Started), Expires: when(q, s.Expires)})
	}
	addrs, err := st.UserAddresses(ctx, id)
	if err != nil {
		a.fail(w, r, q, "listing addresses failed", err)
		return
	}
	for _, ad := range addrs {
		text := ad.Prefix.String()
		if ad.Prefix.IsSingleIP() {
			text = ad.Prefix.Addr().String()
		}
		d.Addresses = append(d.Addresses, addressRow{Address: text, First: when(q, ad.First), Last: when(q, ad.Last)})
	}
	events, err := st.RecentUserEvents(ctx, id, 20)
	if err != nil {
		a.fail(w, r, q, "listing user events failed", err)
		return
	}
	for _, e := range events {
		what := e.Kind
		if k, ok := eventWords[e.Kind]; ok {
			what = q.T(k)
		}
		d.Events = append(d.Events, eventRow{What: what, At: when(q, e.At)})
	}
	entries, err := st.AuditLog(ctx, site.AuditQuery{Subject: u.Username, Limit: 10})
	if err != nil {
		a.fail(w, r, q, "reading the audit log failed", err)
		return
	}
	for _, e := range entries {
		d.Audit = append(d.Audit, auditRowOf(q, e))
	}
	a.show(w, r, q, status, "user.html", page{Title: i18n.Key("User"), Data: d, Message: notice, Error: errText})
}

// userError answers a refused user action on the user's page, with the
// site's rule in plain words; an unexpected error fails the page.
func (a *Area) userError(w http.ResponseWriter, r *http.Request, q *request, id int64, err error) {
	status, msg := actionError(q, err)
	if status == 0 {
		a.fail(w, r, q, "a user action failed", err)
		return
	}
	a.log.Info("user action refused", "admin", q.user.Username, "user", id, "path", r.URL.Path, "error", err)
	a.showUser(w, r, q, id, status, "", msg)
}

// actionError maps the site's refusals to a status and a message in the
// page's language (status 0: not a refusal, an unexpected error).
func actionError(q *request, err error) (int, string) {
	if e, ok := errors.AsType[*site.PasswordError](err); ok {
		switch e.Reason {
		case site.PasswordTooShort:
			return http.StatusBadRequest, q.T("That password is too short: use at least {n} characters. Any characters work; a few unrelated words make a good password.", "n", site.MinPasswordLen)
		case site.PasswordTooLong:
			return http.StatusBadRequest, q.T("That password is too long: use at most {n} characters.", "n", site.MaxPasswordLen)
		case site.PasswordHasUsername:
			return http.StatusBadRequest, q.T("The password must not contain the username.")
		default:
			return http.StatusBadRequest, q.T("That password is too easy to guess: it is a common or leaked password, a variation of one, or a sequence or repetition. Please choose another; a few unrelated words make a good password.")
		}
	}
	switch {
	case errors.Is(err, site.ErrLastAdmin):
		return http.StatusConflict, q.T("This is the site's last active admin: it must stay an admin, and cannot be banned or suspended. Make another user an admin first.")
	case errors.Is(err, site.ErrUnknownUser):
		return http.StatusNotFound, q.T("There is no such user: the account may have been erased.")
	case errors.Is(err, site.ErrInvalidReason):
		return http.StatusBadRequest, q.T("The reason is too long (at most 500 characters) or holds characters that cannot be kept.")
	case errors.Is(err, site.ErrInvalidUntil):
		return http.StatusBadRequest, q.T("The end date must be in the future.")
	case errors.Is(err, site.ErrInvalidPrefix):
		return http.StatusBadRequest, q.T("That is not an address (such as 203.0.113.7) or a network (such as 203.0.113.0/24).")
	case errors.Is(err, site.ErrNoBlock):
		return http.StatusNotFound, q.T("There is no block of exactly that address or network: it may have been lifted already.")
	case errors.Is(err, site.ErrInvalidRole):
		return http.StatusBadRequest, q.T("Choose a role from the list: admin, staff or auditor.")
	case errors.Is(err, site.ErrNoSession):
		return http.StatusNotFound, q.T("That session has ended already.")
	case errors.Is(err, site.ErrProtected), errors.Is(err, site.ErrNotYours):
		return http.StatusForbidden, q.T("The site's rules do not allow this.")
	}
	return 0, ""
}

// done sends the admin back to user id's page with a notice.
func done(w http.ResponseWriter, r *http.Request, id int64, what string) {
	http.Redirect(w, r, Prefix+"/users/"+strconv.FormatInt(id, 10)+"?done="+what, http.StatusSeeOther)
}

// confirmPage is confirm.html's data: a question asked before a
// destructive action, and the form that goes ahead.
type confirmPage struct {
	Question, Warning string
	Action            string // the path the form posts to
	Fields            []field
	Button            string
	Back              string
}

// confirmed says whether the form was confirmed; otherwise it shows the
// confirmation page, carrying the form's fields over.
func (a *Area) confirmed(w http.ResponseWriter, r *http.Request, q *request, title string, c confirmPage, fields ...string) bool {
	if r.PostForm.Get("confirm") == "yes" {
		return true
	}
	c.Action = r.URL.Path
	for _, f := range fields {
		c.Fields = append(c.Fields, field{Name: f, Value: r.PostForm.Get(f)})
	}
	a.show(w, r, q, http.StatusOK, "confirm.html", page{Title: title, Data: c})
	return false
}

// target reads the user of an action's route, for its page's texts.
func (a *Area) target(w http.ResponseWriter, r *http.Request, q *request) (*site.UserStatus, bool) {
	id, ok := a.userID(w, r, q)
	if !ok {
		return nil, false
	}
	u, err := a.cfg.Site.Store().LookupUser(r.Context(), "", id)
	if errors.Is(err, site.ErrUnknownUser) {
		a.message(w, r, q, http.StatusNotFound, i18n.Key("No such user"), i18n.Key("There is no such user: the account may have been erased."))
		return nil, false
	}
	if err != nil {
		a.fail(w, r, q, "reading a user failed", err)
		return nil, false
	}
	return u, true
}

func userPath(id int64) string { return Prefix + "/users/" + strconv.FormatInt(id, 10) }

// handleBan bans a user, once confirmed.
func (a *Area) handleBan(w http.ResponseWriter, r *http.Request, q *request) {
	u, ok := a.target(w, r, q)
	if !ok {
		return
	}
	c := confirmPage{
		Question: q.T("Ban {user}? Their sessions end at once, they cannot sign in, and the addresses they used cannot sign in or register until you lift the ban.", "user", u.Username),
		Button:   q.T("Yes, ban {user}", "user", u.Username), Back: userPath(u.ID),
	}
	if u.ID == q.user.ID {
		c.Warning = q.T("This is your own account: you will be signed out of this admin area.")
	}
	if !a.confirmed(w, r, q, i18n.Key("Ban a user"), c, "reason") {
		return
	}
	if err := a.cfg.Site.Store().Ban(r.Context(), actor(r, q), u.ID, strings.TrimSpace(r.PostForm.Get("reason"))); err != nil {
		a.userError(w, r, q, u.ID, err)
		return
	}
	a.log.Info("user banned", "admin", q.user.Username, "user", u.Username)
	done(w, r, u.ID, "ban")
}

// handleUnban lifts a user's ban.
func (a *Area) handleUnban(w http.ResponseWriter, r *http.Request, q *request) {
	id, ok := a.userID(w, r, q)
	if !ok {
		return
	}
	if err := a.cfg.Site.Store().Unban(r.Context(), actor(r, q), id); err != nil {
		a.userError(w, r, q, id, err)
		return
	}
	done(w, r, id, "unban")
}

// suspendUntil reads a suspension form's end: a date (that day's start,
// the server's time zone), else a length from now.
func suspendUntil(form url.Values) (time.Time, bool) {
	if day := strings.TrimSpace(form.Get("until")); day != "" {
		t, err := time.ParseInLocation("2006-01-02", day, time.Local)
		return t, err == nil
	}
	d, err := time.ParseDuration(form.Get("for"))
	return time.Now().Add(d), err == nil && d > 0
}

// handleSuspend suspends a user, once confirmed.
func (a *Area) handleSuspend(w http.ResponseWriter, r *http.Request, q *request) {
	u, ok := a.target(w, r, q)
	if !ok {
		return
	}
	until, ok := suspendUntil(r.PostForm)
	if !ok {
		a.showUser(w, r, q, u.ID, http.StatusBadRequest, "", q.T("Choose how long the suspension lasts, or the date it ends."))
		return
	}
	if !until.After(time.Now()) {
		a.userError(w, r, q, u.ID, site.ErrInvalidUntil)
		return
	}
	c := confirmPage{
		Question: q.T("Suspend {user} until {time}? Their sessions end at once, and they cannot sign in before then.", "user", u.Username, "time", when(q, until)),
		Button:   q.T("Yes, suspend {user}", "user", u.Username), Back: userPath(u.ID),
	}
	if u.ID == q.user.ID {
		c.Warning = q.T("This is your own account: you will be signed out of this admin area.")
	}
	if !a.confirmed(w, r, q, i18n.Key("Suspend a user"), c, "reason", "for", "until") {
		return
	}
	if err := a.cfg.Site.Store().Suspend(r.Context(), actor(r, q), u.ID, until, strings.TrimSpace(r.PostForm.Get("reason"))); err != nil {
		a.userError(w, r, q, u.ID, err)
		return
	}
	a.log.Info("user suspended", "admin", q.user.Username, "user", u.Username, "until", until)
	done(w, r, u.ID, "suspend")
}

// handleUnsuspend lifts a user's suspension.
func (a *Area) handleUnsuspend(w http.ResponseWriter, r *http.Request, q *request) {
	id, ok := a.userID(w, r, q)
	if !ok {
		return
	}
	if err := a.cfg.Site.Store().Unsuspend(r.Context(), actor(r, q), id); err != nil {
		a.userError(w, r, q, id, err)
		return
	}
	done(w, r, id, "unsuspend")
}

// handlePassword sets a user's password: typed twice, the box "the user
// is signed out everywhere" ticked, and the admin's own password
// confirmed (a new password gives whoever knows it the account).
func (a *Area) handlePassword(w http.ResponseWriter, r *http.Request, q *request) {
	id, ok := a.userID(w, r, q)
	if !ok {
		return
	}
	pw := r.PostForm.Get("new_password")
	switch {
	case pw != r.PostForm.Get("repeat_password"):
		a.showUser(w, r, q, id, http.StatusBadRequest, "", q.T("The two new passwords differ: type the same password twice."))
		return
	case r.PostForm.Get("confirm") != "yes":
		a.showUser(w, r, q, id, http.StatusBadRequest, "", q.T("Tick the box to confirm that the user will be signed out everywhere."))
		return
	}
	if !a.reauthenticate(w, r, q) {
		return
	}
	if err := a.cfg.Site.Store().SetPassword(r.Context(), actor(r, q), id, pw); err != nil {
		a.userError(w, r, q, id, err)
		return
	}
	a.log.Info("user password set", "admin", q.user.Username, "user", id)
	done(w, r, id, "password")
}

// handleRole grants (with the admin's password) or removes a role.
func (a *Area) handleRole(w http.ResponseWriter, r *http.Request, q *request) {
	id, ok := a.userID(w, r, q)
	if !ok {
		return
	}
	role := site.Role(r.PostForm.Get("role"))
	if _, known := roleLabels[role]; !known {
		a.userError(w, r, q, id, site.ErrInvalidRole)
		return
	}
	st := a.cfg.Site.Store()
	switch r.PostForm.Get("change") {
	case "grant":
		if !a.reauthenticate(w, r, q) {
			return
		}
		if err := st.GrantRole(r.Context(), actor(r, q), id, role); err != nil {
			a.userError(w, r, q, id, err)
			return
		}
		a.log.Info("role granted", "admin", q.user.Username, "user", id, "role", role)
		done(w, r, id, "grant")
	case "revoke":
		if err := st.RevokeRole(r.Context(), actor(r, q), id, role); err != nil {
			a.userError(w, r, q, id, err)
			return
		}
		a.log.Info("role removed", "admin", q.user.Username, "user", id, "role", role)
		done(w, r, id, "revoke")
	default:
		a.message(w, r, q, http.StatusBadRequest, i18n.Key("Bad request"), i18n.Key("The form could not be read."))
	}
}

// handleEndSession ends one of a user's sessions.
func (a *Area) handleEndSession(w http.ResponseWriter, r *http.Request, q *request) {
	id, ok := a.userID(w, r, q)
	if !ok {
		return
	}
	if err := a.cfg.Site.Store().EndSession(r.Context(), actor(r, q), id, r.PostForm.Get("session")); err != nil {
		a.userError(w, r, q, id, err)
		return
	}
	done(w, r, id, "session")
}

// handleEndSessions ends all of a user's sessions.
func (a *Area) handleEndSessions(w http.ResponseWriter, r *http.Request, q *request) {
	id, ok := a.userID(w, r, q)
	if !ok {
		return
	}
	n, err := a.cfg.Site.Store().EndSessions(r.Context(), actor(r, q), id)
	if err != nil {
		a.userError(w, r, q, id, err)
		return
	}
	if n == 0 {
		done(w, r, id, "nosessions")
		return
	}
	done(w, r, id, "sessions")
}

// detailOf decodes an audit entry's detail (nil when it is no object).
func detailOf(raw string) map[string]any {
	var m map[string]any
	if json.Unmarshal([]byte(raw), &m) != nil {
		return nil
	}
	return m
}

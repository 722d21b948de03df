package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

// The moderation page (capabilities.admin_pages "moderation"): the chat's
// open connections, the newest entries of its audit table, and forms to
// kick and ban, which do what the commands do (commands.go). The page is
// assets/templates/admin_moderation.html, rendered by the runtime in the
// admin area's language; a POST answers 303 to "?done=ACTION&user=NAME",
// or the page again with the error (400).

// maxAuditShown is how many audit entries the page shows.
const maxAuditShown = 50

func init() {
	sdk.AdminPage("moderation", http.HandlerFunc(moderationPage))
}

// moderationData is what admin_moderation.html reads.
type moderationData struct {
	Clients      []clientRow  `json:"Clients"`
	OtherClients int          `json:"OtherClients"`
	ClientsError string       `json:"ClientsError"`
	Audit        []auditEntry `json:"Audit"`
	Done         string       `json:"Done"` // kick, ban: what the last POST did
	DoneUser     string       `json:"DoneUser"`
	Error        string       `json:"Error"`
	Kick         formValues   `json:"Kick"`
	Ban          formValues   `json:"Ban"`
}

// formValues are a form's fields, shown again after an error.
type formValues struct {
	User    string `json:"User"`
	Seconds string `json:"Seconds"`
	Reason  string `json:"Reason"`
}

// auditEntry is a row of the chat's audit table as the page shows it.
type auditEntry struct {
	At     string `json:"At"`
	Actor  string `json:"Actor"`
	Action string `json:"Action"`
	Detail string `json:"Detail"`
}

func moderationPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := moderationData{Kick: formValues{Seconds: "600"}}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		admin := sdk.UserFrom(r)
		by := commander{Name: "admin area"}
		if admin != nil {
			by = commander{ID: admin.ID, Name: fmt.Sprintf("admin %s (id %d), admin area", admin.Username, admin.ID)}
		}
		action := r.FormValue("action")
		f := formValues{User: strings.TrimSpace(r.FormValue("user")), Seconds: strings.TrimSpace(r.FormValue("seconds")), Reason: r.FormValue("reason")}
		var err error
		switch action {
		case "kick":
			d.Kick = f
			secs, perr := strconv.ParseInt(f.Seconds, 10, 64)
			if perr != nil {
				err = fmt.Errorf("seconds must be a whole number from 1 to %d", maxKickSeconds)
				break
			}
			_, err = kickUser(ctx, by, f.User, secs, f.Reason)
		case "ban":
			d.Ban = f
			_, err = banUser(ctx, by, f.User, f.Reason)
		default:
			err = fmt.Errorf("unknown action %q", action)
		}
		if err == nil {
			q := url.Values{"done": {action}, "user": {f.User}}
			w.Header().Set("Location", "?"+q.Encode())
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		d.Error = sentence(err.Error())
		status = http.StatusBadRequest
	} else if done := r.URL.Query().Get("done"); done == "kick" || done == "ban" {
		d.Done, d.DoneUser = done, r.URL.Query().Get("user")
	}
	var err error
	if d.Clients, d.OtherClients, err = chatClients(ctx); err != nil {
		d.ClientsError = sentence(err.Error())
	}
	if d.Audit, err = recentAudit(ctx, maxAuditShown); err != nil {
		sdk.Logger().Error("moderation page: audit", "error", err)
		http.Error(w, "could not read the chat's audit", http.StatusInternalServerError)
		return
	}
	sdk.Render(w, status, "admin_moderation.html", d)
}

// sentence capitalizes an error message and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// recentAudit reads the newest entries of the chat's audit table.
func recentAudit(ctx context.Context, n int) ([]auditEntry, error) {
	rows, err := sdk.DB().QueryContext(ctx, `
		SELECT a.at, coalesce(a.detail->>'actor', u.username, CASE WHEN a.actor_id IS NULL THEN 'terminal' ELSE 'user ' || a.actor_id END),
			a.action, a.detail::text
		FROM audit a LEFT JOIN websonic_api.users u ON u.id = a.actor_id
		ORDER BY a.id DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer rows.Close()
	out := []auditEntry{}
	for rows.Next() {
		var (
			e      auditEntry
			at     time.Time
			detail string
		)
		if err := rows.Scan(&at, &e.Actor, &e.Action, &detail); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		e.At = at.UTC().Format("2006-01-02 15:04:05")
		e.Detail = describeAudit([]byte(detail))
		out = append(out, e)
	}
	return out, rows.Err()
}

// describeAudit writes an audit entry's detail for people: its fields as
// "name: value", the actor left out (it has its own column).
func describeAudit(detail []byte) string {
	var m map[string]any
	if err := json.Unmarshal(detail, &m); err != nil {
		return string(detail)
	}
	order := []string{"username", "a_name", "b_name", "seconds", "until", "reason", "generated", "role", "connections_closed"}
	var parts []string
	seen := map[string]bool{"actor": true, "user": true, "a": true, "b": true}
	add := func(k string) {
		v, ok := m[k]
		if !ok || seen[k] {
			return
		}
		seen[k] = true
		if s, ok := v.(string); ok && s == "" {
			return
		}
		b, _ := json.Marshal(v)
		s := string(b)
		if str, ok := v.(string); ok {
			s = str
		}
		parts = append(parts, strings.ReplaceAll(k, "_", " ")+": "+s)
	}
	for _, k := range order {
		add(k)
	}
	var rest []string
	for k := range m {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		add(k)
	}
	return strings.Join(parts, "; ")
}

// socialAudit records an admin action in the chat's audit table (tx: in
// that transaction; nil: on its own). actorID 0 is the site's owner at the
// terminal.
func socialAudit(ctx context.Context, tx *sql.Tx, actorID int64, action string, detail map[string]any) error {
	b, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	var actor any
	if actorID != 0 {
		actor = actorID
	}
	const q = `INSERT INTO audit (actor_id, action, detail) VALUES ($1, $2, $3::jsonb)`
	if tx != nil {
		_, err = tx.ExecContext(ctx, q, actor, action, string(b))
	} else {
		_, err = sdk.DB().ExecContext(ctx, q, actor, action, string(b))
	}
	if err != nil {
		return fmt.Errorf("audit %s: %w", action, err)
	}
	return nil
}

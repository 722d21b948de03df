package main

import (
	"context"
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
	At     string      `json:"At"`
	Actor  string      `json:"Actor"`
	Action string      `json:"Action"`
	Parts  []auditPart `json:"Parts"`
}

// auditPart is one field of an audit entry's detail: its name, which the
// page translates (auditLabels), and its value as it is.
type auditPart struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
	Sep   bool   `json:"Sep"` // not the first: a separator before it
}

// auditLabels name the audit detail's fields for people (the page
// translates them); a field not named here shows its key.
var auditLabels = map[string]string{
	"user": "user", "author": "author", "room": "room", "name": "name", "seconds": "seconds", "until": "until",
	"reason": "reason", "generated": "generated", "role": "role", "connections_closed": "connections closed", "via": "via",
}

func moderationPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := moderationData{Kick: formValues{Seconds: "600"}}
	status := http.StatusOK
	if r.Method == http.MethodPost {
		by := commander{Via: "admin area"}
		if admin := sdk.UserFrom(r); admin != nil {
			by.ID = admin.ID
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

// recentAudit reads the newest entries of the chat's audit table, the
// users and rooms they name by id named as they are now ("deleted user"
// once erased).
func recentAudit(ctx context.Context, n int) ([]auditEntry, error) {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT at, coalesce(actor_id, 0), action, detail::text FROM audit ORDER BY id DESC LIMIT $1`, n)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	type raw struct {
		at     time.Time
		actor  int64
		action string
		detail map[string]any
	}
	var (
		entries []raw
		users   []int64
		rooms   []int64
	)
	for rows.Next() {
		var (
			e      raw
			detail string
		)
		if err := rows.Scan(&e.at, &e.actor, &e.action, &detail); err != nil {
			rows.Close()
			return nil, fmt.Errorf("audit: %w", err)
		}
		if json.Unmarshal([]byte(detail), &e.detail) != nil {
			e.detail = map[string]any{"detail": detail}
		}
		if e.actor != 0 {
			users = append(users, e.actor)
		}
		for k, v := range e.detail {
			if id, ok := v.(float64); ok && id > 0 {
				switch {
				case auditUserKeys[k]:
					users = append(users, int64(id))
				case k == "room":
					rooms = append(rooms, int64(id))
				}
			}
		}
		entries = append(entries, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	names, err := usernames(ctx, users)
	if err != nil {
		return nil, err
	}
	roomName, err := roomNames(ctx, rooms)
	if err != nil {
		return nil, err
	}
	out := make([]auditEntry, 0, len(entries))
	for _, e := range entries {
		actor := "terminal"
		if e.actor != 0 {
			actor = names[e.actor]
		}
		out = append(out, auditEntry{
			At: e.at.UTC().Format("2006-01-02 15:04:05"), Actor: actor, Action: e.action,
			Parts: auditParts(e.detail, names, roomName),
		})
	}
	return out, nil
}

// auditUserKeys are the detail fields that hold a user's id.
var auditUserKeys = map[string]bool{"user": true, "author": true, "a": true, "b": true}

// usernames names users by id ("deleted user" for those no longer there).
func usernames(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := map[int64]string{}
	for _, id := range ids {
		out[id] = deletedUser.DisplayName
	}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := sdk.DB().QueryContext(ctx, `SELECT id, username FROM websonic_api.users WHERE id = ANY($1::bigint[])`, int64Array(ids))
	if err != nil {
		return nil, fmt.Errorf("usernames: %w", err)
	}
	if err := scanNames(rows, out); err != nil {
		return nil, fmt.Errorf("usernames: %w", err)
	}
	return out, nil
}

// describeAudit writes an audit entry's detail for people: its fields as
// "name: value" (users and rooms by their names), the common ones first.
func describeAudit(detail map[string]any, users, rooms map[int64]string) string {
	var out []string
	for _, p := range auditParts(detail, users, rooms) {
		out = append(out, p.Key+": "+p.Value)
	}
	return strings.Join(out, "; ")
}

// auditParts are an audit entry's detail fields as describeAudit writes
// them, for the page to translate their names.
func auditParts(detail map[string]any, users, rooms map[int64]string) []auditPart {
	order := []string{"user", "a", "b", "author", "room", "name", "seconds", "until", "reason", "generated", "role", "connections_closed", "via"}
	seen := map[string]bool{}
	var parts []auditPart
	add := func(k string) {
		v, ok := detail[k]
		if !ok || seen[k] {
			return
		}
		seen[k] = true
		var s string
		switch x := v.(type) {
		case string:
			if x == "" {
				return
			}
			s = x
		case float64:
			switch {
			case auditUserKeys[k]:
				s = users[int64(x)]
			case k == "room":
				s = rooms[int64(x)]
			}
		}
		if s == "" {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		label, ok := auditLabels[k]
		if !ok {
			label = strings.ReplaceAll(k, "_", " ")
		}
		parts = append(parts, auditPart{Key: label, Value: s, Sep: len(parts) > 0})
	}
	for _, k := range order {
		add(k)
	}
	var rest []string
	for k := range detail {
		if !seen[k] {
			rest = append(rest, k)
		}
	}
	sort.Strings(rest)
	for _, k := range rest {
		add(k)
	}
	return parts
}

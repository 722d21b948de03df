package site

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/theme"
)

// AuditEntry is one row of the audit log as its readers see it.
type AuditEntry struct {
	ID      int64
	At      time.Time
	ActorID int64  // 0: the system or the terminal
	Actor   string // the actor's username ("" for none)
	Action  string
	Subject string
	Detail  string // JSON
}

// AuditQuery selects a page of the audit log, newest first.
type AuditQuery struct {
	// Action is an exact action ("user.ban") or, ending in ".", a prefix
	// ("user."); "" for all.
	Action string
	// Actor is who acted: a username, or what detail.by names
	// ("terminal", "module:chat", "user:12"); "" for anyone.
	Actor string
	// Subject is exactly what was acted on (a username, a module, an
	// address); "" for anything.
	Subject string
	// Since and Until bound when (Since inclusive, Until exclusive; zero:
	// unbounded).
	Since, Until time.Time
	// Before returns entries with an id below it (0: the newest).
	Before int64
	// Limit bounds the page (1 to 500; 0: 50).
	Limit int
}

// auditActionRE is what an action filter may be.
var auditActionRE = regexp.MustCompile(`^[a-z0-9_.:-]{1,64}$`)

// auditText is what an actor or subject filter may be: at most 200
// characters of valid UTF-8 without control characters.
func auditText(s string) bool {
	return len(s) <= 200 && checkReason(s) == nil && !strings.Contains(s, "\n")
}

// AuditLog returns a page of the audit log, newest first. An invalid
// filter is ErrInvalidAuditQuery.
func (s *Store) AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	if q.Limit == 0 {
		q.Limit = 50
	}
	if q.Limit < 1 || q.Limit > 500 || q.Before < 0 || (q.Action != "" && !auditActionRE.MatchString(q.Action)) ||
		!auditText(q.Actor) || !auditText(q.Subject) {
		return nil, ErrInvalidAuditQuery
	}
	var since, until *time.Time
	if !q.Since.IsZero() {
		since = &q.Since
	}
	if !q.Until.IsZero() {
		until = &q.Until
	}
	exact, prefix := q.Action, ""
	if n := len(q.Action); n > 0 && q.Action[n-1] == '.' {
		exact, prefix = "", q.Action
	}
	rows, err := s.pool.Query(ctx, `SELECT a.id, a.at, coalesce(a.actor_id, 0), coalesce(u.username, ''), a.action, a.subject, a.detail::text
		FROM websonic.audit_log a LEFT JOIN websonic.users u ON u.id = a.actor_id
		WHERE ($1 = 0 OR a.id < $1)
		  AND ($2 = '' OR a.action = $2)
		  AND ($3 = '' OR starts_with(a.action, $3))
		  AND ($5 = '' OR u.username = lower($5) OR a.detail->>'by' = $5)
		  AND ($6 = '' OR a.subject = $6)
		  AND ($7::timestamptz IS NULL OR a.at >= $7)
		  AND ($8::timestamptz IS NULL OR a.at < $8)
		ORDER BY a.id DESC LIMIT $4`, q.Before, exact, prefix, q.Limit, q.Actor, q.Subject, since, until)
	if err != nil {
		return nil, fmt.Errorf("site: audit log: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[AuditEntry])
	if err != nil {
		return nil, fmt.Errorf("site: audit log: %w", err)
	}
	return out, nil
}

// auditPage is what audit.html shows.
type auditPage struct {
	Action  string
	Entries []AuditEntry
	Older   string // the next page's URL, "" for none
}

// auditPageSize is the audit page's length.
const auditPageSize = 50

// handleAudit serves GET /account/audit: the audit log, newest first, 50
// entries a page (?before=ID pages on), filtered by ?action= (exact, or a
// prefix ending in "."). Admins and auditors only.
func (s *Site) handleAudit(w http.ResponseWriter, r *http.Request) {
	u := UserFrom(r.Context())
	if !u.Has(RoleAdmin) && !u.Has(RoleAuditor) {
		s.Deny(w, r, u, RoleAuditor)
		return
	}
	q := AuditQuery{Action: r.URL.Query().Get("action"), Limit: auditPageSize}
	if b := r.URL.Query().Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			s.render(w, r, http.StatusBadRequest, theme.PageError, pageData{Title: i18n.Key("Bad request"), Message: s.Printer(r).T("That page of the audit log does not exist.")})
			return
		}
		q.Before = n
	}
	entries, err := s.store.AuditLog(r.Context(), q)
	if err == ErrInvalidAuditQuery {
		s.render(w, r, http.StatusBadRequest, theme.PageError, pageData{Title: i18n.Key("Bad request"), Message: s.Printer(r).T("Filter by an action such as user.ban, or a prefix such as user.")})
		return
	}
	if err != nil {
		s.fail(w, r, "reading the audit log failed", err)
		return
	}
	p := auditPage{Action: q.Action, Entries: entries}
	if len(entries) == auditPageSize {
		v := url.Values{"before": {strconv.FormatInt(entries[len(entries)-1].ID, 10)}}
		if q.Action != "" {
			v.Set("action", q.Action)
		}
		p.Older = "/account/audit?" + v.Encode()
	}
	s.render(w, r, http.StatusOK, theme.PageAudit, pageData{Title: i18n.Key("Audit log"), Audit: &p})
}

// forTheme is p as themes see it (nil for nil).
func (p *auditPage) forTheme() *theme.Audit {
	if p == nil {
		return nil
	}
	a := &theme.Audit{Action: p.Action, Older: p.Older, Entries: make([]theme.AuditEntry, len(p.Entries))}
	for i, e := range p.Entries {
		a.Entries[i] = theme.AuditEntry{ID: e.ID, At: e.At, Actor: e.Actor, Action: e.Action, Subject: e.Subject, Detail: e.Detail}
	}
	return a
}

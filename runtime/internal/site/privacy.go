package site

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/coredb"
)

// PrivacySettings are the owner's privacy rules (websonic.privacy_settings).
// A retention rule of 0 is off.
type PrivacySettings struct {
	// EraseGraceDays is how long a deletion the user asked for waits,
	// 0-365 (14): signing in meanwhile offers to cancel it.
	EraseGraceDays int `json:"erase_grace_days"`
	// AuditDays: audit log entries older than this are deleted (0: kept).
	AuditDays int `json:"audit_days"`
	// IPDays: the addresses users came from, and the addresses in audit
	// entries, older than this go (0: kept; user_ips keeps 20 per user).
	IPDays int `json:"ip_days"`
	// InactiveMonths: accounts without a sign-in (nor a live session)
	// for this long are erased, admins excepted (0: never).
	InactiveMonths int `json:"inactive_months"`
	// Updated is when the owner last changed them.
	Updated time.Time `json:"updated"`
}

// ErrInvalidPrivacySettings: a setting outside its range.
var ErrInvalidPrivacySettings = errors.New("site: invalid privacy settings")

// Validate checks each setting's range.
func (ps PrivacySettings) Validate() error {
	var bad []string
	check := func(name string, v, lo, hi int) {
		if v != 0 && (v < lo || v > hi) || v < 0 {
			bad = append(bad, fmt.Sprintf("%s must be off (0) or %d to %d, got %d", name, lo, hi, v))
		}
	}
	if ps.EraseGraceDays < 0 || ps.EraseGraceDays > 365 {
		bad = append(bad, fmt.Sprintf("erase grace must be 0 to 365 days, got %d", ps.EraseGraceDays))
	}
	check("audit log retention", ps.AuditDays, 1, 36500)
	check("IP address retention", ps.IPDays, 1, 36500)
	check("inactive accounts", ps.InactiveMonths, 1, 1200)
	if len(bad) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidPrivacySettings, strings.Join(bad, "; "))
	}
	return nil
}

func nullIfZero(v int) *int {
	if v == 0 {
		return nil
	}
	return &v
}

// PrivacySettings reads the owner's privacy rules.
func (s *Store) PrivacySettings(ctx context.Context) (PrivacySettings, error) {
	return readPrivacySettings(ctx, s.pool)
}

// Querier is what reading the privacy settings needs of a pool or a
// transaction.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func readPrivacySettings(ctx context.Context, db Querier) (PrivacySettings, error) {
	var ps PrivacySettings
	err := db.QueryRow(ctx, `SELECT erase_grace_days, coalesce(audit_days, 0), coalesce(ip_days, 0), coalesce(inactive_months, 0), updated_at
		FROM websonic.privacy_settings`).Scan(&ps.EraseGraceDays, &ps.AuditDays, &ps.IPDays, &ps.InactiveMonths, &ps.Updated)
	if err != nil {
		return ps, fmt.Errorf("site: privacy settings: %w", err)
	}
	return ps, nil
}

// SetPrivacySettings replaces the owner's privacy rules (ps.Updated is
// ignored). Errors: ErrInvalidPrivacySettings (nothing changes), or a
// wrapped database error. Audited as "privacy.settings" with the old and
// new values.
func (s *Store) SetPrivacySettings(ctx context.Context, a Actor, ps PrivacySettings) error {
	if err := ps.Validate(); err != nil {
		return err
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		old, err := readPrivacySettings(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE websonic.privacy_settings SET erase_grace_days = $1, audit_days = $2, ip_days = $3,
			inactive_months = $4, updated_at = now()`, ps.EraseGraceDays, nullIfZero(ps.AuditDays), nullIfZero(ps.IPDays), nullIfZero(ps.InactiveMonths)); err != nil {
			return err
		}
		detail := map[string]any{"by": a.String(), "old": old, "new": ps}
		a.addIP(detail)
		return coredb.Audit(ctx, tx, a.UserID, "privacy.settings", "", detail)
	})
	if err != nil && !errors.Is(err, ErrInvalidPrivacySettings) {
		return fmt.Errorf("site: set privacy settings: %w", err)
	}
	return err
}

// RequestErasure schedules the erasure of user id's account (their own
// request) after the owner's grace period from now: every session of
// theirs ends at once (site and admin area, sockets closed), and the
// erasure job erases the account when it is due unless they cancel
// (CancelErasure, offered when they sign in). Asking again keeps the
// first due time. Errors: ErrUnknownUser, ErrLastAdmin (the last active
// admin must hand over first). Audited as "user.erase_requested".
func (s *Store) RequestErasure(ctx context.Context, a Actor, id int64, now time.Time) (due time.Time, err error) {
	err = s.act(ctx, a, "", id, func(tx pgx.Tx, t *target) error {
		if err := t.leaveAdmins(); err != nil {
			return err
		}
		ps, err := readPrivacySettings(ctx, tx)
		if err != nil {
			return err
		}
		due = now.Add(time.Duration(ps.EraseGraceDays) * 24 * time.Hour).UTC()
		if err := tx.QueryRow(ctx, `UPDATE websonic.users SET erase_after = coalesce(erase_after, $2) WHERE id = $1 RETURNING erase_after`,
			t.id, due).Scan(&due); err != nil {
			return err
		}
		if err := endSessions(ctx, tx, t.id, EventKicked); err != nil {
			return err
		}
		return t.audit(ctx, tx, "user.erase_requested", map[string]any{"due": due, "grace_days": ps.EraseGraceDays})
	})
	return due, wrapAct(err, "request erasure of user %d", id)
}

// CancelErasure cancels the pending erasure of user id; false when none
// was pending. Audited as "user.erase_cancelled".
func (s *Store) CancelErasure(ctx context.Context, a Actor, id int64) (bool, error) {
	var cancelled bool
	err := s.act(ctx, a, "", id, func(tx pgx.Tx, t *target) error {
		tag, err := tx.Exec(ctx, `UPDATE websonic.users SET erase_after = NULL WHERE id = $1 AND erase_after IS NOT NULL`, t.id)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		cancelled = true
		return t.audit(ctx, tx, "user.erase_cancelled", nil)
	})
	return cancelled, wrapAct(err, "cancel erasure of user %d", id)
}

// ErasurePending returns when user id's requested erasure is due, or the
// zero time when none is pending.
func (s *Store) ErasurePending(ctx context.Context, id int64) (time.Time, error) {
	var due *time.Time
	err := s.pool.QueryRow(ctx, `SELECT erase_after FROM websonic.users WHERE id = $1 AND erased_at IS NULL`, id).Scan(&due)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, ErrUnknownUser
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("site: erasure of user %d: %w", id, err)
	}
	if due == nil {
		return time.Time{}, nil
	}
	return *due, nil
}

// DueErasures lists up to limit accounts whose requested erasure is due
// at now, the oldest request first.
func (s *Store) DueErasures(ctx context.Context, now time.Time, limit int) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM websonic.users WHERE erase_after <= $1 AND erased_at IS NULL
		ORDER BY erase_after, id LIMIT $2`, now, limit)
	if err != nil {
		return nil, fmt.Errorf("site: due erasures: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("site: due erasures: %w", err)
	}
	return ids, nil
}

// InactiveAccounts lists up to limit accounts that have not signed in
// (nor registered) for months at now and hold no live session; admins are
// never listed (the owner removes an admin by hand).
func (s *Store) InactiveAccounts(ctx context.Context, now time.Time, months, limit int) ([]int64, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id FROM websonic.users u
		WHERE u.erased_at IS NULL AND coalesce(u.last_login_at, u.created_at) < $1::timestamptz - make_interval(months => $2)
		  AND NOT EXISTS (SELECT 1 FROM websonic.sessions s WHERE s.user_id = u.id AND s.expires_at > $1)
		  AND NOT EXISTS (SELECT 1 FROM websonic.user_roles r WHERE r.user_id = u.id AND r.role = 'admin')
		ORDER BY coalesce(u.last_login_at, u.created_at), u.id LIMIT $3`, now, months, limit)
	if err != nil {
		return nil, fmt.Errorf("site: inactive accounts: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("site: inactive accounts: %w", err)
	}
	return ids, nil
}

// PruneSessions deletes the sessions (site and admin area) expired at now
// and returns how many went. The site sweeps them every few minutes
// anyway (reads ignore them); the retention job does it once more, so
// that the rule holds on a replica that serves no requests.
func (s *Store) PruneSessions(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, table := range []string{SiteSessions, AdminSessions} {
			tag, err := tx.Exec(ctx, `DELETE FROM `+table+` WHERE expires_at <= $1`, now)
			if err != nil {
				return err
			}
			n += tag.RowsAffected()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("site: prune sessions: %w", err)
	}
	return n, nil
}

// PruneAudit deletes the audit log's entries older than days at now and
// returns how many went.
func (s *Store) PruneAudit(ctx context.Context, now time.Time, days int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM websonic.audit_log WHERE at < $1::timestamptz - make_interval(days => $2)`, now, days)
	if err != nil {
		return 0, fmt.Errorf("site: prune audit log: %w", err)
	}
	return tag.RowsAffected(), nil
}

// PruneAddresses forgets the addresses older than days at now: the rows
// of websonic.user_ips last seen before, and the "ip" of the audit
// entries made before. It returns how many of each went.
func (s *Store) PruneAddresses(ctx context.Context, now time.Time, days int) (addresses, audit int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM websonic.user_ips WHERE last_seen < $1::timestamptz - make_interval(days => $2)`, now, days)
		if err != nil {
			return err
		}
		addresses = tag.RowsAffected()
		tag, err = tx.Exec(ctx, `UPDATE websonic.audit_log SET detail = detail - 'ip'
			WHERE at < $1::timestamptz - make_interval(days => $2) AND detail ? 'ip'`, now, days)
		audit = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("site: prune addresses: %w", err)
	}
	return addresses, audit, nil
}

// noteLogin records a sign-in's time (the inactive accounts rule).
func (s *Store) noteLogin(ctx context.Context, id int64) error {
	if _, err := s.pool.Exec(ctx, `UPDATE websonic.users SET last_login_at = now() WHERE id = $1`, id); err != nil {
		return fmt.Errorf("site: note sign-in: %w", err)
	}
	return nil
}

// Activity is one line of the site's record of processing (GDPR Art.
// 30): a kind of personal data, whose it is, why it is kept and for how
// long, and who declared it (the core, or a module at a version).
type Activity struct {
	Source    string   `json:"source"` // "core" or the module's name
	Version   string   `json:"version,omitempty"`
	Category  string   `json:"category"`
	Subjects  string   `json:"subjects"`
	Purpose   string   `json:"purpose"`
	Retention string   `json:"retention"`
	Fields    []string `json:"fields,omitempty"`
}

// ProcessingRecord is the site's record of processing: the core's
// activities, then every module's, in the modules' name order.
type ProcessingRecord struct {
	Format     string     `json:"format"` // RecordFormat
	Site       string     `json:"site"`
	Generated  time.Time  `json:"generated"`
	Activities []Activity `json:"activities"`
}

// RecordFormat names the layout of a ProcessingRecord document.
const RecordFormat = "websonic-processing-record/1"

// WriteCSV writes the record's activities as CSV with a header row.
func (r *ProcessingRecord) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"source", "version", "category", "subjects", "purpose", "retention", "fields"}) //nolint:errcheck // cw.Error below
	for _, a := range r.Activities {
		cw.Write([]string{csvSafe(a.Source), csvSafe(a.Version), csvSafe(a.Category), csvSafe(a.Subjects), csvSafe(a.Purpose), //nolint:errcheck
			csvSafe(a.Retention), csvSafe(strings.Join(a.Fields, " "))})
	}
	cw.Flush()
	return cw.Error()
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (a
// module's declaration is the module author's text).
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// retentionText says a retention rule in words.
func retentionText(n int, unit, off string) string {
	if n == 0 {
		return off
	}
	return strconv.Itoa(n) + " " + unit
}

// CoreActivities are what the core itself keeps about people, with the
// retention the owner's settings give it; sessionTTL is the sessions'
// lifetime.
func CoreActivities(ps PrivacySettings, sessionTTL time.Duration) []Activity {
	if sessionTTL <= 0 {
		sessionTTL = defaultSessionTTL
	}
	inactive := "until the account is erased (by its user, after a grace period of " + strconv.Itoa(ps.EraseGraceDays) + " days, or by an admin)"
	if ps.InactiveMonths > 0 {
		inactive = "until the account is erased, or after " + strconv.Itoa(ps.InactiveMonths) + " months without a sign-in"
	}
	return []Activity{
		{Source: "core", Category: "account", Subjects: "users", Purpose: "Sign users in and show who they are: username, display name, e-mail address, password hash, roles",
			Retention: inactive, Fields: []string{"users", "user_roles"}},
		{Source: "core", Category: "sessions", Subjects: "users", Purpose: "Keep users signed in",
			Retention: "until sign-out or expiry (" + strconv.Itoa(int(sessionTTL.Hours()/24)) + " days); expired sessions are deleted within minutes",
			Fields:    []string{"sessions", "admin_sessions"}},
		{Source: "core", Category: "IP addresses", Subjects: "users", Purpose: "Refuse banned users' addresses and slow password guessing (the newest 20 per user)",
			Retention: retentionText(ps.IPDays, "days after last use", "until the account is erased"), Fields: []string{"user_ips", "audit_log.detail"}},
		{Source: "core", Category: "audit log", Subjects: "users and staff", Purpose: "Account for sign-ins, admin and security actions, exports and erasures",
			Retention: retentionText(ps.AuditDays, "days", "kept; an erased account is only an id"), Fields: []string{"audit_log"}},
	}
}

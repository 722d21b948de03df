package site

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/coredb"
)

// CoreExport is what the core keeps about a user, as a personal data
// export shows it (core.json).
type CoreExport struct {
	Account   ExportAccount   `json:"account"`
	Sessions  []ExportSession `json:"sessions"`
	Addresses []ExportAddress `json:"addresses"`
	// Audit is the audit log's entries by or about the user (newest
	// first, at most maxExportAudit).
	Audit []ExportAudit `json:"audit"`
}

// ExportAccount is the account in a CoreExport.
type ExportAccount struct {
	ID             int64      `json:"id"`
	Username       string     `json:"username"`
	DisplayName    string     `json:"display_name"`
	Email          string     `json:"email,omitempty"`
	Created        time.Time  `json:"created"`
	Roles          []string   `json:"roles"`
	Banned         bool       `json:"banned"`
	BanReason      string     `json:"ban_reason,omitempty"`
	SuspendedUntil *time.Time `json:"suspended_until,omitempty"`
	SuspendReason  string     `json:"suspend_reason,omitempty"`
}

// ExportSession is a session's metadata (never its token).
type ExportSession struct {
	Created time.Time `json:"created"`
	Expires time.Time `json:"expires"`
}

// ExportAddress is an address the user came from.
type ExportAddress struct {
	Address   string    `json:"address"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// ExportAudit is an audit log entry in an export.
type ExportAudit struct {
	ID      int64           `json:"id"`
	At      time.Time       `json:"at"`
	ByUser  bool            `json:"by_user"` // the user was the actor
	Action  string          `json:"action"`
	Subject string          `json:"subject"`
	Detail  json.RawMessage `json:"detail"`
}

// maxExportAudit bounds the audit entries of an export.
const maxExportAudit = 10_000

// ExportUser returns what the core keeps about user id (ErrUnknownUser if
// there is no such user, or it was erased).
func (s *Store) ExportUser(ctx context.Context, id int64) (*CoreExport, error) {
	st, err := s.LookupUser(ctx, "", id)
	if err != nil {
		return nil, err
	}
	ex := &CoreExport{Account: ExportAccount{
		ID: st.ID, Username: st.Username, DisplayName: st.DisplayName, Email: st.Email, Created: st.Created,
		Roles: st.Roles(), Banned: st.Banned, BanReason: st.BanReason, SuspendReason: st.SuspendReason,
	}}
	if !st.SuspendedUntil.IsZero() {
		ex.Account.SuspendedUntil = &st.SuspendedUntil
	}
	err = pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT created_at, expires_at FROM websonic.sessions WHERE user_id = $1 ORDER BY created_at`, id)
		if err != nil {
			return err
		}
		if ex.Sessions, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ExportSession]); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT host(ip) || '/' || masklen(ip), first_seen, last_seen FROM websonic.user_ips WHERE user_id = $1 ORDER BY last_seen DESC`, id)
		if err != nil {
			return err
		}
		if ex.Addresses, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ExportAddress]); err != nil {
			return err
		}
		rows, err = tx.Query(ctx, `SELECT id, at, coalesce(actor_id = $1, false), action, subject, detail FROM websonic.audit_log
			WHERE actor_id = $1 OR subject = $2 OR detail->>'user_id' = $3
			ORDER BY id DESC LIMIT $4`, id, st.Username, strconv.FormatInt(id, 10), maxExportAudit)
		if err != nil {
			return err
		}
		ex.Audit, err = pgx.CollectRows(rows, pgx.RowToStructByPos[ExportAudit])
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("site: export user %d: %w", id, err)
	}
	return ex, nil
}

// CheckErase returns the error EraseUser would return before changing
// anything: ErrUnknownUser, or ErrLastAdmin for the last active admin.
func (s *Store) CheckErase(ctx context.Context, id int64) error {
	err := s.act(ctx, Actor{}, "", id, func(tx pgx.Tx, t *target) error { return t.leaveAdmins() })
	return wrapAct(err, "erase user %d", id)
}

// ErasedName is the username an erased account keeps.
func ErasedName(id int64) string { return erasedPrefix + strconv.FormatInt(id, 10) }

// EraseUser anonymises the account of user id: its username becomes
// ErasedName(id), its display name "Erased user", and its email, password,
// roles, ban and suspension, sessions and addresses go; audit entries
// about it lose its username (their subject becomes ErasedName(id)) and
// addresses, and those by it the name in their actor (command.run). The id stays, so that the audit log and the modules' records
// keep meaning "one account" without saying whose; no one can sign in to
// it, and modules' core views no longer list it. Errors: ErrUnknownUser,
// ErrLastAdmin, or a wrapped database error. Audited as "user.erase" with
// detail (e.g. the modules that erased their part).
func (s *Store) EraseUser(ctx context.Context, a Actor, id int64, detail map[string]any) error {
	err := s.act(ctx, a, "", id, func(tx pgx.Tx, t *target) error {
		if err := t.leaveAdmins(); err != nil {
			return err
		}
		name := ErasedName(t.id)
		for _, st := range []struct {
			q    string
			args []any
		}{
			{`UPDATE websonic.users SET username = $2, display_name = 'Erased user', email = NULL, password_hash = '!',
				banned_at = NULL, ban_reason = '', banned_by = '', suspended_until = NULL, suspend_reason = '', erased_at = now()
				WHERE id = $1`, []any{t.id, name}},
			{`DELETE FROM websonic.user_roles WHERE user_id = $1`, []any{t.id}},
			{`DELETE FROM websonic.user_ips WHERE user_id = $1`, []any{t.id}},
			{`UPDATE websonic.audit_log SET subject = $1, detail = detail - 'ip' WHERE subject = $2`, []any{name, t.username}},
			{`UPDATE websonic.audit_log SET detail = detail - 'ip' WHERE actor_id = $1`, []any{t.id}},
			// The admin commands it ran name it "admin NAME (id N)".
			{`UPDATE websonic.audit_log SET detail = jsonb_set(detail, '{actor}', to_jsonb('admin ' || $2 || ' (id ' || $1::bigint || ')'))
				WHERE actor_id = $1 AND detail ? 'actor'`, []any{t.id, name}},
			// Exports carried by the request queue that no one collected.
			{`UPDATE websonic.module_requests SET result = '' WHERE action = 'user_export' AND args->>'user_id' = $1::bigint::text`, []any{t.id}},
		} {
			if _, err := tx.Exec(ctx, st.q, st.args...); err != nil {
				return err
			}
		}
		if err := endSessions(ctx, tx, t.id, EventKicked); err != nil {
			return err
		}
		if detail == nil {
			detail = map[string]any{}
		}
		detail["by"] = a.String()
		detail["user_id"] = t.id
		return coredb.Audit(ctx, tx, a.UserID, "user.erase", name, detail)
	})
	return wrapAct(err, "erase user %d", id)
}

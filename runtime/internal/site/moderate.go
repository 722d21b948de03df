package site

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/coredb"
)

// Actor is who acts on a user through the Store's user services: an admin
// on the site (UserID), the site owner at the terminal (the zero Actor),
// or a module (Module) acting for the user its call serves (UserID, or 0
// for none). It goes into the audit log (actor_id is UserID; detail.by is
// String), and a module actor is held to the limits of RATIONALE.md
// ("What modules may never do to users").
type Actor struct {
	UserID int64
	Module string
	// IP is the client address of an admin acting through the admin area
	// ("" otherwise); the audit log records it as detail.ip.
	IP string
}

// String names the actor as the audit log and websonic.users.banned_by do:
// "module:<name>", "user:<id>" or "terminal".
func (a Actor) String() string {
	switch {
	case a.Module != "":
		return "module:" + a.Module
	case a.UserID != 0:
		return "user:" + strconv.FormatInt(a.UserID, 10)
	}
	return "terminal"
}

// addIP records the actor's client address, if any, in an audit detail.
func (a Actor) addIP(detail map[string]any) {
	if a.IP != "" {
		detail["ip"] = a.IP
	}
}

// Limits of the user services.
const (
	maxReasonLen = 500 // characters of a ban, suspension or block reason
	// MaxSuspension is the longest suspension a module may impose (the
	// owner and admins may suspend for longer).
	MaxSuspension = 365 * 24 * time.Hour
	// MaxModuleBlock is the longest IP block a module may impose; a
	// module's block always ends.
	MaxModuleBlock = 90 * 24 * time.Hour
	// MinModulePrefixV4 and MinModulePrefixV6 are the widest networks a
	// module may block (a /24 of IPv4, a /48 of IPv6).
	MinModulePrefixV4 = 24
	MinModulePrefixV6 = 48
	// MaxModuleBlocks is how many blocks in force a module may hold.
	MaxModuleBlocks = 1000
	// maxUserIPs is how many addresses are kept per user (the newest).
	maxUserIPs = 20
)

// checkReason validates a reason for the audit log and the user's message.
func checkReason(s string) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxReasonLen {
		return ErrInvalidReason
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\n' {
			return ErrInvalidReason
		}
	}
	return nil
}

// target is a user locked for a change (see act).
type target struct {
	id       int64
	username string
	roles    []Role
	banned   bool
	bannedBy string
	// suspendedUntil is when the suspension in force ends (zero: none).
	suspendedUntil time.Time
	actor          Actor
	admins         []int64 // the active admins (not banned, suspended or erased), locked
}

func (t *target) has(r Role) bool { return (&User{Granted: t.roles}).Has(r) }

// leaveAdmins refuses to take the target out of the active admins when it
// is the last one.
func (t *target) leaveAdmins() error {
	if slices.Contains(t.admins, t.id) && len(t.admins) <= 1 {
		return ErrLastAdmin
	}
	return nil
}

// protected refuses a module acting on an admin, or (unless staffOK) on
// staff or an auditor: privileged accounts are the owner's to manage.
func (t *target) protected(staffOK bool) error {
	if t.actor.Module == "" {
		return nil
	}
	if t.has(RoleAdmin) || (!staffOK && (t.has(RoleStaff) || t.has(RoleAuditor))) {
		return ErrProtected
	}
	return nil
}

// audit records action about the target, with who did it.
func (t *target) audit(ctx context.Context, tx pgx.Tx, action string, detail map[string]any) error {
	if detail == nil {
		detail = map[string]any{}
	}
	detail["by"] = t.actor.String()
	detail["user_id"] = t.id
	t.actor.addIP(detail)
	return coredb.Audit(ctx, tx, t.actor.UserID, action, t.username, detail)
}

// act runs f in a transaction on the user named by username (or, when it
// is "", by id), after locking the active admins and then the user, so
// that concurrent changes cannot both see another admin left.
func (s *Store) act(ctx context.Context, a Actor, username string, id int64, f func(tx pgx.Tx, t *target) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		const admins = `SELECT u.id FROM websonic.users u
			JOIN websonic.user_roles r ON r.user_id = u.id AND r.role = 'admin'
			WHERE u.banned_at IS NULL AND u.erased_at IS NULL AND (u.suspended_until IS NULL OR u.suspended_until <= now())
			ORDER BY u.id`
		if _, err := tx.Exec(ctx, admins+` FOR UPDATE OF u`); err != nil {
			return err
		}
		// Read them again once locked: a concurrent role change updates
		// no users row, so the locking statement, which waited for it,
		// still saw the admins of its snapshot.
		rows, err := tx.Query(ctx, admins)
		if err != nil {
			return err
		}
		t := &target{actor: a}
		if t.admins, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		var roles []string
		var until *time.Time
		err = tx.QueryRow(ctx, `SELECT id, username, ARRAY(SELECT role FROM websonic.user_roles WHERE user_id = u.id),
				banned_at IS NOT NULL, banned_by, CASE WHEN suspended_until > now() THEN suspended_until END
			FROM websonic.users u WHERE (CASE WHEN $1 = '' THEN id = $2 ELSE username = $1 END) AND erased_at IS NULL
			FOR UPDATE`, username, id).Scan(&t.id, &t.username, &roles, &t.banned, &t.bannedBy, &until)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUnknownUser
		}
		if err != nil {
			return err
		}
		t.roles = toRoles(roles)
		if until != nil {
			t.suspendedUntil = *until
		}
		return f(tx, t)
	})
}

// domainErrors are returned as they are; other errors are wrapped.
var domainErrors = []error{
	ErrUnknownUser, ErrLastAdmin, ErrProtected, ErrNotYours, ErrWeakPassword, ErrInvalidRole,
	ErrInvalidReason, ErrInvalidPrefix, ErrInvalidUntil, ErrNoBlock, ErrInvalidUsername, ErrTooManyBlocks,
}

func wrapAct(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	for _, d := range domainErrors {
		if errors.Is(err, d) {
			return err
		}
	}
	return fmt.Errorf("site: %s: %w", fmt.Sprintf(format, args...), err)
}

// endSessions deletes every session of user id, on the site and in the
// admin area, and records kind, so that every replica closes the user's
// realtime sockets.
func endSessions(ctx context.Context, tx pgx.Tx, id int64, kind string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM websonic.sessions WHERE user_id = $1`, id); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM websonic.admin_sessions WHERE user_id = $1`, id); err != nil {
		return err
	}
	return RecordUserEvent(ctx, tx, id, kind)
}

// Ban disables the account of user id until Unban: its sessions end at
// once (event EventBanned: realtime sockets close), it cannot sign in,
// and the addresses it used are refused at login and registration while
// the ban lasts. Banning a banned user changes nothing. Errors:
// ErrUnknownUser, ErrLastAdmin (the last active admin), ErrProtected (a
// module banning an admin, staff or an auditor), ErrInvalidReason, or a
// wrapped database error. Audited as "user.ban".
func (s *Store) Ban(ctx context.Context, a Actor, id int64, reason string) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	err := s.act(ctx, a, "", id, func(tx pgx.Tx, t *target) error {
		if err := t.protected(false); err != nil {
			return err
		}
		if t.banned {
			return nil
		}
		if err := t.leaveAdmins(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE websonic.users SET banned_at = now(), ban_reason = $2, banned_by = $3 WHERE id = $1`,
			t.id, reason, a.String()); err != nil {
			return err
		}
		if err := endSessions(ctx, tx, t.id, EventBanned); err != nil {
			return err
		}
		return t.audit(ctx, tx, "user.ban", map[string]any{"reason": reason})
	})
	return wrapAct(err, "ban user %d", id)
}

// Unban lifts the ban of user id (a user who is not banned: nothing
// changes). A module lifts only the bans it placed itself (else
// ErrNotYours). Audited as "user.unban".
func (s *Store) Unban(ctx context.Context, a Actor, id int64) error {
	err := s.act(ctx, a, "", id, func(tx pgx.Tx, t *target) error {
		if !t.banned {
			return nil
		}
		if a.Module != "" && t.bannedBy != a.String() {
			return ErrNotYours
		}
		if _, err := tx.Exec(ctx, `UPDATE websonic.users SET banned_at = NULL, ban_reason = '', banned_by = '' WHERE id = $1`, t.id); err != nil {
			return err
		}
		if err := RecordUserEvent(ctx, tx, t.id, EventUnbanned); err != nil {
			return err
		}
		return t.audit(ctx, tx, "user.unban", nil)
	})
	return wrapAct(err, "unban user %d", id)
}

// Suspend keeps user id from signing in or using a session until until
// (a later time than now; for a module at most MaxSuspension away): its
// sessions end (event EventSuspended), and sign-in says when it may try
// again. It lifts itself: every check compares with the database's now().
// A new suspension replaces the current one; a module's never replaces one
// that ends later (ErrNotYours: it would lift the rest of someone else's
// suspension). Errors as Ban's, and ErrInvalidUntil. Audited as
// "user.suspend".
func (s *Store) Suspend(ctx context.Context, a Actor, id int64, until time.Time, reason string) error {
	if err := checkReason(reason); err != nil {
		return err
	}
	if d := time.Until(until); d <= 0 || (a.Module != "" && d > MaxSuspension+time.Minute) {
		return ErrInvalidUntil
	}
	err := s.act(ctx, a, "", id, func(tx pgx.Tx, t *target) error {
		if err := t.protected(false); err != nil {
			return err
		}
		if a.Module != "" && t.suspendedUntil.After(until) {
			return ErrNotYours
		}
		if err := t.leaveAdmins(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE websonic.users SET suspended_until = $2, suspend_reason = $3 WHERE id = $1`,
			t.id, until, reason); err != nil {
			return err
		}
		if err := endSessions(ctx, tx, t.id, EventSuspended); err != nil {
			return err
		}
		return t.audit(ctx, tx, "user.suspend", map[string]any{"until": until.UTC().Format(time.RFC3339), "reason": reason})
	})
	return wrapAct(err, "suspend user %d", id)
}

// Unsuspend lifts a suspension before its end. Audited as "user.unsuspend".
func (s *Store) Unsuspend(ctx context.Context, a Actor, id int64) error {
	err := s.act(ctx, a, "", id, func(tx pgx.Tx, t *target) error {
		if err := t.protected(false); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE websonic.users SET suspended_until = NULL, suspend_reason = '' WHERE id = $1 AND suspended_until > now()`, t.id)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		return t.audit(ctx, tx, "user.unsuspend", nil)
	})
	return wrapAct(err, "unsuspend user %d", id)
}

// SetPassword gives user id a new password, which must pass the password
// policy as at registration (*PasswordError otherwise); all the user's
// sessions end (event EventPassword). Errors as Ban's. Audited as
// "user.password" (never the password).
func (s *Store) SetPassword(ctx context.Context, a Actor, id int64, password string) error {
	var username string
	if err := s.pool.QueryRow(ctx, `SELECT username FROM websonic.users WHERE id = $1 AND erased_at IS NULL`, id).Scan(&username); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrUnknownUser
		}
		return fmt.Errorf("site: set password of user %d: %w", id, err)
	}
	if err := checkPassword(password, username); err != nil {
		return err
	}
	var hash string
	if err := s.withHashSlot(ctx, func() { hash = newHash(password, s.params) }); err != nil {
		return fmt.Errorf("site: set password of user %d: %w", id, err)
	}
	err := s.act(ctx, a, "", id, func(tx pgx.Tx, t *target) error {
		if err := t.protected(false); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE websonic.users SET password_hash = $2 WHERE id = $1`, t.id, hash); err != nil {
			return err
		}
		if err := endSessions(ctx, tx, t.id, EventPassword); err != nil {
			return err
		}
		return t.audit(ctx, tx, "user.password", nil)
	})
	return wrapAct(err, "set password of user %d", id)
}

// GrantRole grants user id role r (admin, staff or auditor; holding it
// already changes nothing). A module may grant staff only, and to no
// admin. Event EventRoles; audited as "user.role_grant".
func (s *Store) GrantRole(ctx context.Context, a Actor, id int64, r Role) error {
	return s.changeRole(ctx, a, id, r, true)
}

// RevokeRole removes role r from user id (not holding it changes
// nothing). The last active admin keeps admin (ErrLastAdmin). A module may
// remove staff only, and from no admin. Event EventRoles; audited as
// "user.role_revoke".
func (s *Store) RevokeRole(ctx context.Context, a Actor, id int64, r Role) error {
	return s.changeRole(ctx, a, id, r, false)
}

func (s *Store) changeRole(ctx context.Context, a Actor, id int64, r Role, grant bool) error {
	if !r.grantable() {
		return ErrInvalidRole
	}
	if a.Module != "" && r != RoleStaff {
		return ErrProtected
	}
	err := s.act(ctx, a, "", id, func(tx pgx.Tx, t *target) error {
		if err := t.protected(true); err != nil {
			return err
		}
		if slices.Contains(t.roles, r) == grant {
			return nil
		}
		q, action := `INSERT INTO websonic.user_roles (user_id, role) VALUES ($1, $2)`, "user.role_grant"
		if !grant {
			if r == RoleAdmin {
				if err := t.leaveAdmins(); err != nil {
					return err
				}
			}
			q, action = `DELETE FROM websonic.user_roles WHERE user_id = $1 AND role = $2`, "user.role_revoke"
		}
		if _, err := tx.Exec(ctx, q, t.id, string(r)); err != nil {
			return err
		}
		if err := RecordUserEvent(ctx, tx, t.id, EventRoles); err != nil {
			return err
		}
		return t.audit(ctx, tx, action, map[string]any{"role": r})
	})
	return wrapAct(err, "change roles of user %d", id)
}

// UserStatus is a user's account as the owner's commands show it.
type UserStatus struct {
	User
	Created        time.Time
	Banned         bool
	BanReason      string
	BannedBy       string
	SuspendedUntil time.Time // zero: not suspended now
	SuspendReason  string
}

// LookupUser returns the account named username (or, when it is "", the
// one with id id); ErrUnknownUser if there is none (erased accounts are
// none).
func (s *Store) LookupUser(ctx context.Context, username string, id int64) (*UserStatus, error) {
	var st UserStatus
	var roles []string
	var until *time.Time
	err := s.pool.QueryRow(ctx, `SELECT id, username, display_name, COALESCE(email, ''), created_at,
			ARRAY(SELECT role FROM websonic.user_roles WHERE user_id = u.id),
			banned_at IS NOT NULL, ban_reason, banned_by,
			CASE WHEN suspended_until > now() THEN suspended_until END, suspend_reason
		FROM websonic.users u WHERE (CASE WHEN $1 = '' THEN id = $2 ELSE username = $1 END) AND erased_at IS NULL`,
		normalizeUsername(username), id).
		Scan(&st.ID, &st.Username, &st.DisplayName, &st.Email, &st.Created, &roles, &st.Banned, &st.BanReason, &st.BannedBy, &until, &st.SuspendReason)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrUnknownUser
	}
	if err != nil {
		return nil, fmt.Errorf("site: look up user: %w", err)
	}
	st.Granted = toRoles(roles)
	if until != nil {
		st.SuspendedUntil = *until
	}
	return &st, nil
}

// ParsePrefix reads an address ("203.0.113.7", "2001:db8::1") as its
// single-address prefix, or a CIDR prefix ("203.0.113.0/24",
// "2001:db8::/48") whose host bits are clear; IPv4-mapped IPv6 addresses
// become IPv4. Errors: ErrInvalidPrefix.
func ParsePrefix(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, ErrInvalidPrefix
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if p != p.Masked() {
			return netip.Prefix{}, ErrInvalidPrefix
		}
		return p, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, ErrInvalidPrefix
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// IPBlock is a blocked address or network.
type IPBlock struct {
	Prefix    netip.Prefix
	Reason    string
	Until     time.Time // zero: until lifted
	Created   time.Time
	CreatedBy string
}

// BlockIP refuses every request from prefix (an address is its /32 or
// /128) until until (zero: until UnblockIP; else later than now), replacing
// any block of the same prefix. A module's block ends within
// MaxModuleBlock and covers at most a /24 (IPv4) or /48 (IPv6), never an
// address an admin, staff or auditor used (ErrProtected), and a module
// replaces only its own blocks (ErrNotYours); it holds at most
// MaxModuleBlocks in force (ErrTooManyBlocks). Errors: ErrInvalidPrefix,
// ErrInvalidUntil, ErrInvalidReason, ErrProtected, ErrNotYours, or a
// wrapped database error. Audited as "ip.block". This runtime applies it at
// once, other replicas within blockRefresh.
func (s *Store) BlockIP(ctx context.Context, a Actor, prefix netip.Prefix, until time.Time, reason string) error {
	if !prefix.IsValid() || prefix != prefix.Masked() {
		return ErrInvalidPrefix
	}
	if err := checkReason(reason); err != nil {
		return err
	}
	if !until.IsZero() && !until.After(time.Now()) {
		return ErrInvalidUntil
	}
	if a.Module != "" {
		min := MinModulePrefixV6
		if prefix.Addr().Is4() {
			min = MinModulePrefixV4
		}
		switch {
		case prefix.Bits() < min:
			return ErrInvalidPrefix
		case until.IsZero() || time.Until(until) > MaxModuleBlock+time.Minute:
			return ErrInvalidUntil
		}
	}
	var untilArg *time.Time
	if !until.IsZero() {
		untilArg = &until
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var by string
		err := tx.QueryRow(ctx, `SELECT created_by FROM websonic.ip_blocks WHERE prefix = $1 FOR UPDATE`, prefix).Scan(&by)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return err
		case a.Module != "" && by != a.String():
			return ErrNotYours
		}
		if a.Module != "" {
			// Never a network an admin, staff or auditor used: it would
			// lock them out as a ban would.
			var privileged bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM websonic.user_ips i
				JOIN websonic.user_roles r ON r.user_id = i.user_id AND r.role IN ('admin', 'staff', 'auditor')
				WHERE i.ip && $1::cidr)`, prefix).Scan(&privileged); err != nil {
				return err
			}
			if privileged {
				return ErrProtected
			}
			// A bound on the module's blocks in force (one replaced
			// here is not a new one). No lock: calls running at once may
			// pass it by their number (an advisory lock would be one any
			// module's role could hold to stall this).
			var n int
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM websonic.ip_blocks WHERE created_by = $1 AND until > now() AND prefix <> $2`,
				a.String(), prefix).Scan(&n); err != nil {
				return err
			}
			if n >= MaxModuleBlocks {
				return ErrTooManyBlocks
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO websonic.ip_blocks (prefix, reason, until, created_by) VALUES ($1, $2, $3, $4)
			ON CONFLICT (prefix) DO UPDATE SET reason = $2, until = $3, created_by = $4, created_at = now()`,
			prefix, reason, untilArg, a.String()); err != nil {
			return err
		}
		detail := map[string]any{"by": a.String(), "reason": reason}
		a.addIP(detail)
		if !until.IsZero() {
			detail["until"] = until.UTC().Format(time.RFC3339)
		}
		return coredb.Audit(ctx, tx, a.UserID, "ip.block", prefix.String(), detail)
	})
	s.blocks.invalidate()
	return wrapAct(err, "block %s", prefix)
}

// UnblockIP lifts the block of exactly prefix; ErrNoBlock if there is
// none. A module lifts only its own blocks (ErrNotYours). Audited as
// "ip.unblock".
func (s *Store) UnblockIP(ctx context.Context, a Actor, prefix netip.Prefix) error {
	if !prefix.IsValid() || prefix != prefix.Masked() {
		return ErrInvalidPrefix
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var by string
		err := tx.QueryRow(ctx, `SELECT created_by FROM websonic.ip_blocks WHERE prefix = $1 FOR UPDATE`, prefix).Scan(&by)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return ErrNoBlock
		case err != nil:
			return err
		case a.Module != "" && by != a.String():
			return ErrNotYours
		}
		if _, err := tx.Exec(ctx, `DELETE FROM websonic.ip_blocks WHERE prefix = $1`, prefix); err != nil {
			return err
		}
		detail := map[string]any{"by": a.String()}
		a.addIP(detail)
		return coredb.Audit(ctx, tx, a.UserID, "ip.unblock", prefix.String(), detail)
	})
	s.blocks.invalidate()
	return wrapAct(err, "unblock %s", prefix)
}

// IPBlocks lists the blocks in force, narrowest networks first.
func (s *Store) IPBlocks(ctx context.Context) ([]IPBlock, error) {
	rows, err := s.pool.Query(ctx, `SELECT prefix, reason, until, created_at, created_by FROM websonic.ip_blocks
		WHERE until IS NULL OR until > now() ORDER BY masklen(prefix) DESC, prefix`)
	if err != nil {
		return nil, fmt.Errorf("site: ip blocks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (IPBlock, error) {
		var b IPBlock
		var until *time.Time
		err := row.Scan(&b.Prefix, &b.Reason, &until, &b.Created, &b.CreatedBy)
		if until != nil {
			b.Until = *until
		}
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("site: ip blocks: %w", err)
	}
	return out, nil
}

// recordAddress remembers that user id came from p (its /32, or the /64 of
// an IPv6 address), keeping the newest maxUserIPs.
func (s *Store) recordAddress(ctx context.Context, id int64, p netip.Prefix) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO websonic.user_ips (user_id, ip) VALUES ($1, $2)
			ON CONFLICT (user_id, ip) DO UPDATE SET last_seen = now()`, id, p); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM websonic.user_ips WHERE user_id = $1 AND ip IN
			(SELECT ip FROM websonic.user_ips WHERE user_id = $1 ORDER BY last_seen DESC, ip OFFSET $2)`, id, maxUserIPs)
		return err
	})
	if err != nil {
		return fmt.Errorf("site: record address: %w", err)
	}
	return nil
}

// addressRefused returns ErrAddressBlocked when sign-ins and registrations
// from addr are refused: a block in force covers it, or a banned user came
// from it.
func (s *Store) addressRefused(ctx context.Context, addr netip.Addr) error {
	var refused bool
	if err := s.pool.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM websonic.ip_blocks WHERE prefix >>= $1::inet AND (until IS NULL OR until > now()))
			OR EXISTS (SELECT 1 FROM websonic.user_ips i JOIN websonic.users u ON u.id = i.user_id
			           WHERE i.ip >>= $1::inet AND u.banned_at IS NOT NULL AND u.erased_at IS NULL)`, addr).Scan(&refused); err != nil {
		return fmt.Errorf("site: check address: %w", err)
	}
	if refused {
		return ErrAddressBlocked
	}
	return nil
}

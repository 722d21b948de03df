package site

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"net/netip"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/coredb"
)

// Store keeps users and sessions in PostgreSQL (websonic.users and
// websonic.sessions). It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	params hashParams
	dummy  string        // a hash to verify against for unknown users
	hashes chan struct{} // semaphore bounding concurrent argon2 runs
	hashed atomic.Int64  // argon2 runs so far (tests count them)
	blocks *blockCache   // the IP blocks in force (blocks.go)

	seenMu sync.Mutex
	seen   *lru[time.Time] // "id prefix" → when last recorded (noteAddress)
}

// erasedPrefix starts the username of an erased account ("erased-<id>");
// no one may register such a name.
const erasedPrefix = "erased-"

// addressEvery is how often a session's use from the same address is
// written to websonic.user_ips (a sign-in always is).
const addressEvery = 10 * time.Minute

// NewUser is what CreateUser needs. Email and DisplayName are optional
// (DisplayName defaults to the username); Role "" means member.
type NewUser struct {
	Username, DisplayName, Email, Password string
	Role                                   Role
}

// NewStore returns a Store over pool, whose database coredb.Migrate has
// brought up to date. The pool stays the caller's.
func NewStore(pool *pgxpool.Pool) *Store {
	s := &Store{
		pool:   pool,
		params: defaultParams,
		hashes: make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		blocks: newBlockCache(pool),
		seen:   newLRU[time.Time](10_000),
	}
	// Verifying against this costs what a real verification costs; no
	// password matches it in practice (the key is random too).
	d := phc{hashParams: s.params, Salt: make([]byte, saltLen), Key: make([]byte, keyLen)}
	rand.Read(d.Salt)
	rand.Read(d.Key)
	s.dummy = d.String()
	return s
}

// usernameRE is the rule of the users.username CHECK constraint, before
// lowercasing (which is ASCII-only, so no Unicode folding sneaks in).
var usernameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{2,31}$`)

// normalizeUsername trims and lowercases a username as typed; it does not
// validate it.
func normalizeUsername(s string) string {
	s = strings.TrimSpace(s)
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// validUsername reports whether a normalized username is acceptable.
func validUsername(s string) bool { return usernameRE.MatchString(s) }

func checkDisplayName(s string) error {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) < 1 || utf8.RuneCountInString(s) > 64 {
		return ErrInvalidDisplayName
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return ErrInvalidDisplayName
		}
	}
	return nil
}

// checkEmail accepts a bare addr-spec such as name@example.com ("" means
// none).
func checkEmail(s string) error {
	if s == "" {
		return nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 {
		return ErrInvalidEmail
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || at == len(s)-1 || strings.ContainsAny(s, " \t\r\n") {
		return ErrInvalidEmail
	}
	return nil
}

// withHashSlot runs f, one argon2 hash or verification, under the
// semaphore that bounds their number (each takes ~19 MiB).
func (s *Store) withHashSlot(ctx context.Context, f func()) error {
	select {
	case s.hashes <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.hashes }()
	s.hashed.Add(1)
	f()
	return nil
}

// CreateUser validates nu and inserts the user, auditing "user.register".
// The audit actor is the signed-in user in ctx (an admin creating an account),
// else the new user itself. The password must pass the password policy (see
// checkPassword). Errors: ErrInvalidUsername, *PasswordError (matching
// ErrWeakPassword),
// ErrInvalidDisplayName, ErrInvalidEmail, ErrInvalidRole, ErrUsernameTaken
// (usernames are compared lowercased), or a wrapped database error.
func (s *Store) CreateUser(ctx context.Context, nu NewUser) (*User, error) {
	u := &User{
		Username:    normalizeUsername(nu.Username),
		DisplayName: strings.TrimSpace(nu.DisplayName),
		Email:       strings.TrimSpace(nu.Email),
	}
	role := nu.Role
	if role == "" {
		role = RoleMember
	}
	if role.grantable() {
		u.Granted = []Role{role}
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
	switch {
	case !validUsername(u.Username) || strings.HasPrefix(u.Username, erasedPrefix):
		return nil, ErrInvalidUsername
	case !role.valid():
		return nil, ErrInvalidRole
	}
	if err := checkPassword(nu.Password, u.Username); err != nil {
		return nil, err
	}
	if err := checkDisplayName(u.DisplayName); err != nil {
		return nil, err
	}
	if err := checkEmail(u.Email); err != nil {
		return nil, err
	}
	var hash string
	if err := s.withHashSlot(ctx, func() { hash = newHash(nu.Password, s.params) }); err != nil {
		return nil, fmt.Errorf("site: create user: %w", err)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO websonic.users (username, display_name, email, password_hash)
			VALUES ($1, $2, NULLIF($3, ''), $4) RETURNING id`,
			u.Username, u.DisplayName, u.Email, hash).Scan(&u.ID); err != nil {
			return err
		}
		if role.grantable() {
			if _, err := tx.Exec(ctx, `INSERT INTO websonic.user_roles (user_id, role) VALUES ($1, $2)`, u.ID, string(role)); err != nil {
				return err
			}
		}
		actor := u.ID
		if a := UserFrom(ctx); a != nil {
			actor = a.ID
		}
		return coredb.Audit(ctx, tx, actor, "user.register", u.Username, map[string]any{"role": role})
	})
	if err != nil {
		if pgErr, ok := errors.AsType[*pgconn.PgError](err); ok && pgErr.Code == "23505" {
			return nil, ErrUsernameTaken
		}
		return nil, fmt.Errorf("site: create user: %w", err)
	}
	return u, nil
}

// Authenticate checks username and password. It returns ErrUnknownUser or
// ErrWrongPassword, both after the same work (one database lookup, even for
// an invalid username, and one hash), so timing does not tell which; with
// the right password, ErrBanned or a *SuspendedError (with the
// suspension's end and reason) for a banned or suspended account (only
// someone who knows the password learns that); or a
// wrapped database error. Erased accounts are unknown. A password hashed with older
// parameters is rehashed with the current ones. It neither rate-limits nor
// audits: Site's login handler does both.
func (s *Store) Authenticate(ctx context.Context, username, password string) (*User, error) {
	username = normalizeUsername(username)
	var (
		u      User
		stored string
		found  bool
		banned bool
		until  *time.Time
		why    string
		roles  []string
	)
	key := username
	if !validUsername(key) {
		key = "" // matches no row, costs the same lookup
	}
	err := s.pool.QueryRow(ctx, `SELECT id, username, display_name, COALESCE(email, ''), password_hash,
			ARRAY(SELECT role FROM websonic.user_roles WHERE user_id = u.id),
			banned_at IS NOT NULL, CASE WHEN suspended_until > now() THEN suspended_until END, suspend_reason,
			erase_after IS NOT NULL
		FROM websonic.users u WHERE username = $1 AND erased_at IS NULL`, key).
		Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &stored, &roles, &banned, &until, &why, &u.ErasePending)
	switch {
	case err == nil:
		found = true
	case !errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("site: authenticate: %w", err)
	}
	if !found {
		stored = s.dummy
	}
	var ok, rehash bool
	var verr error
	if err := s.withHashSlot(ctx, func() { ok, rehash, verr = verifyHash(password, stored, s.params) }); err != nil {
		return nil, fmt.Errorf("site: authenticate: %w", err)
	}
	switch {
	case !found:
		return nil, ErrUnknownUser
	case verr != nil:
		return nil, fmt.Errorf("site: authenticate %q: %w", username, verr)
	case !ok:
		return nil, ErrWrongPassword
	case banned:
		return nil, ErrBanned
	case until != nil:
		return nil, &SuspendedError{Until: *until, Reason: why}
	}
	u.Granted = toRoles(roles)
	if rehash {
		var h string
		if err := s.withHashSlot(ctx, func() { h = newHash(password, s.params) }); err == nil {
			// Best effort: the old hash still works if this fails.
			s.pool.Exec(ctx, `UPDATE websonic.users SET password_hash = $2 WHERE id = $1 AND password_hash = $3`, u.ID, h, stored) //nolint:errcheck
		}
	}
	return &u, nil
}

// CountAdmins returns how many users hold the admin role (banned or
// suspended ones too).
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM websonic.user_roles WHERE role = 'admin'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("site: count admins: %w", err)
	}
	return n, nil
}

// SetRole gives the user the place r in the hierarchy admin ⊃ staff ⊃
// member (admin: grant admin; staff: grant staff, remove admin; member:
// remove both), leaving auditor as it is, and audits "user.role" with the
// signed-in user in ctx as actor (none: the system). Errors:
// ErrInvalidRole (auditor is not a place in the hierarchy: see GrantRole),
// ErrUnknownUser, ErrLastAdmin, or a wrapped database error. Setting the
// place a user already has is a no-op.
func (s *Store) SetRole(ctx context.Context, username string, r Role) error {
	username = normalizeUsername(username)
	if r != RoleAdmin && r != RoleStaff && r != RoleMember {
		return ErrInvalidRole
	}
	var a Actor
	if u := UserFrom(ctx); u != nil {
		a.UserID = u.ID
	}
	err := s.act(ctx, a, username, 0, func(tx pgx.Tx, t *target) error {
		want := map[Role]bool{RoleAdmin: r == RoleAdmin, RoleStaff: r == RoleStaff}
		old := RoleMember
		switch {
		case t.has(RoleAdmin):
			old = RoleAdmin
		case t.has(RoleStaff):
			old = RoleStaff
		}
		if old == r {
			return nil
		}
		if old == RoleAdmin {
			if err := t.leaveAdmins(); err != nil {
				return err
			}
		}
		for role, on := range want {
			q := `DELETE FROM websonic.user_roles WHERE user_id = $1 AND role = $2`
			if on {
				q = `INSERT INTO websonic.user_roles (user_id, role) VALUES ($1, $2) ON CONFLICT DO NOTHING`
			}
			if _, err := tx.Exec(ctx, q, t.id, string(role)); err != nil {
				return err
			}
		}
		if err := RecordUserEvent(ctx, tx, t.id, EventRoles); err != nil {
			return err
		}
		return t.audit(ctx, tx, "user.role", map[string]any{"from": old, "to": r})
	})
	return wrapAct(err, "set role of %q", username)
}

// noteAddress records that user id used p, unless this runtime recorded
// it within addressEvery (always when force: a sign-in).
func (s *Store) noteAddress(ctx context.Context, id int64, p netip.Prefix, force bool) error {
	key := strconv.FormatInt(id, 10) + " " + p.String()
	now := time.Now()
	s.seenMu.Lock()
	last, ok := s.seen.get(key)
	fresh := ok && now.Sub(last) < addressEvery
	if !fresh || force {
		s.seen.put(key, now)
	}
	s.seenMu.Unlock()
	if fresh && !force {
		return nil
	}
	return s.recordAddress(ctx, id, p)
}

// tokenHash is what websonic.sessions stores of a session token.
func tokenHash(token []byte) []byte {
	h := sha256.Sum256(token)
	return h[:]
}

// createSession stores a session for userID that lasts ttl.
func (s *Store) createSession(ctx context.Context, token []byte, userID int64, ttl time.Duration) error {
	if _, err := s.pool.Exec(ctx, `INSERT INTO websonic.sessions (token_hash, user_id, expires_at)
		VALUES ($1, $2, now() + make_interval(secs => $3))`, tokenHash(token), userID, ttl.Seconds()); err != nil {
		return fmt.Errorf("site: create session: %w", err)
	}
	return nil
}

// sessionUser returns the user of an unexpired session, or nil: also nil
// when the user is banned, suspended or erased, so that every path that
// resolves a session (pages, module requests, realtime re-checks) refuses
// them at once.
func (s *Store) sessionUser(ctx context.Context, token []byte) (*User, error) {
	return s.SessionUserIn(ctx, SiteSessions, token)
}

// Session tables SessionUserIn reads.
const (
	SiteSessions  = "websonic.sessions"       // the site's
	AdminSessions = "websonic.admin_sessions" // the admin area's (package admin)
)

// SessionUserIn returns the user of the unexpired session of token in
// table (SiteSessions or AdminSessions), or nil. It is the one rule of who
// may hold a session: banned, suspended and erased users may not, nor may
// a user whose erasure is pending hold one of the admin area (a site
// session of theirs reaches only the privacy page: Sessions).
func (s *Store) SessionUserIn(ctx context.Context, table string, token []byte) (*User, error) {
	if table != SiteSessions && table != AdminSessions {
		return nil, fmt.Errorf("site: no session table %q", table)
	}
	var u User
	var roles []string
	err := s.pool.QueryRow(ctx, `SELECT u.id, u.username, u.display_name, COALESCE(u.email, ''),
			ARRAY(SELECT role FROM websonic.user_roles WHERE user_id = u.id), u.erase_after IS NOT NULL
		FROM `+table+` s JOIN websonic.users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > now()
		  AND u.banned_at IS NULL AND u.erased_at IS NULL
		  AND (u.suspended_until IS NULL OR u.suspended_until <= now())`, tokenHash(token)).
		Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &roles, &u.ErasePending)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("site: read session: %w", err)
	case u.ErasePending && table == AdminSessions:
		return nil, nil
	}
	u.Granted = toRoles(roles)
	return &u, nil
}

// deleteSession removes a session and announces it (a user event, so
// that every replica closes the session's sockets); a missing one is not
// an error.
func (s *Store) deleteSession(ctx context.Context, token []byte) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var userID int64
		err := tx.QueryRow(ctx, `DELETE FROM websonic.sessions WHERE token_hash = $1 RETURNING user_id`, tokenHash(token)).Scan(&userID)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			return fmt.Errorf("site: delete session: %w", err)
		}
		return RecordUserEvent(ctx, tx, userID, EventSessionEnded)
	})
}

// deleteExpiredSessions removes expired sessions and returns how many.
func (s *Store) deleteExpiredSessions(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM websonic.sessions WHERE expires_at <= now()`)
	if err != nil {
		return 0, fmt.Errorf("site: sweep sessions: %w", err)
	}
	// Expired sessions need no event: whoever holds one checks its expiry.
	if _, err := s.pool.Exec(ctx, `DELETE FROM websonic.user_events WHERE at < now() - interval '1 day'`); err != nil {
		return 0, fmt.Errorf("site: sweep user events: %w", err)
	}
	return tag.RowsAffected(), nil
}

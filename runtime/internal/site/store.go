package site

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"runtime"
	"strings"
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
}

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
		Role:        nu.Role,
	}
	if u.Role == "" {
		u.Role = RoleMember
	}
	if u.DisplayName == "" {
		u.DisplayName = u.Username
	}
	switch {
	case !validUsername(u.Username):
		return nil, ErrInvalidUsername
	case u.Role.rank() == 0:
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
		if err := tx.QueryRow(ctx, `INSERT INTO websonic.users (username, display_name, email, password_hash, role)
			VALUES ($1, $2, NULLIF($3, ''), $4, $5) RETURNING id`,
			u.Username, u.DisplayName, u.Email, hash, string(u.Role)).Scan(&u.ID); err != nil {
			return err
		}
		actor := u.ID
		if a := UserFrom(ctx); a != nil {
			actor = a.ID
		}
		return coredb.Audit(ctx, tx, actor, "user.register", u.Username, map[string]any{"role": u.Role})
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
// an invalid username, and one hash), so timing does not tell which; or a
// wrapped database error. A password hashed with older
// parameters is rehashed with the current ones. It neither rate-limits nor
// audits: Site's login handler does both.
func (s *Store) Authenticate(ctx context.Context, username, password string) (*User, error) {
	username = normalizeUsername(username)
	var (
		u      User
		stored string
		found  bool
	)
	key := username
	if !validUsername(key) {
		key = "" // matches no row, costs the same lookup
	}
	err := s.pool.QueryRow(ctx, `SELECT id, username, display_name, COALESCE(email, ''), role, password_hash
		FROM websonic.users WHERE username = $1`, key).
		Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.Role, &stored)
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
	}
	if rehash {
		var h string
		if err := s.withHashSlot(ctx, func() { h = newHash(password, s.params) }); err == nil {
			// Best effort: the old hash still works if this fails.
			s.pool.Exec(ctx, `UPDATE websonic.users SET password_hash = $2 WHERE id = $1 AND password_hash = $3`, u.ID, h, stored) //nolint:errcheck
		}
	}
	return &u, nil
}

// CountAdmins returns how many users have the admin role.
func (s *Store) CountAdmins(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM websonic.users WHERE role = 'admin'`).Scan(&n); err != nil {
		return 0, fmt.Errorf("site: count admins: %w", err)
	}
	return n, nil
}

// SetRole gives the user the role r and audits "user.role" with the signed-in
// user in ctx as actor (none: the system). Errors: ErrInvalidRole,
// ErrUnknownUser, ErrLastAdmin (the only admin cannot be demoted), or a
// wrapped database error. Setting the role a user already has is a no-op.
func (s *Store) SetRole(ctx context.Context, username string, r Role) error {
	username = normalizeUsername(username)
	if r.rank() == 0 {
		return ErrInvalidRole
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Lock the admins first, then the user, so that two concurrent
		// demotions cannot both see another admin left.
		var admins []int64
		rows, err := tx.Query(ctx, `SELECT id FROM websonic.users WHERE role = 'admin' ORDER BY id FOR UPDATE`)
		if err != nil {
			return err
		}
		if admins, err = pgx.CollectRows(rows, pgx.RowTo[int64]); err != nil {
			return err
		}
		var id int64
		var old Role
		if err := tx.QueryRow(ctx, `SELECT id, role FROM websonic.users WHERE username = $1 FOR UPDATE`, username).Scan(&id, &old); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrUnknownUser
			}
			return err
		}
		if old == r {
			return nil
		}
		if old == RoleAdmin && len(admins) <= 1 {
			return ErrLastAdmin
		}
		if _, err := tx.Exec(ctx, `UPDATE websonic.users SET role = $2 WHERE id = $1`, id, string(r)); err != nil {
			return err
		}
		var actor int64
		if a := UserFrom(ctx); a != nil {
			actor = a.ID
		}
		return coredb.Audit(ctx, tx, actor, "user.role", username, map[string]any{"from": old, "to": r})
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknownUser), errors.Is(err, ErrLastAdmin):
		return err
	}
	return fmt.Errorf("site: set role of %q: %w", username, err)
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

// sessionUser returns the user of an unexpired session, or nil.
func (s *Store) sessionUser(ctx context.Context, token []byte) (*User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `SELECT u.id, u.username, u.display_name, COALESCE(u.email, ''), u.role
		FROM websonic.sessions s JOIN websonic.users u ON u.id = s.user_id
		WHERE s.token_hash = $1 AND s.expires_at > now()`, tokenHash(token)).
		Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.Role)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("site: read session: %w", err)
	}
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

// Package publishers keeps the registry's publisher accounts, their bearer
// tokens and the audit log of what they publish, in PostgreSQL (schema
// "registry").
//
// A token is "wsp_" followed by 43 base64url characters (32 random bytes);
// only its sha256 is stored, so a database leak yields no usable token.
// Each token is scoped to module names, "theme:<name>" for a theme,
// "runtime:websonic" for the runtime's own releases (or "*"), and may be an admin
// token, which alone may change the TUF root. A token may expire and be
// revoked; Authenticate refuses both.
//
// Scopes are the second lock on publishing: a release also needs the
// publisher's offline targets signature (package tufrepo), so a stolen
// token alone publishes nothing, and a stolen targets key alone cannot
// reach the registry.
package publishers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Errors.
var (
	// ErrUnauthenticated: no token, an unknown, revoked or expired token.
	ErrUnauthenticated = errors.New("publishers: invalid or missing token")
	// ErrInvalid: a bad publisher name or module scope.
	ErrInvalid = errors.New("publishers: invalid input")
	// ErrNotFound: no such publisher or token.
	ErrNotFound = errors.New("publishers: not found")
)

// TokenPrefix starts every token.
const TokenPrefix = "wsp_"

// Migrate applies the package's migrations (see package migrate).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := migrate.Apply(ctx, pool, migrations, "migrations", "websonic_registry_migrations"); err != nil {
		return fmt.Errorf("publishers: %w", err)
	}
	return nil
}

// Store is the account store. It is safe for concurrent use.
type Store struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// New returns a Store on a migrated pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool, now: time.Now} }

// Principal is an authenticated token.
type Principal struct {
	Publisher string
	TokenID   int64
	Modules   []string // module names, "theme:<name>", RuntimeScope, or "*"
	Admin     bool
}

// May reports whether p may publish or revoke releases of module.
func (p *Principal) May(module string) bool {
	return p != nil && (slices.Contains(p.Modules, "*") || slices.Contains(p.Modules, module))
}

// ThemeScope prefixes a theme name in a token's scopes: "theme:<name>".
// A module name cannot hold ":", so a module scope never grants a theme
// of the same name, nor the reverse; "*" grants every module and theme.
const ThemeScope = "theme:"

// MayTheme reports whether p may publish or revoke releases of theme.
func (p *Principal) MayTheme(theme string) bool {
	return p != nil && (slices.Contains(p.Modules, "*") || slices.Contains(p.Modules, ThemeScope+theme))
}

// RuntimeScope is the scope of a token that may publish and revoke the
// runtime's own releases (issue 13), and push to its OCI repository
// runtime/websonic (artifacts and container images). "*" grants it too.
// There is one runtime: any other "runtime:" scope is refused.
const RuntimeScope = "runtime:websonic"

// MayRuntime reports whether p may publish or revoke releases of the
// runtime name (only "websonic" ever is one).
func (p *Principal) MayRuntime(name string) bool {
	return p != nil && "runtime:"+name == RuntimeScope && (slices.Contains(p.Modules, "*") || slices.Contains(p.Modules, RuntimeScope))
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)
	moduleRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// TokenSpec describes a token to create.
type TokenSpec struct {
	Publisher string
	// Modules the token may publish: module names, "theme:<name>" for a
	// theme, RuntimeScope for the runtime, or "*".
	Modules []string
	Admin   bool
	// TTL is the token's lifetime; 0 means it does not expire.
	TTL time.Duration
}

// CreateToken creates the publisher if needed and a token for it, returns
// the token (shown once: only its hash is kept) and audits it.
func (s *Store) CreateToken(ctx context.Context, spec TokenSpec) (token string, id int64, err error) {
	if !nameRE.MatchString(spec.Publisher) {
		return "", 0, fmt.Errorf("%w: publisher name %q: use 1-64 of a-z, 0-9, _ . - starting with a letter or digit", ErrInvalid, spec.Publisher)
	}
	if len(spec.Modules) == 0 {
		return "", 0, fmt.Errorf("%w: a token needs at least one module name or \"*\"", ErrInvalid)
	}
	for _, m := range spec.Modules {
		if m != "*" && m != RuntimeScope && !moduleRE.MatchString(strings.TrimPrefix(m, ThemeScope)) {
			return "", 0, fmt.Errorf("%w: module name %q", ErrInvalid, m)
		}
	}
	if spec.TTL < 0 {
		return "", 0, fmt.Errorf("%w: negative TTL", ErrInvalid)
	}
	var raw [32]byte
	rand.Read(raw[:])
	token = TokenPrefix + base64.RawURLEncoding.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(token))
	var expires *time.Time
	if spec.TTL > 0 {
		t := s.now().Add(spec.TTL)
		expires = &t
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var pid int64
		if err := tx.QueryRow(ctx, `INSERT INTO registry.publishers (name) VALUES ($1)
			ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`, spec.Publisher).Scan(&pid); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO registry.tokens (publisher_id, hash, modules, admin, expires_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, pid, sum[:], spec.Modules, spec.Admin, expires).Scan(&id); err != nil {
			return err
		}
		return audit(ctx, tx, Entry{Publisher: spec.Publisher, TokenID: id, Action: "token.create", Subject: spec.Publisher,
			Details: map[string]any{"modules": spec.Modules, "admin": spec.Admin, "expires_at": expires}})
	})
	if err != nil {
		return "", 0, fmt.Errorf("publishers: create token: %w", err)
	}
	return token, id, nil
}

// RevokeToken revokes a token by id.
func (s *Store) RevokeToken(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE registry.tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("publishers: revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: token %d (or already revoked)", ErrNotFound, id)
	}
	return s.Audit(ctx, Entry{Publisher: "-", TokenID: id, Action: "token.revoke", Subject: fmt.Sprint(id)})
}

// Authenticate returns the principal of a bearer token, or an error
// wrapping ErrUnauthenticated.
func (s *Store) Authenticate(ctx context.Context, token string) (*Principal, error) {
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 128 {
		return nil, ErrUnauthenticated
	}
	sum := sha256.Sum256([]byte(token))
	p := &Principal{}
	var expires, revoked *time.Time
	err := s.pool.QueryRow(ctx, `SELECT p.name, t.id, t.modules, t.admin, t.expires_at, t.revoked_at
		FROM registry.tokens t JOIN registry.publishers p ON p.id = t.publisher_id WHERE t.hash = $1`, sum[:]).
		Scan(&p.Publisher, &p.TokenID, &p.Modules, &p.Admin, &expires, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrUnauthenticated
	}
	if err != nil {
		return nil, fmt.Errorf("publishers: authenticate: %w", err)
	}
	switch {
	case revoked != nil:
		return nil, fmt.Errorf("%w: token revoked", ErrUnauthenticated)
	case expires != nil && !s.now().Before(*expires):
		return nil, fmt.Errorf("%w: token expired", ErrUnauthenticated)
	}
	// At most one write a minute per token.
	s.pool.Exec(ctx, `UPDATE registry.tokens SET last_used_at = now()
		WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')`, p.TokenID)
	return p, nil
}

// Entry is one audit record.
type Entry struct {
	Publisher  string
	TokenID    int64
	Action     string // e.g. "module.publish", "module.revoke", "manifest.push", "root.rotate"
	Subject    string // e.g. "chat@1.2.0"
	Details    map[string]any
	RemoteAddr string
	At         time.Time // set when read
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Audit appends an entry to the audit log.
func (s *Store) Audit(ctx context.Context, e Entry) error {
	if err := audit(ctx, s.pool, e); err != nil {
		return fmt.Errorf("publishers: audit: %w", err)
	}
	return nil
}

// AuditTx appends an entry within tx, so it commits with what it records.
func AuditTx(ctx context.Context, tx pgx.Tx, e Entry) error {
	if err := audit(ctx, tx, e); err != nil {
		return fmt.Errorf("publishers: audit: %w", err)
	}
	return nil
}

func audit(ctx context.Context, q execer, e Entry) error {
	details, err := json.Marshal(e.Details)
	if err != nil || e.Details == nil {
		details = []byte("{}")
	}
	var token *int64
	if e.TokenID != 0 {
		token = &e.TokenID
	}
	_, err = q.Exec(ctx, `INSERT INTO registry.audit (publisher, token_id, action, subject, details, remote_addr)
		VALUES ($1, $2, $3, $4, $5, $6)`, e.Publisher, token, e.Action, e.Subject, details, e.RemoteAddr)
	return err
}

// AuditLog returns the newest entries first, at most limit.
func (s *Store) AuditLog(ctx context.Context, limit int) ([]Entry, error) {
	rows, err := s.pool.Query(ctx, `SELECT publisher, coalesce(token_id, 0), action, subject, details, remote_addr, at
		FROM registry.audit ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("publishers: audit log: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		var e Entry
		err := row.Scan(&e.Publisher, &e.TokenID, &e.Action, &e.Subject, &e.Details, &e.RemoteAddr, &e.At)
		return e, err
	})
}

package sandboxdb

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/sdk/manifest"
)

// Config configures a Broker. Zero fields take the defaults shown.
type Config struct {
	// Admin is the runtime's own pool (its role needs CREATEROLE).
	Admin *pgxpool.Pool
	// RolePrefix starts every module role name, which PostgreSQL keeps
	// cluster-wide ("websonic_"): role <prefix>mod_<name>.
	RolePrefix string
	// StatementTimeout is each module role's statement_timeout (5s).
	StatementTimeout time.Duration
	// ConnLimit is each module role's connection limit and pool size (4).
	ConnLimit int
	// MaxResultBytes caps one query's encoded result (4 MiB); a single row
	// message larger than that breaks the connection before pgx buffers it.
	MaxResultBytes int
	// MigrationTimeout bounds each module migration (2 min); a module can
	// change its statement_timeout but not this deadline.
	MigrationTimeout time.Duration
	Logger           hclog.Logger
}

// Broker provisions module databases.
type Broker struct {
	cfg Config
	log hclog.Logger
}

// ErrMigration wraps failures of a module's migrations.
var ErrMigration = errors.New("sandboxdb: module migration failed")

// New returns a Broker.
func New(cfg Config) *Broker {
	if cfg.RolePrefix == "" {
		cfg.RolePrefix = "websonic_"
	}
	if cfg.StatementTimeout <= 0 {
		cfg.StatementTimeout = 5 * time.Second
	}
	if cfg.ConnLimit <= 0 {
		cfg.ConnLimit = 4
	}
	if cfg.MaxResultBytes <= 0 {
		cfg.MaxResultBytes = 4 << 20
	}
	if cfg.MigrationTimeout <= 0 {
		cfg.MigrationTimeout = 2 * time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Broker{cfg: cfg, log: cfg.Logger}
}

// Schema is the module's schema name.
func Schema(module string) string { return "mod_" + module }

// Role is the module's role name.
func (b *Broker) Role(module string) string { return b.cfg.RolePrefix + "mod_" + module }

// ModuleDB is one module's database access.
type ModuleDB struct {
	name   string
	pool   *pgxpool.Pool
	maxRes int
	conns  int
}

// Close closes the module's pool.
func (d *ModuleDB) Close() { d.pool.Close() }

// Pool is the module's own pool, connected as its role (tests use it to
// check what the role can do).
func (d *ModuleDB) Pool() *pgxpool.Pool { return d.pool }

// Open provisions (idempotently) the module's role, schema and grants,
// applies its pending migrations under its own role, and opens its pool.
// views lists the core data views the site owner approved; every other
// websonic_api view is revoked. migrations maps each manifest migration path
// to its SQL.
func (b *Broker) Open(ctx context.Context, m *manifest.Manifest, views []string, migrations map[string][]byte) (*ModuleDB, error) {
	role, schema := b.Role(m.Name), Schema(m.Name)
	password, err := b.provision(ctx, m, role, schema, views)
	if err != nil {
		return nil, fmt.Errorf("sandboxdb: provision %s: %w", m.Name, err)
	}
	pc := b.cfg.Admin.Config().Copy()
	pc.ConnConfig.User = role
	pc.ConnConfig.Password = password
	pc.ConnConfig.RuntimeParams["application_name"] = "websonic module " + m.Name
	pc.MaxConns = int32(b.cfg.ConnLimit)
	pc.MinConns = 0
	// Idle connections go soon: the role's connection limit is shared with
	// a new version warming up during an update, and with other replicas.
	pc.MaxConnIdleTime = time.Minute
	pc.BeforeConnect, pc.AfterConnect, pc.BeforeAcquire, pc.AfterRelease, pc.BeforeClose = nil, nil, nil, nil, nil
	// No message from the server may exceed the result cap by much: pgx
	// would otherwise buffer a 1 GB field before the cap is checked.
	maxBody := b.cfg.MaxResultBytes + 64<<10
	pc.ConnConfig.BuildFrontend = func(r io.Reader, w io.Writer) *pgproto3.Frontend {
		f := pgproto3.NewFrontend(r, w)
		f.SetMaxBodyLen(maxBody)
		return f
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("sandboxdb: pool %s: %w", m.Name, err)
	}
	d := &ModuleDB{name: m.Name, pool: pool, maxRes: b.cfg.MaxResultBytes, conns: handlesPerCall}
	if err := d.migrate(ctx, m, migrations, b.cfg.MigrationTimeout); err != nil {
		pool.Close()
		return nil, err
	}
	return d, nil
}

func (b *Broker) provision(ctx context.Context, m *manifest.Manifest, role, schema string, views []string) (string, error) {
	for _, v := range views {
		if !m.Capabilities.Grants(v) {
			return "", fmt.Errorf("view %q was approved but the manifest does not ask for it", v)
		}
	}
	if views == nil {
		views = []string{} // text[] NOT NULL: an empty array, not NULL
	}
	var password string
	err := pgx.BeginFunc(ctx, b.cfg.Admin, func(tx pgx.Tx) error {
		// Serialise provisioning across runtime replicas with a lock no
		// module role can take (it could take any advisory lock).
		if _, err := tx.Exec(ctx, `LOCK TABLE websonic.modules IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT role_password FROM websonic.modules WHERE name = $1`, m.Name).Scan(&password)
		if errors.Is(err, pgx.ErrNoRows) {
			password = randomPassword()
			_, err = tx.Exec(ctx, `INSERT INTO websonic.modules (name, role_name, role_password, version, granted_views)
				VALUES ($1, $2, $3, $4, $5)`, m.Name, role, password, m.Version, views)
		}
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE websonic.modules SET version = $2, granted_views = $3, updated_at = now() WHERE name = $1`,
			m.Name, m.Version, views); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
			return err
		}
		r := pgx.Identifier{role}.Sanitize()
		s := pgx.Identifier{schema}.Sanitize()
		stmts := []string{}
		if !exists {
			stmts = append(stmts, "CREATE ROLE "+r+" LOGIN NOINHERIT")
		}
		stmts = append(stmts,
			// A non-superuser cannot even mention SUPERUSER, REPLICATION or
			// BYPASSRLS; roles it creates never have them.
			// The role's limit leaves room for a second pool (a new version
			// warming up during an update) next to the running one.
			fmt.Sprintf("ALTER ROLE %s LOGIN NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT %d PASSWORD %s",
				r, 2*b.cfg.ConnLimit, quoteLiteral(scramVerifier(password))),
			fmt.Sprintf("ALTER ROLE %s SET statement_timeout = %d", r, b.cfg.StatementTimeout.Milliseconds()),
			fmt.Sprintf("ALTER ROLE %s SET lock_timeout = %d", r, b.cfg.StatementTimeout.Milliseconds()),
			fmt.Sprintf("ALTER ROLE %s SET idle_in_transaction_session_timeout = %d", r, 2*b.cfg.StatementTimeout.Milliseconds()),
			fmt.Sprintf("ALTER ROLE %s SET search_path = %s", r, s),
			"GRANT "+r+" TO CURRENT_USER",
			"DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO "+escapeForFormat(r)+"', current_database()); END $$",
			"CREATE SCHEMA IF NOT EXISTS "+s+" AUTHORIZATION "+r,
			"CREATE TABLE IF NOT EXISTS "+s+"._migrations (name text PRIMARY KEY, checksum bytea NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
			"REVOKE ALL ON "+s+"._migrations FROM "+r,
			"GRANT SELECT, INSERT ON "+s+"._migrations TO "+r,
			"REVOKE ALL ON ALL TABLES IN SCHEMA websonic_api FROM "+r,
			"REVOKE ALL ON SCHEMA websonic_api FROM "+r,
		)
		if len(views) > 0 {
			stmts = append(stmts, "GRANT USAGE ON SCHEMA websonic_api TO "+r)
			for _, v := range views {
				stmts = append(stmts, "GRANT SELECT ON "+pgx.Identifier{"websonic_api", v}.Sanitize()+" TO "+r)
			}
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", redact(q), err)
			}
		}
		return nil
	})
	return password, err
}

// migrate applies the manifest's migrations the module has not seen, in
// order, each in one transaction under the module's role together with its
// record in mod_<name>._migrations. Migrations are forward-only: a recorded
// migration whose SQL changed, or that the package no longer lists, is an
// error.
func (d *ModuleDB) migrate(ctx context.Context, m *manifest.Manifest, files map[string][]byte, timeout time.Duration) error {
	applied := map[string][]byte{}
	rows, err := d.pool.Query(ctx, `SELECT name, checksum FROM _migrations`)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMigration, m.Name, err)
	}
	for rows.Next() {
		var name string
		var sum []byte
		if err := rows.Scan(&name, &sum); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMigration, m.Name, err)
		}
		applied[name] = sum
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMigration, m.Name, err)
	}
	listed := map[string]bool{}
	for _, name := range m.Migrations {
		listed[name] = true
		sql, ok := files[name]
		if !ok {
			return fmt.Errorf("%w: %s: %s is listed in the manifest but not in the package", ErrMigration, m.Name, name)
		}
		sum := sha256.Sum256(sql)
		if prev, ok := applied[name]; ok {
			if string(prev) != string(sum[:]) {
				return fmt.Errorf("%w: %s: %s was changed after it was applied (migrations are forward-only: add a new one)", ErrMigration, m.Name, name)
			}
			continue
		}
		mctx, cancel := context.WithTimeout(ctx, timeout)
		err := pgx.BeginFunc(mctx, d.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(mctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(mctx, `INSERT INTO _migrations (name, checksum) VALUES ($1, $2)`, name, sum[:])
			return err
		})
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("ran longer than %s: %w", timeout, err)
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %s: %w", ErrMigration, m.Name, name, err)
		}
	}
	for name := range applied {
		if !listed[name] {
			return fmt.Errorf("%w: %s: %s was applied but the package no longer lists it (migrations are forward-only)", ErrMigration, m.Name, name)
		}
	}
	return nil
}

func randomPassword() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// scramVerifier is PostgreSQL's SCRAM-SHA-256 verifier of password, so the
// password itself never appears in a statement (or a server log line).
func scramVerifier(password string) string {
	salt := make([]byte, 16)
	rand.Read(salt)
	const iter = 4096
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		panic(err) // only for invalid parameters, which these are not
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	stored := sha256.Sum256(mac(salted, "Client Key"))
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iter, b64(salt), b64(stored[:]), b64(mac(salted, "Server Key")))
}

func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// escapeForFormat doubles what format() and the surrounding string literal
// would otherwise interpret, for an already-quoted identifier.
func escapeForFormat(ident string) string {
	out := []byte{}
	for i := 0; i < len(ident); i++ {
		switch ident[i] {
		case '\'':
			out = append(out, '\'', '\'')
		case '%':
			out = append(out, '%', '%')
		default:
			out = append(out, ident[i])
		}
	}
	return string(out)
}

// redact hides password verifiers in statements that end up in error
// messages.
func redact(q string) string {
	if i := strings.Index(q, " PASSWORD "); i >= 0 {
		return q[:i] + " PASSWORD '…'"
	}
	return q
}

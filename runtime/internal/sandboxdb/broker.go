package sandboxdb

import (
	"bytes"
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
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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

// OpenOptions are Open's choices for an update or a rollback. The zero
// value opens a module that is not running.
type OpenOptions struct {
	// Update says the module's previous version keeps serving, with its
	// own ModuleDB, while this one is prepared. Open then grants the union
	// of RunningViews (the running version's views) and the new views, so
	// neither version loses access while both run, and leaves the module's
	// record (version, granted views) alone: Grant settles both once the
	// update has switched over, or has failed.
	Update       bool
	RunningViews []string
	// Rollback accepts applied migrations that the package no longer lists,
	// provided the package's migrations are a prefix of the applied ones
	// (same names and checksums, in the order applied): the schema of a
	// newer version, which an older one must work with. Anything else is
	// refused as without Rollback.
	Rollback bool
}

// Open provisions (idempotently) the module's role, schema and grants,
// applies its pending migrations under its own role, and opens its pool.
// views lists the core data views the site owner approved; every other
// websonic_api view is revoked (see OpenOptions.Update for the exception).
// migrations maps each manifest migration path to its SQL.
//
// Open may run while another ModuleDB of the same module is open and
// serving (an update warming up): both log in with the module's one
// credential, which Open never changes for a role that has one (see
// provision).
func (b *Broker) Open(ctx context.Context, m *manifest.Manifest, views []string, migrations map[string][]byte, opts OpenOptions) (*ModuleDB, error) {
	role, schema := b.Role(m.Name), Schema(m.Name)
	if err := b.checkViews(m, views); err != nil {
		return nil, fmt.Errorf("sandboxdb: provision %s: %w", m.Name, err)
	}
	grant := views
	if opts.Update {
		grant = union(opts.RunningViews, views)
	}
	password, err := b.provision(ctx, m, role, schema, grant, !opts.Update)
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
	if err := b.login(ctx, pool, role, password); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sandboxdb: pool %s: %w", m.Name, err)
	}
	d := &ModuleDB{name: m.Name, pool: pool, maxRes: b.cfg.MaxResultBytes, conns: handlesPerCall}
	if err := d.migrate(ctx, b.cfg.Admin, m, migrations, b.cfg.MigrationTimeout, opts.Rollback); err != nil {
		pool.Close()
		return nil, err
	}
	return d, nil
}

// login checks that the pool can log in. If the role's password was
// changed behind the runtime's back, it sets the module's recorded password
// again (the same one every pool of the module uses) and retries once.
func (b *Broker) login(ctx context.Context, pool *pgxpool.Pool, role, password string) error {
	err := pool.Ping(ctx)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" { // invalid_password
		return err
	}
	b.log.Warn("the module role's password was changed outside the runtime; setting it again", "role", role)
	if _, err := b.cfg.Admin.Exec(ctx, setPassword(pgx.Identifier{role}.Sanitize(), password)); err != nil {
		return fmt.Errorf("reset password: %w", err)
	}
	return pool.Ping(ctx)
}

// Grant sets the module's core data grants to exactly views and records
// m's version and views as the module's: the last step of an update (the
// new version's approval, once the previous version has stopped) or of
// one that failed (the running version's approval, undoing the union Open
// granted).
func (b *Broker) Grant(ctx context.Context, m *manifest.Manifest, views []string) error {
	if err := b.checkViews(m, views); err != nil {
		return fmt.Errorf("sandboxdb: grant %s: %w", m.Name, err)
	}
	r := pgx.Identifier{b.Role(m.Name)}.Sanitize()
	err := pgx.BeginFunc(ctx, b.cfg.Admin, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE websonic.modules IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE websonic.modules SET version = $2, granted_views = $3, updated_at = now() WHERE name = $1`,
			m.Name, m.Version, nonNil(views))
		if err != nil {
			return err
		}
		if tag.RowsAffected() != 1 {
			return errors.New("the module was never provisioned")
		}
		for _, q := range grantStatements(r, views) {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sandboxdb: grant %s: %w", m.Name, err)
	}
	return nil
}

func (b *Broker) checkViews(m *manifest.Manifest, views []string) error {
	for _, v := range views {
		if !m.Capabilities.Grants(v) {
			return fmt.Errorf("view %q was approved but the manifest does not ask for it", v)
		}
	}
	return nil
}

// grantStatements revoke every websonic_api view from role r, then grant
// views.
func grantStatements(r string, views []string) []string {
	stmts := []string{
		"REVOKE ALL ON ALL TABLES IN SCHEMA websonic_api FROM " + r,
		"REVOKE ALL ON SCHEMA websonic_api FROM " + r,
	}
	if len(views) > 0 {
		stmts = append(stmts, "GRANT USAGE ON SCHEMA websonic_api TO "+r)
		for _, v := range views {
			stmts = append(stmts, "GRANT SELECT ON "+pgx.Identifier{"websonic_api", v}.Sanitize()+" TO "+r)
		}
	}
	return stmts
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, v := range b {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// nonNil makes a nil list an empty one: text[] NOT NULL wants an empty
// array, not NULL.
func nonNil(views []string) []string {
	if views == nil {
		return []string{}
	}
	return views
}

// provision creates or updates the module's role, schema and grants, and
// returns the module's password; record says whether to record m's version
// and views as the module's (not while an update is only being prepared).
//
// # One credential per module
//
// The module's password is made once, when the module is first provisioned,
// and kept in websonic.modules (readable by the runtime's role only). Every
// pool of the module logs in with it: the running version's, the one an
// update warms up next to it, and those of other runtime replicas. provision
// therefore writes the role's password only when it creates the role or
// makes the password (a new install, or a record lost); for a role that
// exists with a password on record it leaves the role's password alone.
// Making a new password there would make the running version's pool, whose
// configuration holds the old one, fail to open connections in the middle
// of an update; writing the same one again is harmless but a needless
// catalog write on every start of every replica. If the role's password was
// changed outside the runtime, Open notices at login and sets it again
// (login).
func (b *Broker) provision(ctx context.Context, m *manifest.Manifest, role, schema string, views []string, record bool) (string, error) {
	var password string
	err := pgx.BeginFunc(ctx, b.cfg.Admin, func(tx pgx.Tx) error {
		// Serialise provisioning across runtime replicas with a lock no
		// module role can take (it could take any advisory lock).
		if _, err := tx.Exec(ctx, `LOCK TABLE websonic.modules IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		newPassword := false
		err := tx.QueryRow(ctx, `SELECT role_password FROM websonic.modules WHERE name = $1`, m.Name).Scan(&password)
		if errors.Is(err, pgx.ErrNoRows) {
			password, newPassword = randomPassword(), true
			_, err = tx.Exec(ctx, `INSERT INTO websonic.modules (name, role_name, role_password, version, granted_views)
				VALUES ($1, $2, $3, $4, $5)`, m.Name, role, password, m.Version, nonNil(views))
		}
		if err != nil {
			return err
		}
		if record {
			if _, err := tx.Exec(ctx, `UPDATE websonic.modules SET version = $2, granted_views = $3, updated_at = now() WHERE name = $1`,
				m.Name, m.Version, nonNil(views)); err != nil {
				return err
			}
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
		if !exists || newPassword {
			stmts = append(stmts, setPassword(r, password))
		}
		stmts = append(stmts,
			// A non-superuser cannot even mention SUPERUSER, REPLICATION or
			// BYPASSRLS; roles it creates never have them.
			// The role's limit leaves room for a second pool (a new version
			// warming up during an update) next to the running one.
			fmt.Sprintf("ALTER ROLE %s LOGIN NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT %d", r, 2*b.cfg.ConnLimit),
			fmt.Sprintf("ALTER ROLE %s SET statement_timeout = %d", r, b.cfg.StatementTimeout.Milliseconds()),
			fmt.Sprintf("ALTER ROLE %s SET lock_timeout = %d", r, b.cfg.StatementTimeout.Milliseconds()),
			fmt.Sprintf("ALTER ROLE %s SET idle_in_transaction_session_timeout = %d", r, 2*b.cfg.StatementTimeout.Milliseconds()),
			fmt.Sprintf("ALTER ROLE %s SET search_path = %s", r, s),
			"GRANT "+r+" TO CURRENT_USER",
			"DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO "+escapeForFormat(r)+"', current_database()); END $$",
			"CREATE SCHEMA IF NOT EXISTS "+s+" AUTHORIZATION "+r,
			// The module owns its schema, so it can drop _migrations and
			// make its own: a table the runtime does not own is replaced.
			"DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = "+quoteLiteral(schema)+
				" AND tablename = '_migrations' AND tableowner <> current_user) THEN DROP TABLE "+s+"._migrations CASCADE; END IF; END $$",
			"CREATE TABLE IF NOT EXISTS "+s+"._migrations (name text PRIMARY KEY, checksum bytea NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
			"REVOKE ALL ON "+s+"._migrations FROM "+r,
			"GRANT SELECT, INSERT ON "+s+"._migrations TO "+r,
		)
		stmts = append(stmts, grantStatements(r, views)...)
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", redact(q), err)
			}
		}
		return nil
	})
	return password, err
}

// setPassword is the statement that sets role r's password, as a SCRAM
// verifier so the password itself never appears in a statement (or a
// server log line).
func setPassword(r, password string) string {
	return fmt.Sprintf("ALTER ROLE %s PASSWORD %s", r, quoteLiteral(scramVerifier(password)))
}

// migrate applies the manifest's migrations the module has not seen, in
// order, each in one transaction under the module's role together with its
// mark in mod_<name>._migrations, then records it in the runtime's ledger
// websonic.module_migrations, which is what counts: the module's role can
// write its own schema. A mark without a ledger entry (the runtime stopped
// between the two commits) is adopted when it names the next listed
// migration with its checksum; any other mark is deleted. Migrations are
// forward-only: a recorded migration whose SQL changed, or that the package
// no longer lists, is an error, found before anything is applied; with
// rollback, a package whose migrations are a prefix of the applied ones is
// accepted (OpenOptions).
func (d *ModuleDB) migrate(ctx context.Context, admin *pgxpool.Pool, m *manifest.Manifest, files map[string][]byte, timeout time.Duration, rollback bool) error {
	type record struct {
		name string
		sum  []byte
	}
	fail := func(err error) error { return fmt.Errorf("%w: %s: %w", ErrMigration, m.Name, err) }
	var applied []record // in the order applied
	rows, err := admin.Query(ctx, `SELECT name, checksum FROM websonic.module_migrations WHERE module = $1 ORDER BY seq`, m.Name)
	if err != nil {
		return fail(err)
	}
	for rows.Next() {
		var r record
		if err := rows.Scan(&r.name, &r.sum); err != nil {
			return fail(err)
		}
		applied = append(applied, r)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	ledger := func(name string, sum []byte) error {
		_, err := admin.Exec(ctx, `INSERT INTO websonic.module_migrations (module, name, checksum) VALUES ($1, $2, $3)`, m.Name, name, sum)
		return err
	}
	// Adopt the marks of migrations that committed without their ledger
	// entry, in listed order; forget every other mark.
	marksTable := pgx.Identifier{Schema(m.Name), "_migrations"}.Sanitize()
	marks := map[string][]byte{}
	if rows, err := admin.Query(ctx, `SELECT name, checksum FROM `+marksTable); err == nil {
		for rows.Next() {
			var r record
			if rows.Scan(&r.name, &r.sum) == nil {
				marks[r.name] = r.sum
			}
		}
		rows.Close()
	}
	known := map[string]bool{}
	for _, r := range applied {
		known[r.name] = true
	}
	for _, name := range m.Migrations {
		if known[name] {
			continue
		}
		sum := sha256.Sum256(files[name])
		if mark, ok := marks[name]; !ok || !bytes.Equal(mark, sum[:]) {
			break
		}
		if err := ledger(name, sum[:]); err != nil {
			return fail(err)
		}
		applied, known[name] = append(applied, record{name, sum[:]}), true
	}
	var names []string
	for name := range known {
		names = append(names, name)
	}
	if _, err := admin.Exec(ctx, `DELETE FROM `+marksTable+` WHERE NOT (name = ANY($1))`, names); err != nil {
		return fail(fmt.Errorf("clear unknown marks: %w", err))
	}
	sumOf := map[string][]byte{}
	for _, r := range applied {
		sumOf[r.name] = r.sum
	}
	var pending []string
	for _, name := range m.Migrations {
		sql, ok := files[name]
		if !ok {
			return fmt.Errorf("%w: %s: %s is listed in the manifest but not in the package", ErrMigration, m.Name, name)
		}
		sum := sha256.Sum256(sql)
		prev, ok := sumOf[name]
		if !ok {
			pending = append(pending, name)
			continue
		}
		if !bytes.Equal(prev, sum[:]) {
			return fmt.Errorf("%w: %s: %s was changed after it was applied (migrations are forward-only: add a new one)", ErrMigration, m.Name, name)
		}
	}
	for _, r := range applied {
		if slices.Contains(m.Migrations, r.name) {
			continue
		}
		if !rollback {
			return fmt.Errorf("%w: %s: %s was applied but the package no longer lists it (migrations are forward-only)", ErrMigration, m.Name, r.name)
		}
		// The checksums of the listed ones were compared above.
		prefix := len(m.Migrations) <= len(applied)
		for i := 0; prefix && i < len(m.Migrations); i++ {
			prefix = m.Migrations[i] == applied[i].name
		}
		if !prefix {
			return fmt.Errorf("%w: %s: cannot roll back: the package's migrations are not a prefix of the applied ones (%s was applied but is not listed)", ErrMigration, m.Name, r.name)
		}
		break
	}
	for _, name := range pending {
		sql := files[name]
		sum := sha256.Sum256(sql)
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
		if err := ledger(name, sum[:]); err != nil {
			return fmt.Errorf("%w: %s: %s applied, but not recorded (it is adopted at the next start): %w", ErrMigration, m.Name, name, err)
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

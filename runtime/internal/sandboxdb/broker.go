package sandboxdb

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/dbroles"
	"github.com/websonic/websonic/sdk/manifest"
)

// Config configures a Broker. Zero fields take the defaults shown.
type Config struct {
	// DB is the serving role's pool (coredb.Open): it owns the module
	// schemas and runs everything the broker does but role changes.
	DB *pgxpool.Pool
	// Roles makes the module roles (the runtime's narrow path to
	// CREATEROLE).
	Roles *dbroles.Roles
	// StatementTimeout is each module session's statement_timeout (5s).
	StatementTimeout time.Duration
	// ConnLimit is each module role's connection limit and pool size (4).
	ConnLimit int
	// MaxResultBytes caps one query's encoded result (4 MiB); a single row
	// message larger than that breaks the connection before pgx buffers it.
	MaxResultBytes int
	// MigrationTimeout bounds each module migration (2 min); a module can
	// change its statement_timeout but not this deadline.
	MigrationTimeout time.Duration
	// WorkMem is each module session's work_mem (4 MiB). A module may raise
	// it within a call; the server's memory cap (pgembed.Limits) is the
	// bound it cannot change.
	WorkMem int64
	// TempFileLimit caps each module session's temporary files (256 MiB),
	// where the server lets the runtime set it (dbroles.Roles.Hardening);
	// elsewhere the server's own temp_file_limit applies.
	TempFileLimit int64
	// StorageQuota is a module's storage quota unless the owner set its own
	// (websonic.modules.storage_quota; 1 GiB). See CheckStorage.
	StorageQuota int64
	Logger       hclog.Logger
}

// DefaultStorageQuota is a module's storage quota unless configured.
const DefaultStorageQuota = 1 << 30

// Broker provisions module databases.
type Broker struct {
	cfg Config
	log hclog.Logger

	mu      sync.Mutex
	open    map[string]map[*ModuleDB]bool // by module: its open ModuleDBs (one per running version)
	catCols map[string][]string           // pg_catalog's tables' columns (StorageUsed), read once
}

// ErrMigration wraps failures of a module's migrations.
var ErrMigration = errors.New("sandboxdb: module migration failed")

// New returns a Broker.
func New(cfg Config) *Broker {
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
	if cfg.WorkMem <= 0 {
		cfg.WorkMem = 4 << 20
	}
	if cfg.TempFileLimit <= 0 {
		cfg.TempFileLimit = 256 << 20
	}
	if cfg.StorageQuota <= 0 {
		cfg.StorageQuota = DefaultStorageQuota
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Broker{cfg: cfg, log: cfg.Logger, open: map[string]map[*ModuleDB]bool{}}
}

// Schema is the module's schema name.
func Schema(module string) string { return "mod_" + module }

// Role is the module's role name.
func (b *Broker) Role(module string) string { return b.cfg.Roles.ModuleRole(module) }

// ModuleDB is one module's database access.
type ModuleDB struct {
	name   string
	pool   *pgxpool.Pool
	maxRes int
	conns  int
	b      *Broker
	// suspended holds why the module's database access is suspended
	// (storage quota), or nil.
	suspended atomic.Pointer[string]
	closeOnce sync.Once
}

// Close closes the module's pool.
func (d *ModuleDB) Close() {
	d.closeOnce.Do(func() {
		d.b.forget(d)
		d.pool.Close()
	})
}

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
	rec, err := b.provision(ctx, m, role, schema, grant, !opts.Update)
	if err != nil {
		return nil, fmt.Errorf("sandboxdb: provision %s: %w", m.Name, err)
	}
	if rec.suspended != "" {
		// Its migrations could not run: it starts once the owner raised
		// its quota (CheckStorage restores its role).
		return nil, fmt.Errorf("%w: %s: %s", ErrSuspended, m.Name, rec.suspended)
	}
	pc := b.cfg.Roles.ConnConfig(role, rec.password)
	pc.ConnConfig.RuntimeParams = b.sessionParams(schema)
	pc.ConnConfig.RuntimeParams["application_name"] = "websonic module " + m.Name
	pc.MaxConns = int32(b.cfg.ConnLimit)
	pc.MinConns = 0
	// Idle connections go soon: the role's connection limit is shared with
	// a new version warming up during an update, and with other replicas.
	pc.MaxConnIdleTime = time.Minute
	pc.AfterRelease = sendReset
	pc.PrepareConn = finishReset
	pc.ShouldPing = pingUnlessReset
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
	d := &ModuleDB{name: m.Name, pool: pool, maxRes: b.cfg.MaxResultBytes, conns: handlesPerCall, b: b}
	if err := b.cfg.Roles.Login(ctx, pool, role, rec.password); err != nil {
		pool.Close()
		return nil, fmt.Errorf("sandboxdb: pool %s: %w", m.Name, err)
	}
	if err := d.migrate(ctx, b.cfg.DB, m, migrations, b.cfg.MigrationTimeout, opts.Rollback); err != nil {
		pool.Close()
		return nil, err
	}
	b.remember(d)
	return d, nil
}

func (b *Broker) remember(d *ModuleDB) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.open[d.name] == nil {
		b.open[d.name] = map[*ModuleDB]bool{}
	}
	b.open[d.name][d] = true
}

func (b *Broker) forget(d *ModuleDB) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.open[d.name], d)
	if len(b.open[d.name]) == 0 {
		delete(b.open, d.name)
	}
}

// sessionParams are a module connection's parameters: its limits, sent at
// connection start, where they outrank anything the module sets on its own
// role (ALTER ROLE CURRENT_USER SET …). temp_file_limit is left to the role
// setting: only its SET privilege holder may pass it.
func (b *Broker) sessionParams(schema string) map[string]string {
	p := dbroles.Settings(b.cfg.StatementTimeout, schema, b.cfg.WorkMem, 0)
	p["search_path"] = pgx.Identifier{schema}.Sanitize()
	return p
}

// resetSQL returns a module connection to its starting state: settings the
// module changed, channels it listens to, advisory locks it holds and
// cursors it left open.
const resetSQL = `RESET ALL; UNLISTEN *; SELECT pg_catalog.pg_advisory_unlock_all(); CLOSE ALL`

// resetPending marks (in pgconn's CustomData) a connection whose reset was
// sent and whose answer is still to be read.
const resetPending = "websonic.reset-pending"

// resetTimeout bounds sending the reset.
const resetTimeout = 2 * time.Second

// sendReset runs after each release of a module connection (pgxpool's
// AfterRelease): it sends the reset and returns without waiting for the
// answer, which finishReset reads when the connection is next acquired.
// PostgreSQL runs the reset at once, so nothing of the call outlives it on
// the server (locks are released, channels left) while the connection
// waits in the pool; and no call waits a round trip for it, nor finds the
// connection held by it. A connection the reset cannot be sent on is
// closed.
//
// See RATIONALE.md, "Database path speed (issue 10)".
func sendReset(c *pgx.Conn) bool {
	pc := c.PgConn()
	nc := pc.Conn()
	nc.SetWriteDeadline(time.Now().Add(resetTimeout))
	defer nc.SetWriteDeadline(time.Time{})
	fe := pc.Frontend()
	fe.Send(&pgproto3.Query{String: resetSQL})
	if err := fe.Flush(); err != nil {
		return false
	}
	pc.CustomData()[resetPending] = true
	return true
}

// finishReset runs before each acquisition of a module connection
// (pgxpool's PrepareConn): it reads the answer to the reset sendReset sent,
// if any. A connection whose reset failed, or that cannot be read within
// ctx, is dropped (pgxpool then tries another): reading the answer is also
// the liveness check a ping would have made.
func finishReset(ctx context.Context, c *pgx.Conn) (bool, error) {
	pc := c.PgConn()
	if _, ok := pc.CustomData()[resetPending]; !ok {
		return true, nil
	}
	delete(pc.CustomData(), resetPending)
	failed := false
	for {
		msg, err := pc.ReceiveMessage(ctx)
		if err != nil {
			return false, nil
		}
		switch m := msg.(type) {
		case *pgproto3.ErrorResponse:
			failed = true
		case *pgproto3.ReadyForQuery:
			return !failed && m.TxStatus == 'I', nil
		}
	}
}

// pingUnlessReset is pgxpool's default ping rule (a connection idle for
// over a second is pinged on acquisition) but for a connection with a
// reset pending: finishReset reads from it, which checks it as well, and a
// ping must not read the reset's answer as its own.
func pingUnlessReset(_ context.Context, p pgxpool.ShouldPingParams) bool {
	if _, ok := p.Conn.PgConn().CustomData()[resetPending]; ok {
		return false
	}
	return p.IdleDuration > time.Second
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
	err := b.tx(ctx, func(tx pgx.Tx) error {
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

// record is what provision read of the module's record.
type record struct {
	password  string
	suspended string // why its database access is suspended, or ""
}

// provision creates or updates the module's role, schema and grants, and
// returns the module's record; write says whether to record m's version
// and views as the module's (not while an update is only being prepared).
//
// # Who owns what
//
// The serving role owns the module's schema; the module's role may use it
// and create objects in it, which it then owns. So the module can drop and
// replace what it made, but nothing the runtime made there: the marks
// table _migrations, the schema itself. Earlier versions of the runtime let
// the module's role own its schema: such a schema is adopted here, and its
// marks table checked (checkMarks).
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
func (b *Broker) provision(ctx context.Context, m *manifest.Manifest, role, schema string, views []string, write bool) (record, error) {
	var rec record
	err := b.tx(ctx, func(tx pgx.Tx) error {
		rec = record{}
		// Serialise provisioning across runtime replicas with a lock no
		// module role can take (it could take any advisory lock).
		if _, err := tx.Exec(ctx, `LOCK TABLE websonic.modules IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		if err := checkSafe(ctx, tx); err != nil {
			return err
		}
		newPassword := false
		var state string
		var used, quota int64
		err := tx.QueryRow(ctx, `SELECT role_password, storage_state, storage_used, coalesce(storage_quota, $2)
			FROM websonic.modules WHERE name = $1`, m.Name, b.cfg.StorageQuota).Scan(&rec.password, &state, &used, &quota)
		if errors.Is(err, pgx.ErrNoRows) {
			rec.password, newPassword = dbroles.RandomPassword(), true
			_, err = tx.Exec(ctx, `INSERT INTO websonic.modules (name, role_name, role_password, version, granted_views)
				VALUES ($1, $2, $3, $4, $5)`, m.Name, role, rec.password, m.Version, nonNil(views))
		}
		if err != nil {
			return err
		}
		if state == stateExceeded {
			rec.suspended = exceededReason(used, quota)
		}
		if write {
			if _, err := tx.Exec(ctx, `UPDATE websonic.modules SET version = $2, granted_views = $3, updated_at = now() WHERE name = $1`,
				m.Name, m.Version, nonNil(views)); err != nil {
				return err
			}
		}
		connLimit := 2 * b.cfg.ConnLimit
		if rec.suspended != "" {
			connLimit = 0
		}
		findings, err := b.cfg.Roles.EnsureModule(ctx, dbroles.ModuleRole{
			Name: role, Password: rec.password, NewPassword: newPassword,
			// The role's limit leaves room for a second pool (a new version
			// warming up during an update) next to the running one.
			ConnLimit: connLimit,
			Settings:  b.roleSettings(ctx, schema),
		})
		if err != nil {
			return err
		}
		for _, f := range findings {
			if err := b.tampered(ctx, tx, m.Name, f.What); err != nil {
				return err
			}
		}
		if err := b.adopt(ctx, tx, m.Name, role, schema); err != nil {
			return err
		}
		r := pgx.Identifier{role}.Sanitize()
		s := pgx.Identifier{schema}.Sanitize()
		var canConnect bool
		if err := tx.QueryRow(ctx, `SELECT has_database_privilege($1, current_database(), 'CONNECT')`, role).Scan(&canConnect); err != nil {
			return err
		}
		var stmts []string
		if !canConnect { // written only when missing: concurrent writes of the database's row fail
			stmts = append(stmts, "DO $$ BEGIN EXECUTE pg_catalog.format('GRANT CONNECT ON DATABASE %I TO "+escapeForFormat(r)+"', pg_catalog.current_database()); END $$")
		}
		stmts = append(stmts,
			"CREATE SCHEMA IF NOT EXISTS "+s,
			"REVOKE ALL ON SCHEMA "+s+" FROM PUBLIC",
			"GRANT USAGE, CREATE ON SCHEMA "+s+" TO "+r,
		)
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		if err := b.checkMarks(ctx, tx, m.Name, schema); err != nil {
			return err
		}
		stmts = []string{
			"CREATE TABLE IF NOT EXISTS " + s + "._migrations (name pg_catalog.text PRIMARY KEY, checksum pg_catalog.bytea NOT NULL, applied_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now())",
			"REVOKE ALL ON " + s + "._migrations FROM PUBLIC, " + r,
			"GRANT SELECT, INSERT ON " + s + "._migrations TO " + r,
		}
		stmts = append(stmts, grantStatements(r, views)...)
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	return rec, err
}

// tx runs f in a transaction of the serving pool, again if a concurrent
// catalog change made it fail (dbroles.Retry).
func (b *Broker) tx(ctx context.Context, f func(pgx.Tx) error) error {
	return dbroles.Retry(ctx, func() error { return pgx.BeginFunc(ctx, b.cfg.DB, f) })
}

// checkSafe refuses a connection whose names could resolve into a schema
// another role can write: everything provision runs in module schemas
// relies on it.
func checkSafe(ctx context.Context, tx pgx.Tx) error {
	var path string
	if err := tx.QueryRow(ctx, `SELECT pg_catalog.current_setting('search_path')`).Scan(&path); err != nil {
		return err
	}
	if path != dbroles.SafeParams["search_path"] {
		return fmt.Errorf("the runtime's connection has search_path %q, not %q (open it with dbroles)", path, dbroles.SafeParams["search_path"])
	}
	return nil
}

// roleSettings are the module role's settings: its session limits, and
// temp_file_limit where the server lets the runtime set it.
func (b *Broker) roleSettings(ctx context.Context, schema string) map[string]string {
	var temp int64
	if b.cfg.Roles.CanSetTempFileLimit(ctx) {
		temp = b.cfg.TempFileLimit
	}
	return dbroles.Settings(b.cfg.StatementTimeout, schema, b.cfg.WorkMem, temp)
}

// adopt makes the serving role the owner of a schema that the module's role
// owns (made by an earlier version of the runtime). A schema owned by
// anyone else is refused: the runtime does not know whose it is.
func (b *Broker) adopt(ctx context.Context, tx pgx.Tx, module, role, schema string) error {
	var owner string
	err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_get_userbyid(nspowner)::pg_catalog.text FROM pg_catalog.pg_namespace WHERE nspname = $1`, schema).Scan(&owner)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	var self string
	if err := tx.QueryRow(ctx, `SELECT current_user::pg_catalog.text`).Scan(&self); err != nil {
		return err
	}
	switch owner {
	case self:
		return nil
	case role:
		b.log.Info("taking over the module's schema from its role (made by an earlier runtime)", "module", module, "schema", schema)
		return b.cfg.Roles.AdoptSchema(ctx, schema, role)
	default:
		return fmt.Errorf("schema %s belongs to role %s, neither the runtime's nor the module's: move it away or give it to %s", schema, owner, self)
	}
}

// checkMarks makes sure the object named _migrations in the module's
// schema, if any, is the plain table the runtime made: owned by the serving
// role, no triggers, rules, policies or children, the expected columns.
// Anything else is a module's doing (or left by an earlier runtime that let
// modules own their schemas): it is reported as tampering and dropped — as
// the schema's owner, which runs none of the module's code — and the table is
// made again by the caller. Migrations the marks recorded stay known from
// the runtime's own ledger.
func (b *Broker) checkMarks(ctx context.Context, tx pgx.Tx, module, schema string) error {
	var kind string
	var mine, rls, extras bool
	var cols []string
	err := tx.QueryRow(ctx, `SELECT c.relkind::pg_catalog.text, c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user),
			c.relrowsecurity,
			EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t WHERE t.tgrelid = c.oid)
			 OR EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class = c.oid)
			 OR EXISTS (SELECT 1 FROM pg_catalog.pg_policy p WHERE p.polrelid = c.oid)
			 OR EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i WHERE i.inhparent = c.oid OR i.inhrelid = c.oid),
			coalesce((SELECT pg_catalog.array_agg(a.attname::pg_catalog.text || ' ' || pg_catalog.format_type(a.atttypid, a.atttypmod) ORDER BY a.attnum)
			          FROM pg_catalog.pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '{}')
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = '_migrations'`, schema).Scan(&kind, &mine, &rls, &extras, &cols)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("inspect %s._migrations: %w", schema, err)
	}
	want := []string{"name text", "checksum bytea", "applied_at timestamp with time zone"}
	if kind == "r" && mine && !rls && !extras && slices.Equal(cols, want) {
		return nil
	}
	what := fmt.Sprintf("%s._migrations was replaced (kind %s, runtime's own %v, row security %v, triggers/rules/policies/inheritance %v, columns %v); dropped and made again",
		schema, kind, mine, rls, extras, cols)
	if err := b.tampered(ctx, tx, module, what); err != nil {
		return err
	}
	drop := map[string]string{"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE", "f": "FOREIGN TABLE", "c": "TYPE", "i": "INDEX", "I": "INDEX"}[kind]
	if drop == "" {
		return fmt.Errorf("%s._migrations is of kind %q, which the runtime cannot drop", schema, kind)
	}
	q := "DROP " + drop + " " + pgx.Identifier{schema, "_migrations"}.Sanitize() + " CASCADE"
	if _, err := tx.Exec(ctx, q); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

// tampered reports something a module changed that it may not: in the
// log and the audit log, where the owner sees it. what is cut to
// maxReport bytes: it may quote what the module wrote.
func (b *Broker) tampered(ctx context.Context, tx pgx.Tx, module, what string) error {
	if len(what) > maxReport {
		what = strings.ToValidUTF8(what[:maxReport], "") + "…"
	}
	b.log.Error("module tampering", "module", module, "what", what)
	return coredb.Audit(ctx, tx, 0, "module.tampering", module, map[string]any{"what": what})
}

// maxReport bounds a tampering report.
const maxReport = 512

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
	// provision checked it is the runtime's own plain table (checkMarks).
	// The module may insert into it, rows of any size: only the marks that
	// can matter (a listed name, a SHA-256) are read; the others are
	// deleted below without being read.
	if rows, err := admin.Query(ctx, `SELECT name, checksum FROM ONLY `+marksTable+`
		WHERE name = ANY($1) AND pg_catalog.octet_length(checksum) = $2`, m.Migrations, sha256.Size); err == nil {
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
	if _, err := admin.Exec(ctx, `DELETE FROM ONLY `+marksTable+` WHERE NOT (name = ANY($1))`, names); err != nil {
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

// Drop removes a module's database for good: its schema with everything in
// it, its grants, its records and its role. The module must not be running
// (no ModuleDB of it open). The serving role drops the schema, which it
// owns — dropping runs none of the module's code — and the provisioning
// role drops the role with what the module made outside its schema
// (dbroles.Roles.DropModule).
func (b *Broker) Drop(ctx context.Context, module string) error {
	b.mu.Lock()
	running := len(b.open[module]) > 0
	b.mu.Unlock()
	if running {
		return fmt.Errorf("sandboxdb: drop %s: the module is running", module)
	}
	role := b.Role(module)
	r := pgx.Identifier{role}.Sanitize()
	err := b.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE websonic.modules IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		if err := checkSafe(ctx, tx); err != nil {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
			return err
		}
		stmts := []string{"DROP SCHEMA IF EXISTS " + pgx.Identifier{Schema(module)}.Sanitize() + " CASCADE"}
		if exists {
			stmts = append(stmts, grantStatements(r, nil)...)
			stmts = append(stmts, "DO $$ BEGIN EXECUTE pg_catalog.format('REVOKE CONNECT ON DATABASE %I FROM "+escapeForFormat(r)+"', pg_catalog.current_database()); END $$")
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM websonic.module_migrations WHERE module = $1`, module); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM websonic.modules WHERE name = $1`, module); err != nil {
			return err
		}
		return coredb.Audit(ctx, tx, 0, "module.drop", module, nil)
	})
	if err != nil {
		return fmt.Errorf("sandboxdb: drop %s: %w", module, err)
	}
	return b.cfg.Roles.DropModule(ctx, role)
}

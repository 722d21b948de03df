package dbroles

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
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Config configures New.
type Config struct {
	// Pool connects as the provisioning role (CREATEROLE, owner of the
	// database). New sets nothing on it; Roles uses at most one of its
	// connections at a time.
	Pool *pgxpool.Pool
	// Prefix starts the names of the roles Roles makes, which PostgreSQL
	// keeps cluster-wide: <prefix>app, <prefix>mod_<name>. "" takes the
	// site's recorded prefix, or DefaultPrefix for a new site.
	Prefix string
	Logger hclog.Logger
}

// Roles manages the serving role and the module roles.
type Roles struct {
	pool   *pgxpool.Pool
	prefix string
	log    hclog.Logger
	// self is the provisioning role's name; db the database's.
	self, db string
}

// ErrUnsafeRole is returned when a role the runtime relies on has a power
// it must not have (SUPERUSER, REPLICATION, BYPASSRLS), which only a
// superuser can give and take: the runtime refuses to run with it.
var ErrUnsafeRole = errors.New("dbroles: unsafe role")

// prefixRE is what a role prefix may be. "mod_" and prefixes ending in it
// are refused, so no role can be named like a module schema (a role's
// name is the "$user" entry of search_path).
var prefixRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,19}$`)

// CheckPrefix reports whether prefix can start role names.
func CheckPrefix(prefix string) error {
	if !prefixRE.MatchString(prefix) || strings.HasSuffix(prefix, "mod_") {
		return fmt.Errorf("dbroles: role prefix %q: use up to 20 of a-z, 0-9, _ starting with a letter or _, not ending in mod_", prefix)
	}
	return nil
}

// New returns a Roles over cfg.Pool. The site's role prefix is recorded in
// the database at its first start: an empty cfg.Prefix takes the recorded
// one (so that a command needs no flag to find the site's roles), and a
// different one is refused.
func New(ctx context.Context, cfg Config) (*Roles, error) {
	if cfg.Prefix != "" {
		if err := CheckPrefix(cfg.Prefix); err != nil {
			return nil, err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	r := &Roles{pool: cfg.Pool, log: cfg.Logger}
	if err := r.tx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT current_user::text, current_database()::text`).Scan(&r.self, &r.db)
	}); err != nil {
		return nil, fmt.Errorf("dbroles: %w", err)
	}
	// The schema and its tables cannot be locked before they exist:
	// replicas starting together race to create them, and the loser
	// retries. (A new schema grants PUBLIC nothing.)
	create := `CREATE SCHEMA IF NOT EXISTS websonic_provision;
		CREATE TABLE IF NOT EXISTS ` + provTable + ` (name text PRIMARY KEY, password text NOT NULL);
		CREATE TABLE IF NOT EXISTS websonic_provision.site (one boolean PRIMARY KEY DEFAULT true CHECK (one), role_prefix text NOT NULL)`
	var err error
	for range 3 {
		err = r.exec(ctx, create)
		if err == nil || !isCode(err, "23505", "42P06", "42P07") {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dbroles: %w", err)
	}
	err = r.tx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+provTable+` IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT role_prefix FROM websonic_provision.site`).Scan(&r.prefix)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			r.prefix = cfg.Prefix
			if r.prefix == "" {
				r.prefix = DefaultPrefix
			}
			_, err = tx.Exec(ctx, `INSERT INTO websonic_provision.site (role_prefix) VALUES ($1)`, r.prefix)
			return err
		case err != nil:
			return err
		case cfg.Prefix != "" && cfg.Prefix != r.prefix:
			return fmt.Errorf("this site's roles start with %q, not %q: role names cannot change", r.prefix, cfg.Prefix)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dbroles: %w", err)
	}
	return r, nil
}

// DefaultPrefix starts role names unless a site chose another prefix.
const DefaultPrefix = "websonic_"

// ServingRole is the serving role's name.
func (r *Roles) ServingRole() string { return r.prefix + "app" }

// ModuleRole is the name of module's role.
func (r *Roles) ModuleRole(module string) string { return r.prefix + "mod_" + module }

// SafeParams are the connection parameters of every connection the runtime
// opens besides module pools: no name in a statement can resolve into a
// schema that another role can write.
var SafeParams = map[string]string{"search_path": "pg_catalog, pg_temp"}

// ConnConfig returns the provisioning pool's configuration for role,
// logging in with password: the same server and database, TLS and
// timeouts, none of the pool's hooks, and SafeParams.
func (r *Roles) ConnConfig(role, password string) *pgxpool.Config {
	pc := r.pool.Config().Copy()
	pc.ConnConfig.User = role
	pc.ConnConfig.Password = password
	pc.BeforeConnect, pc.AfterConnect, pc.BeforeAcquire, pc.PrepareConn, pc.AfterRelease, pc.BeforeClose = nil, nil, nil, nil, nil, nil
	pc.ConnConfig.RuntimeParams = map[string]string{}
	for k, v := range SafeParams {
		pc.ConnConfig.RuntimeParams[k] = v
	}
	return pc
}

// ServingConfig configures OpenServing.
type ServingConfig struct {
	// AppName is the connections' application_name.
	AppName string
	// MaxConns bounds the pool (pgxpool's default).
	MaxConns int32
}

// OpenServing makes sure the serving role exists with no power but LOGIN,
// may connect to and create schemas in the database, and owns what earlier
// versions of the runtime made as the provisioning role; then it opens a
// pool as the serving role. Safe to call from several replicas at once.
func (r *Roles) OpenServing(ctx context.Context, sc ServingConfig) (*pgxpool.Pool, error) {
	password, err := r.bootstrap(ctx)
	if err != nil {
		return nil, fmt.Errorf("dbroles: serving role %s: %w", r.ServingRole(), err)
	}
	pc := r.ConnConfig(r.ServingRole(), password)
	if sc.AppName != "" {
		pc.ConnConfig.RuntimeParams["application_name"] = sc.AppName
	}
	if sc.MaxConns > 0 {
		pc.MaxConns = sc.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("dbroles: serving pool: %w", err)
	}
	if err := r.Login(ctx, pool, r.ServingRole(), password); err != nil {
		pool.Close()
		return nil, fmt.Errorf("dbroles: serving pool: %w", err)
	}
	return pool, nil
}

// Login checks that pool, connected as role with password, can log in; if
// the role's password was changed behind the runtime's back, it sets
// password again (every pool of the role uses the same one) and retries
// once.
func (r *Roles) Login(ctx context.Context, pool *pgxpool.Pool, role, password string) error {
	err := pool.Ping(ctx)
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "28P01" { // invalid_password
		return err
	}
	r.log.Warn("a role's password was changed outside the runtime; setting it again", "role", role)
	if err := r.SetPassword(ctx, role, password); err != nil {
		return err
	}
	return pool.Ping(ctx)
}

const provTable = "websonic_provision.roles"

// bootstrap runs the serving role's setup under the provisioning lock and
// returns the serving role's password.
func (r *Roles) bootstrap(ctx context.Context) (string, error) {
	app := r.ServingRole()
	var password string
	err := r.tx(ctx, func(tx pgx.Tx) error {
		password = ""
		if _, err := tx.Exec(ctx, `LOCK TABLE `+provTable+` IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `SELECT password FROM `+provTable+` WHERE name = $1`, app).Scan(&password)
		newPassword := errors.Is(err, pgx.ErrNoRows)
		if newPassword {
			password = randomPassword()
			_, err = tx.Exec(ctx, `INSERT INTO `+provTable+` (name, password) VALUES ($1, $2)`, app, password)
		}
		if err != nil {
			return err
		}
		exists, err := roleExists(ctx, tx, app)
		if err != nil {
			return err
		}
		a := ident(app)
		db := ident(r.db)
		var stmts []string
		if !exists {
			stmts = append(stmts, "CREATE ROLE "+a+" LOGIN NOINHERIT")
		}
		if !exists || newPassword {
			stmts = append(stmts, setPassword(a, password))
		}
		stmts = append(stmts,
			"ALTER ROLE "+a+" LOGIN NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT -1",
			// The provisioning role joins the serving role only to hand it
			// what it owns (ALTER … OWNER needs membership in the new owner).
			"GRANT "+a+" TO CURRENT_USER",
		)
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", redact(q), err)
			}
		}
		// Privileges on the database and on public, written only when they
		// differ: every start of every replica and every command passes
		// here, and concurrent writes of one catalog row fail (Retry).
		for _, g := range []struct{ need, q string }{
			{`has_database_privilege('public', current_database(), 'CONNECT') OR has_database_privilege('public', current_database(), 'TEMPORARY')`,
				"REVOKE CONNECT, TEMPORARY ON DATABASE " + db + " FROM PUBLIC"},
			{`NOT has_database_privilege($1, current_database(), 'CONNECT WITH GRANT OPTION')`,
				"GRANT CONNECT ON DATABASE " + db + " TO " + a + " WITH GRANT OPTION"},
			{`NOT has_database_privilege($1, current_database(), 'CREATE')`, "GRANT CREATE ON DATABASE " + db + " TO " + a},
			{`has_schema_privilege('public', 'public', 'CREATE')`, "REVOKE CREATE ON SCHEMA public FROM PUBLIC"},
			// Where the runtime's migration tracking table lives.
			{`NOT has_schema_privilege($1, 'public', 'CREATE')`, "GRANT USAGE, CREATE ON SCHEMA public TO " + a},
		} {
			var need bool
			var args []any
			if strings.Contains(g.need, "$1") {
				args = append(args, app)
			}
			if err := tx.QueryRow(ctx, `SELECT `+g.need, args...).Scan(&need); err != nil {
				return err
			}
			if !need {
				continue
			}
			if _, err := tx.Exec(ctx, g.q); err != nil {
				return fmt.Errorf("%s: %w", g.q, err)
			}
		}
		if err := checkPowers(ctx, tx, app); err != nil {
			return err
		}
		findings, err := r.revokeMemberships(ctx, tx, app)
		if err != nil {
			return err
		}
		for _, f := range findings {
			r.log.Error("the serving role was changed outside the runtime; undone", "change", f.What)
		}
		return r.handOver(ctx, tx, app)
	})
	return password, err
}

// handOver gives the serving role what the provisioning role owns in the
// database besides its own schema: the core schemas, tables and views that
// earlier versions of the runtime made as the provisioning role.
func (r *Roles) handOver(ctx context.Context, tx pgx.Tx, app string) error {
	var stmts []string
	rows, err := tx.Query(ctx, `SELECT format('ALTER SCHEMA %I OWNER TO %I', nspname, $1::text) FROM pg_catalog.pg_namespace
		WHERE nspowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) AND nspname <> 'websonic_provision'
		ORDER BY nspname`, app)
	if err != nil {
		return err
	}
	schemas, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	// Relations follow their kind's ALTER; sequences owned by a column
	// and indexes move with their table, and are left out.
	rows, err = tx.Query(ctx, `SELECT format('ALTER %s %I.%I OWNER TO %I',
			CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
			n.nspname, c.relname, $1::text)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
		  AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND n.nspname <> 'websonic_provision'
		  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
		                  AND d.objid = c.oid AND d.deptype IN ('a', 'i'))
		ORDER BY 1`, app)
	if err != nil {
		return err
	}
	rels, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	stmts = append(stmts, schemas...)
	stmts = append(stmts, rels...)
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if len(stmts) > 0 {
		r.log.Info("handed the runtime's objects to the serving role", "role", app, "objects", len(stmts))
	}
	return nil
}

// AdoptSchema makes the serving role the owner of a module's schema that
// the module's role owns (made by an earlier version of the runtime, which
// let modules own their schemas), and takes back the provisioning role's
// membership in the module's role that this needed.
func (r *Roles) AdoptSchema(ctx context.Context, schema, moduleRole string) error {
	m, s, app := ident(moduleRole), ident(schema), ident(r.ServingRole())
	err := r.tx(ctx, func(tx pgx.Tx) error {
		for _, q := range []string{
			"GRANT " + m + " TO CURRENT_USER",
			"ALTER SCHEMA " + s + " OWNER TO " + app,
			"REVOKE " + m + " FROM CURRENT_USER",
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dbroles: adopt schema %s: %w", schema, err)
	}
	return nil
}

// ModuleRole is what EnsureModule makes of a module's role.
type ModuleRole struct {
	// Name is the role's name (Roles.ModuleRole).
	Name string
	// Password is set when the role is created or NewPassword is true.
	Password    string
	NewPassword bool
	// ConnLimit is the role's connection limit.
	ConnLimit int
	// Settings are its role-level settings (name → value). Every other
	// role setting is removed.
	Settings map[string]string
}

// Finding is one thing EnsureModule found changed behind the runtime's back.
type Finding struct {
	Role string
	What string
}

func (f Finding) String() string { return f.Role + ": " + f.What }

// EnsureModule creates the module's role or brings it back to exactly m:
// LOGIN, no other power, member of no role, no role a member of it, and
// m's settings only. It returns what it found changed (already undone).
// The caller reports the findings: a module changing its role is a module
// trying something.
func (r *Roles) EnsureModule(ctx context.Context, m ModuleRole) ([]Finding, error) {
	if !strings.HasPrefix(m.Name, r.prefix+"mod_") {
		return nil, fmt.Errorf("dbroles: %q is not a module role", m.Name)
	}
	var findings []Finding
	err := r.tx(ctx, func(tx pgx.Tx) error {
		findings = nil
		exists, err := roleExists(ctx, tx, m.Name)
		if err != nil {
			return err
		}
		n := ident(m.Name)
		var stmts []string
		if exists {
			if findings, err = r.inspect(ctx, tx, m); err != nil {
				return err
			}
		} else {
			stmts = append(stmts, "CREATE ROLE "+n+" LOGIN NOINHERIT")
		}
		if !exists || m.NewPassword {
			stmts = append(stmts, setPassword(n, m.Password))
		}
		stmts = append(stmts,
			// A non-superuser cannot even mention SUPERUSER, REPLICATION or
			// BYPASSRLS: roles it creates never have them (checkPowers).
			fmt.Sprintf("ALTER ROLE %s LOGIN NOCREATEDB NOCREATEROLE NOINHERIT CONNECTION LIMIT %d", n, m.ConnLimit),
			"ALTER ROLE "+n+" RESET ALL",
			"ALTER ROLE "+n+" IN DATABASE "+ident(r.db)+" RESET ALL",
		)
		names := make([]string, 0, len(m.Settings))
		for k := range m.Settings {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			v := quoteLiteral(m.Settings[k])
			if k == "search_path" {
				v = ident(m.Settings[k]) // a list of names, not a string
			}
			stmts = append(stmts, "ALTER ROLE "+n+" SET "+ident(k)+" = "+v)
		}
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", redact(q), err)
			}
		}
		if err := checkPowers(ctx, tx, m.Name); err != nil {
			return err
		}
		revoked, err := r.revokeMemberships(ctx, tx, m.Name)
		findings = append(findings, revoked...)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dbroles: module role %s: %w", m.Name, err)
	}
	for _, f := range findings {
		r.log.Error("a module changed its database role; undone", "role", f.Role, "change", f.What)
	}
	return findings, nil
}

// inspect lists how the role differs from m.
func (r *Roles) inspect(ctx context.Context, tx pgx.Tx, m ModuleRole) ([]Finding, error) {
	var out []Finding
	add := func(format string, args ...any) {
		out = append(out, Finding{Role: m.Name, What: fmt.Sprintf(format, args...)})
	}
	var createdb, createrole, canLogin, inherit bool
	var connLimit int
	if err := tx.QueryRow(ctx, `SELECT rolcreatedb, rolcreaterole, rolcanlogin, rolinherit, rolconnlimit
		FROM pg_catalog.pg_roles WHERE rolname = $1`, m.Name).Scan(&createdb, &createrole, &canLogin, &inherit, &connLimit); err != nil {
		return nil, err
	}
	if createdb || createrole || !canLogin || inherit {
		add("attributes changed (createdb=%v createrole=%v login=%v inherit=%v)", createdb, createrole, canLogin, inherit)
	}
	if connLimit != m.ConnLimit {
		add("connection limit changed to %d", connLimit)
	}
	// The module writes these values (megabytes, if it likes): only
	// their first maxSettingRead bytes and their length are read.
	rows, err := tx.Query(ctx, `SELECT s.setdatabase <> 0, pg_catalog.left(c, $2), pg_catalog.octet_length(c)
		FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_roles r ON r.oid = s.setrole, pg_catalog.unnest(s.setconfig) c
		WHERE r.rolname = $1 AND s.setdatabase IN (0, (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database()))`,
		m.Name, maxSettingRead)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var perDB bool
		var kv string
		var n int
		if err := rows.Scan(&perDB, &kv, &n); err != nil {
			return nil, err
		}
		k, v, _ := strings.Cut(kv, "=")
		switch want, ok := m.Settings[k]; {
		case n > len(kv):
			add("role setting %s… (%d bytes)", kv, n)
		case !ok || want != v || perDB:
			add("role setting %s", kv)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// maxSettingRead is how much of a role setting inspect reads: the
// runtime's own settings are far shorter.
const maxSettingRead = 200

// checkPowers refuses a role with a power only a superuser can give.
func checkPowers(ctx context.Context, tx pgx.Tx, role string) error {
	var super, repl, bypass bool
	if err := tx.QueryRow(ctx, `SELECT rolsuper, rolreplication, rolbypassrls FROM pg_catalog.pg_roles WHERE rolname = $1`, role).
		Scan(&super, &repl, &bypass); err != nil {
		return err
	}
	if super || repl || bypass {
		return fmt.Errorf("%w: %s has SUPERUSER, REPLICATION or BYPASSRLS, which a superuser gave it; take them back (ALTER ROLE %s NOSUPERUSER NOREPLICATION NOBYPASSRLS)",
			ErrUnsafeRole, role, role)
	}
	return nil
}

// revokeMemberships makes role a member of no role and leaves no role a
// member of it but the provisioning role's own grant of the serving role. It
// returns what it revoked that the runtime never gave (the provisioning
// role's memberships in module roles, from earlier runtimes, are not
// findings).
func (r *Roles) revokeMemberships(ctx context.Context, tx pgx.Tx, role string) ([]Finding, error) {
	rows, err := tx.Query(ctx, `SELECT g.rolname::text, m.rolname::text
		FROM pg_catalog.pg_auth_members a
		JOIN pg_catalog.pg_roles g ON g.oid = a.roleid
		JOIN pg_catalog.pg_roles m ON m.oid = a.member
		WHERE g.rolname = $1 OR m.rolname = $1`, role)
	if err != nil {
		return nil, err
	}
	type grant struct{ Group, Member string }
	grants, err := pgx.CollectRows(rows, pgx.RowToStructByPos[grant])
	if err != nil {
		return nil, err
	}
	var out []Finding
	for _, g := range grants {
		if g.Group == r.ServingRole() && g.Member == r.self {
			continue
		}
		if g.Member != r.self || !strings.HasPrefix(g.Group, r.prefix+"mod_") {
			out = append(out, Finding{Role: role, What: fmt.Sprintf("%s was a member of %s; revoked", g.Member, g.Group)})
		}
		if _, err := tx.Exec(ctx, "REVOKE "+ident(g.Group)+" FROM "+ident(g.Member)); err != nil {
			return nil, fmt.Errorf("revoke %s from %s: %w", g.Group, g.Member, err)
		}
	}
	return out, nil
}

// SetPassword sets role's password (as a SCRAM verifier: the password
// itself never appears in a statement or a server log line).
func (r *Roles) SetPassword(ctx context.Context, role, password string) error {
	if err := r.exec(ctx, setPassword(ident(role), password)); err != nil {
		return fmt.Errorf("dbroles: reset password of %s: %w", role, err)
	}
	return nil
}

// SetConnLimit sets a module role's connection limit: 0 suspends its
// database access for new connections (the caller closes the ones its pools
// hold).
func (r *Roles) SetConnLimit(ctx context.Context, role string, limit int) error {
	if !strings.HasPrefix(role, r.prefix+"mod_") {
		return fmt.Errorf("dbroles: %q is not a module role", role)
	}
	q := fmt.Sprintf("ALTER ROLE %s CONNECTION LIMIT %d", ident(role), limit)
	if err := r.exec(ctx, q); err != nil {
		return fmt.Errorf("dbroles: connection limit of %s: %w", role, err)
	}
	return nil
}

// DropModule drops a module's role and whatever it still owns or was
// granted in the database. The serving role drops the module's schema
// first; what is left is what the module made outside it (it can make
// nothing there but default privileges) and the grants it received.
func (r *Roles) DropModule(ctx context.Context, role string) error {
	if !strings.HasPrefix(role, r.prefix+"mod_") {
		return fmt.Errorf("dbroles: %q is not a module role", role)
	}
	err := r.tx(ctx, func(tx pgx.Tx) error {
		exists, err := roleExists(ctx, tx, role)
		if err != nil || !exists {
			return err
		}
		n := ident(role)
		for _, q := range []string{"GRANT " + n + " TO CURRENT_USER", "DROP OWNED BY " + n, "DROP ROLE " + n} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dbroles: drop %s: %w", role, err)
	}
	return nil
}

// Hardening lists the bounds of the package doc's "External servers" that
// the server lacks, in words for the site's log.
func (r *Roles) Hardening(ctx context.Context) ([]string, error) {
	var missing []string
	var loOpen, publicCreate, tempLimit, createDB bool
	var version int
	err := r.tx(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT current_setting('server_version_num')::int,
			has_function_privilege('public', 'pg_catalog.lo_from_bytea(oid, bytea)', 'EXECUTE'),
			has_schema_privilege('public', 'public', 'CREATE'),
			(SELECT rolcreatedb FROM pg_catalog.pg_roles WHERE rolname = current_user)`).Scan(&version, &loOpen, &publicCreate, &createDB); err != nil || version < 150000 {
			return err
		}
		return tx.QueryRow(ctx, `SELECT has_parameter_privilege('temp_file_limit', 'SET')`).Scan(&tempLimit)
	})
	if err != nil {
		return nil, fmt.Errorf("dbroles: %w", err)
	}
	if loOpen {
		missing = append(missing, "every role may create large objects, outside any module's storage quota (REVOKE EXECUTE ON FUNCTION lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea), lo_put(oid, bigint, bytea) FROM PUBLIC)")
	}
	if publicCreate {
		missing = append(missing, "every role may create objects in schema public (REVOKE CREATE ON SCHEMA public FROM PUBLIC)")
	}
	if !createDB {
		missing = append(missing, "backups cannot be verified nor sites imported: they are checked in a scratch database, which the runtime's role may not create (ALTER ROLE "+r.self+" CREATEDB)")
	}
	if version >= 150000 {
		if !tempLimit {
			missing = append(missing, "module roles cannot be given their own temp_file_limit (GRANT SET ON PARAMETER temp_file_limit TO "+r.self+"); the server's setting applies")
		}
	}
	return missing, nil
}

// CanSetTempFileLimit reports whether the provisioning role may put
// temp_file_limit on module roles.
func (r *Roles) CanSetTempFileLimit(ctx context.Context) bool {
	var can bool
	err := r.tx(ctx, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `SELECT current_setting('server_version_num')::int >= 150000
			AND has_parameter_privilege('temp_file_limit', 'SET')`).Scan(&can)
	})
	return err == nil && can
}

func roleExists(ctx context.Context, tx pgx.Tx, role string) (bool, error) {
	var exists bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1)`, role).Scan(&exists)
	return exists, err
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

// RandomPassword returns a new random role password.
func RandomPassword() string { return randomPassword() }

func randomPassword() string {
	b := make([]byte, 24)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// setPassword is the statement that sets role r's password, as a SCRAM
// verifier so the password itself never appears in a statement (or a
// server log line, where a failed statement is written).
func setPassword(r, password string) string {
	return fmt.Sprintf("ALTER ROLE %s PASSWORD %s", r, quoteLiteral(scramVerifier(password)))
}

// scramVerifier is PostgreSQL's SCRAM-SHA-256 verifier of password.
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
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// redact hides password verifiers in statements that end up in error
// messages.
func redact(q string) string {
	if i := strings.Index(q, " PASSWORD "); i >= 0 {
		return q[:i] + " PASSWORD '…'"
	}
	return q
}

func isCode(err error, codes ...string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && slices.Contains(codes, pe.Code)
}

// Settings returns the role-level settings for a module role's limits,
// ready for ModuleRole.Settings (and, as connection parameters, for its
// pools, where they outrank anything the role sets on itself).
func Settings(statementTimeout time.Duration, schema string, workMem, tempFileLimit int64) map[string]string {
	s := map[string]string{
		"statement_timeout":                   fmt.Sprint(statementTimeout.Milliseconds()),
		"lock_timeout":                        fmt.Sprint(statementTimeout.Milliseconds()),
		"idle_in_transaction_session_timeout": fmt.Sprint(2 * statementTimeout.Milliseconds()),
		"search_path":                         schema,
	}
	if workMem > 0 {
		s["work_mem"] = fmt.Sprintf("%dkB", max(workMem>>10, 64))
	}
	if tempFileLimit > 0 {
		s["temp_file_limit"] = fmt.Sprintf("%dkB", max(tempFileLimit>>10, 1))
	}
	return s
}

// tx runs f in a transaction of the provisioning pool, again if a
// concurrent catalog change made it fail (Retry). Every statement the
// provisioning role runs goes through here: the transaction's search_path
// is SafeParams', whatever the pool's connections were opened with. On
// the default search_path ("$user", public) a function named and typed to
// match better than pg_catalog's — unnest(text[]) over unnest(anyarray) —
// would run as the provisioning role if the serving role (which may create
// in public and make a schema named like the provisioning role) or, where
// public is writable by everyone (PostgreSQL 14, upgraded clusters), a
// module had planted it.
func (r *Roles) tx(ctx context.Context, f func(pgx.Tx) error) error {
	return Retry(ctx, func() error {
		return pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, safeSearchPath); err != nil {
				return err
			}
			return f(tx)
		})
	})
}

// safeSearchPath sets SafeParams' search_path for one transaction.
var safeSearchPath = "SET LOCAL search_path = " + SafeParams["search_path"]

// exec runs one statement as the provisioning role (see tx).
func (r *Roles) exec(ctx context.Context, q string) error {
	return r.tx(ctx, func(tx pgx.Tx) error { _, err := tx.Exec(ctx, q); return err })
}

// Retry runs f again (up to five times in all) while it fails because
// another session changed the same catalog row at the same time:
// PostgreSQL answers concurrent GRANTs on one database, or ALTER ROLEs of
// one role, with "tuple concurrently updated" (XX000) rather than waiting.
// Everything this package and the broker do to catalogs is idempotent, so
// doing it again is safe.
func Retry(ctx context.Context, f func() error) error {
	delay := 10 * time.Millisecond
	for i := 0; ; i++ {
		err := f()
		var pe *pgconn.PgError
		if err == nil || i == 4 || !errors.As(err, &pe) || pe.Code != "XX000" || !strings.Contains(pe.Message, "concurrently") {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
	}
}

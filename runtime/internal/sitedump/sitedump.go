package sitedump

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgembed"
)

// Config configures Dump, Verify and Replace. Zero fields take the
// defaults shown.
type Config struct {
	// Serving is the serving role's pool (coredb.DB.Pool). Its
	// configuration (server, TLS, the serving role's login) is also how
	// the package's own sessions and the client tools connect, as the
	// serving role or, with the password the runtime recorded for it in
	// websonic.modules, as a module's role.
	Serving *pgxpool.Pool
	// Roles names the site's roles (*dbroles.Roles).
	Roles RoleNames
	// BinDir holds pg_dump and pg_restore of the server's major version
	// ("": found by pgembed.FindClientTools).
	BinDir string
	// Scratch makes the scratch databases Verify and Replace restore
	// into (required by them; see ProvisioningScratch and
	// SuperuserScratch).
	Scratch ScratchFunc
	// TempDir holds the spooled archives while a dump is written or
	// read: as much room as the site's compressed data takes
	// (os.TempDir()).
	TempDir string
	Logger  hclog.Logger
}

// RoleNames is the part of dbroles.Roles this package needs.
type RoleNames interface {
	ServingRole() string
	ModuleRole(module string) string
}

func (cfg *Config) defaults() error {
	if cfg.Serving == nil || cfg.Roles == nil {
		return errors.New("sitedump: Config needs Serving and Roles")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.TempDir == "" {
		cfg.TempDir = os.TempDir()
	}
	return nil
}

// site is what an operation knows of the site's server.
type site struct {
	cfg     Config
	serving login
	major   int
	dump    string // pg_dump's path
	restore string // pg_restore's path
	// modules maps an installed module's name to its role's login.
	modules map[string]login
}

// open connects to the server once to learn its version, finds the
// client tools and the installed modules' logins.
func open(ctx context.Context, cfg Config) (*site, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	s := &site{cfg: cfg, serving: loginOf(cfg.Serving.Config().ConnConfig), modules: map[string]login{}}
	var num int
	if err := cfg.Serving.QueryRow(ctx, `SELECT pg_catalog.current_setting('server_version_num')::pg_catalog.int4`).Scan(&num); err != nil {
		return nil, fmt.Errorf("sitedump: server version: %w", err)
	}
	s.major = num / 10000
	dir, err := pgembed.FindClientTools(s.major, cfg.BinDir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTools, err)
	}
	s.dump, s.restore = dir+"/pg_dump", dir+"/pg_restore"
	rows, err := cfg.Serving.Query(ctx, `SELECT m.name, m.role_password FROM websonic.modules m
		WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = m.role_name) ORDER BY m.name`)
	if err != nil {
		return nil, fmt.Errorf("sitedump: installed modules: %w", err)
	}
	type mod struct{ Name, Password string }
	mods, err := pgx.CollectRows(rows, pgx.RowToStructByPos[mod])
	if err != nil {
		return nil, fmt.Errorf("sitedump: installed modules: %w", err)
	}
	for _, m := range mods {
		if moduleRE.MatchString(m.Name) {
			s.modules[m.Name] = s.serving.as(cfg.Roles.ModuleRole(m.Name), m.Password, "")
		}
	}
	return s, nil
}

// moduleLogin returns module's login, or ErrModuleMissing.
func (s *site) moduleLogin(module string) (login, error) {
	l, ok := s.modules[module]
	if !ok {
		return login{}, fmt.Errorf("%w: %s", ErrModuleMissing, module)
	}
	return l, nil
}

// checkModules fails with ErrModuleMissing naming every module of m the
// site lacks.
func (s *site) checkModules(m *Manifest) error {
	var missing []string
	for _, md := range m.Modules {
		if _, ok := s.modules[md.Name]; !ok {
			missing = append(missing, md.Name+" "+md.Version)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %v: install them first (their database roles must exist)", ErrModuleMissing, missing)
	}
	return nil
}

func (s *site) progress(f func(Progress), step string, done, total int64) {
	if f != nil {
		f(Progress{Step: step, Done: done, Total: total})
	}
}

// tableList lists the plain tables of schema that a dump checksums: all
// but the runtime's marks table in a module schema (which the runtime
// rebuilds from its ledger).
const tableList = `SELECT c.relname::pg_catalog.text FROM pg_catalog.pg_class c
	JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname = $1 AND c.relkind = 'r' AND NOT ($2 AND c.relname = '_migrations')
	ORDER BY c.relname`

// checksumSQL is a table's row count and checksum: the sum, as numeric,
// of the first 64 bits of each row's MD5 read as a signed integer. It is
// order-independent and survives a dump and restore (row text does not
// depend on storage); sessionParams pin what row text depends on.
func checksumSQL(schema, table string) string {
	return `SELECT pg_catalog.count(*), COALESCE(pg_catalog.sum(
		(('x' OPERATOR(pg_catalog.||) pg_catalog.substr(pg_catalog.md5(CAST(ROW(r.*) AS pg_catalog.text)), 1, 16))::pg_catalog.bit(64))::pg_catalog.int8), 0)::pg_catalog.text
		FROM ONLY ` + pgx.Identifier{schema, table}.Sanitize() + ` AS r`
}

// querier is a pgx.Conn or pgx.Tx.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// checksums returns the sums of the tables of schema, read through q, and
// reports each (the caller counts them as report(1)).
func checksums(ctx context.Context, q querier, schema, as string, report func()) ([]TableSum, error) {
	rows, err := q.Query(ctx, tableList, as, strings.HasPrefix(schema, "mod_"))
	if err != nil {
		return nil, fmt.Errorf("tables of %s: %w", as, err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("tables of %s: %w", as, err)
	}
	var out []TableSum
	for _, t := range tables {
		ts := TableSum{Schema: schema, Table: t}
		if err := q.QueryRow(ctx, checksumSQL(as, t)).Scan(&ts.Rows, &ts.Checksum); err != nil {
			return nil, fmt.Errorf("checksum of %s.%s: %w", as, t, err)
		}
		out = append(out, ts)
		if report != nil {
			report()
		}
	}
	return out, nil
}

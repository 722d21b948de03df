package sitedump

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ScratchFunc creates an empty database on the site's server that the
// serving role may connect to and create schemas in, and the module roles
// connect to; it returns the database's name and a func that drops it
// (ending its sessions). Verify and Replace restore into one and always
// drop it.
type ScratchFunc func(ctx context.Context, serving string, modules []string) (name string, drop func(context.Context) error, err error)

// Connector opens a session to database db ("" for the role's default) as
// a role that may create databases.
type Connector func(ctx context.Context, db string) (*pgx.Conn, error)

// NewScratch returns a ScratchFunc creating databases through connect.
func NewScratch(connect Connector) ScratchFunc {
	return func(ctx context.Context, serving string, modules []string) (string, func(context.Context) error, error) {
		conn, err := connect(ctx, "")
		if err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrNoScratch, err)
		}
		defer conn.Close(context.Background())
		var base, self string
		if err := conn.QueryRow(ctx, `SELECT pg_catalog.current_database()::pg_catalog.text, current_user::pg_catalog.text`).Scan(&base, &self); err != nil {
			return "", nil, fmt.Errorf("%w: %w", ErrNoScratch, err)
		}
		if len(base) > 30 {
			base = base[:30]
		}
		dropStale(ctx, conn, base, time.Now())
		b := make([]byte, 4)
		rand.Read(b)
		name := fmt.Sprintf("%s_scratch_%d_%s", base, time.Now().Unix(), hex.EncodeToString(b))
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident(name)+" TEMPLATE template0"); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "42501" {
				return "", nil, fmt.Errorf("%w: role %s may not create databases, and verifying a restore needs a scratch database; "+
					"as the server's superuser, run: ALTER ROLE %s CREATEDB", ErrNoScratch, self, ident(self))
			}
			return "", nil, fmt.Errorf("%w: %w", ErrNoScratch, err)
		}
		drop := func(ctx context.Context) error {
			conn, err := connect(ctx, "")
			if err != nil {
				return fmt.Errorf("sitedump: drop scratch database %s: %w", name, err)
			}
			defer conn.Close(context.Background())
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(name)+" WITH (FORCE)"); err != nil {
				return fmt.Errorf("sitedump: drop scratch database %s: %w", name, err)
			}
			return nil
		}
		fail := func(err error) (string, func(context.Context) error, error) {
			return "", nil, errors.Join(fmt.Errorf("%w: %w", ErrNoScratch, err), drop(context.WithoutCancel(ctx)))
		}
		sc, err := connect(ctx, name)
		if err != nil {
			return fail(err)
		}
		defer sc.Close(context.Background())
		d := ident(name)
		stmts := []string{
			"REVOKE ALL ON DATABASE " + d + " FROM PUBLIC",
			"REVOKE CREATE ON SCHEMA public FROM PUBLIC",
			"GRANT CONNECT, CREATE ON DATABASE " + d + " TO " + ident(serving),
		}
		for _, m := range modules {
			stmts = append(stmts, "GRANT CONNECT ON DATABASE "+d+" TO "+ident(m))
		}
		for _, q := range stmts {
			if _, err := sc.Exec(ctx, q); err != nil {
				return fail(fmt.Errorf("%s: %w", q, err))
			}
		}
		return name, drop, nil
	}
}

// staleScratch is how old a scratch database left behind must be before
// the next scratch creation drops it: no Verify or Replace holds one
// without a session for that long.
const staleScratch = time.Hour

// scratchRE matches a scratch database's name: <base>_scratch_<unix
// seconds of its creation>_<8 hex>.
var scratchRE = regexp.MustCompile(`_scratch_([0-9]{1,19})_[0-9a-f]{8}$`)

// dropStale drops the scratch databases of base that a Verify or Replace
// killed mid-way left: those this role owns, named as NewScratch names
// them, created more than staleScratch before now, with no session. It is
// best effort: a database it cannot drop stays for the next time.
func dropStale(ctx context.Context, conn *pgx.Conn, base string, now time.Time) {
	like := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(base) + `\_scratch\_%`
	rows, err := conn.Query(ctx, `SELECT d.datname::pg_catalog.text FROM pg_catalog.pg_database d
		WHERE d.datname OPERATOR(pg_catalog.~~) $1
		AND d.datdba = (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user)
		AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.datname OPERATOR(pg_catalog.=) d.datname)`, like)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		m := scratchRE.FindStringSubmatch(n)
		if m == nil || len(n) != len(base)+len(m[0]) {
			continue
		}
		sec, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || now.Sub(time.Unix(sec, 0)) < staleScratch {
			continue
		}
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident(n)) // not FORCE: one in use stays
	}
}

// ProvisioningScratch makes scratch databases as the provisioning role
// (prov is its pool, the database URL's role) on an external server,
// where it needs CREATEDB: without it, ErrNoScratch says what to grant.
func ProvisioningScratch(prov *pgxpool.Pool) ScratchFunc {
	return NewScratch(func(ctx context.Context, db string) (*pgx.Conn, error) {
		cc := prov.Config().ConnConfig.Copy()
		if db != "" {
			cc.Database = db
		}
		cc.RuntimeParams = map[string]string{"search_path": "pg_catalog, pg_temp"}
		return pgx.ConnectConfig(ctx, cc)
	})
}

// SuperuserScratch makes scratch databases as a superuser whose URL for
// database db superuserURL returns ("" for its default): on the embedded
// cluster, pgembed.Cluster.SuperuserURL.
func SuperuserScratch(superuserURL func(db string) string) ScratchFunc {
	return NewScratch(func(ctx context.Context, db string) (*pgx.Conn, error) {
		if db == "" {
			db = "postgres"
		}
		cc, err := pgx.ParseConfig(superuserURL(db))
		if err != nil {
			return nil, err
		}
		cc.RuntimeParams["search_path"] = "pg_catalog, pg_temp"
		return pgx.ConnectConfig(ctx, cc)
	})
}

func ident(s string) string { return pgx.Identifier{s}.Sanitize() }

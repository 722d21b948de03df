package sitedump

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// spooled is a read stream: its manifest, its archives on disk (in
// m.Dumps order), its files on disk when kept (in m.Files order), and
// their checks.
type spooled struct {
	m     *Manifest
	dumps []string
	files []string
	check []FileCheck
}

// spool reads the whole stream r into dir, checking each entry against
// the manifest: the archives must match exactly (ErrFormat otherwise);
// files that differ are reported in check. keepFiles keeps the files'
// bytes (Replace hands them on). With dir "", nothing is kept (Check).
func spool(ctx context.Context, r io.Reader, dir string, keepFiles bool, progress func(Progress)) (*spooled, error) {
	m, tr, err := openStream(r)
	if err != nil {
		return nil, err
	}
	sp := &spooled{m: m}
	var total, done int64
	for _, d := range m.Dumps {
		total += d.Size
	}
	for _, f := range m.Files {
		total += f.Size
	}
	// next reads the next entry, which must be name with size bytes.
	next := func(name string, size int64, keep string) (int64, string, error) {
		if err := ctx.Err(); err != nil {
			return 0, "", err
		}
		h, err := tr.Next()
		if err == io.EOF {
			return 0, "", fmt.Errorf("%w: the stream ends before %s (truncated?)", ErrFormat, name)
		}
		if err != nil {
			return 0, "", fmt.Errorf("%w: before %s: %w", ErrFormat, name, err)
		}
		if h.Name != name || h.Typeflag != tar.TypeReg {
			return 0, "", fmt.Errorf("%w: entry %q where the manifest has %s next", ErrFormat, h.Name, name)
		}
		w := io.Writer(io.Discard)
		if keep != "" {
			f, err := os.OpenFile(keep, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return 0, "", err
			}
			defer f.Close()
			w = f
		}
		hash := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, hash), tr)
		if err != nil {
			return 0, "", fmt.Errorf("%w: %s: %w", ErrFormat, name, err)
		}
		done += n
		if progress != nil {
			progress(Progress{Step: "read", Done: done, Total: total})
		}
		return n, hex.EncodeToString(hash.Sum(nil)), nil
	}
	for i, d := range m.Dumps {
		name := dbPrefix + d.Schema + ".pgdump"
		file := ""
		if dir != "" {
			file = filepath.Join(dir, fmt.Sprintf("%03d.pgdump", i))
		}
		n, sum, err := next(name, d.Size, file)
		if err != nil {
			return nil, err
		}
		if n != d.Size || sum != d.SHA256 {
			return nil, fmt.Errorf("%w: %s: %d bytes with sha256 %s, the manifest says %d bytes with sha256 %s: the stream is corrupt or was changed",
				ErrFormat, name, n, sum, d.Size, d.SHA256)
		}
		sp.dumps = append(sp.dumps, file)
	}
	for i, f := range m.Files {
		file := ""
		if keepFiles && dir != "" {
			file = filepath.Join(dir, fmt.Sprintf("%06d.file", i))
		}
		n, sum, err := next(filesPrefix+f.Path, f.Size, file)
		if err != nil {
			return nil, err
		}
		sp.check = append(sp.check, FileCheck{Path: f.Path, WantSize: f.Size, GotSize: n, WantSHA256: f.SHA256, GotSHA256: sum,
			OK: n == f.Size && sum == f.SHA256})
		sp.files = append(sp.files, file)
	}
	if h, err := tr.Next(); err != io.EOF {
		if err == nil {
			return nil, fmt.Errorf("%w: entry %q after the last one the manifest lists", ErrFormat, h.Name)
		}
		return nil, fmt.Errorf("%w: after the last entry: %w", ErrFormat, err)
	}
	return sp, nil
}

// Check reads the whole stream r and checks it as Verify and Replace do
// before they restore anything: the manifest, the order and size of every
// entry, and every archive's and file's SHA-256 (ErrFormat). It restores
// nothing, keeps nothing and needs no database: a cheap way to refuse a
// damaged, truncated or changed stream before acting on it. That the data
// restores to the same rows and checksums only Verify and Replace show.
func Check(ctx context.Context, r io.Reader, progress func(Progress)) (*Manifest, error) {
	sp, err := spool(ctx, r, "", false, progress)
	if err != nil {
		return nil, err
	}
	for _, c := range sp.check {
		if !c.OK {
			return sp.m, fmt.Errorf("%w: file %s: %d bytes with sha256 %s, the manifest says %d bytes with sha256 %s: the stream is corrupt or was changed",
				ErrFormat, c.Path, c.GotSize, c.GotSHA256, c.WantSize, c.WantSHA256)
		}
	}
	return sp.m, nil
}

// archive is one pg_dump archive to restore: schema (as named in the
// archive), restored as module's role ("" for the serving role).
type archive struct {
	schema, module, file string
}

// tocSchema matches a pg_restore -l line creating a schema: the serving
// role makes every schema itself, before the restore.
var tocSchema = regexp.MustCompile(`^[0-9]+; [0-9]+ [0-9]+ SCHEMA - `)

// restoreInto restores archives into database db: the serving role makes
// each schema (granting a module's schema to its role), restores the core
// ones, grants the core views the restored websonic.modules records as
// approved (core and api name the restored core and view schemas), then
// each module's role restores its schema. Nothing a module made runs as
// any role but the module's own.
func (s *site) restoreInto(ctx context.Context, db, tmp string, archives []archive, core, api string, progress func(Progress)) error {
	serving := s.serving.as("", "", db)
	conn, err := serving.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	// The core archives' SQL runs as the serving role; a hostile one
	// (a site import's source) may change that role's own defaults, which
	// apply on the whole server: put them back however the restore ends.
	defer func() {
		if rerr := resetOwnSettings(context.WithoutCancel(ctx), conn); rerr != nil {
			s.cfg.Logger.Error("could not reset the serving role's settings after a restore", "error", rerr)
		}
	}()
	var stmts []string
	for _, a := range archives {
		q := ident(a.schema)
		stmts = append(stmts, "CREATE SCHEMA "+q, "REVOKE ALL ON SCHEMA "+q+" FROM PUBLIC")
		if a.module != "" {
			stmts = append(stmts, "GRANT USAGE, CREATE ON SCHEMA "+q+" TO "+ident(s.cfg.Roles.ModuleRole(a.module)))
		}
	}
	if err := execAll(ctx, conn, stmts); err != nil {
		return err
	}
	restore := func(i int, a archive) error {
		if progress != nil {
			progress(Progress{Step: "restore", Done: int64(i), Total: int64(len(archives))})
		}
		as := serving
		if a.module != "" {
			l, err := s.moduleLogin(a.module)
			if err != nil {
				return err
			}
			as = l.as("", "", db)
		}
		list, err := s.restoreList(ctx, tmp, a)
		if err != nil {
			return err
		}
		if err := run(as.command(ctx, s.restore, "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
			"--use-list="+list, a.file)); err != nil {
			return fmt.Errorf("restore schema %s: %w", a.schema, err)
		}
		return nil
	}
	for i, a := range archives {
		if a.module == "" {
			if err := restore(i, a); err != nil {
				return err
			}
		}
	}
	if err := s.grantViews(ctx, conn, core, api); err != nil {
		return err
	}
	for i, a := range archives {
		if a.module != "" {
			if err := restore(i, a); err != nil {
				return err
			}
		}
	}
	return nil
}

// resetOwnSettings removes every default the session's role set on
// itself (ALTER ROLE CURRENT_USER [IN DATABASE …] SET): the serving role
// has none of its own (dbroles sets its limits per connection), so any is
// a restore's doing.
func resetOwnSettings(ctx context.Context, conn *pgx.Conn) error {
	rows, err := conn.Query(ctx, `SELECT coalesce(d.datname::pg_catalog.text, '') FROM pg_catalog.pg_db_role_setting s
		LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
		WHERE s.setrole = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)`)
	if err != nil {
		return err
	}
	dbs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, db := range dbs {
		q := "ALTER ROLE CURRENT_USER RESET ALL"
		if db != "" {
			q = "ALTER ROLE CURRENT_USER IN DATABASE " + ident(db) + " RESET ALL"
		}
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// restoreList writes a's table of contents without the schema's own
// entry, for pg_restore --use-list.
func (s *site) restoreList(ctx context.Context, tmp string, a archive) (string, error) {
	cmd := s.serving.command(ctx, s.restore, "--list", a.file)
	cmd.Args = cmd.Args[:len(cmd.Args)-1] // --list reads no database
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%w: archive of schema %s: %w: %s", ErrFormat, a.schema, err, strings.TrimSpace(stderr.String()))
	}
	var b strings.Builder
	sc := bufio.NewScanner(&out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if tocSchema.MatchString(line) {
			line = ";" + line
		}
		b.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	name := a.file + ".list"
	return name, os.WriteFile(name, []byte(b.String()), 0o600)
}

// grantViews grants each module's role the core views the restored
// websonic.modules (in schema core) says the owner approved, in schema
// api: modules' own views over them are restored next. The runtime sets
// them again at each module's start.
func (s *site) grantViews(ctx context.Context, conn *pgx.Conn, core, api string) error {
	rows, err := conn.Query(ctx, `SELECT name, granted_views FROM `+ident(core)+`.modules ORDER BY name`)
	if err != nil {
		return fmt.Errorf("approved views: %w", err)
	}
	type grant struct {
		Name  string
		Views []string
	}
	grants, err := pgx.CollectRows(rows, pgx.RowToStructByPos[grant])
	if err != nil {
		return fmt.Errorf("approved views: %w", err)
	}
	var stmts []string
	for _, g := range grants {
		if _, ok := s.modules[g.Name]; !ok || len(g.Views) == 0 {
			continue
		}
		r := ident(s.cfg.Roles.ModuleRole(g.Name))
		stmts = append(stmts, "GRANT USAGE ON SCHEMA "+ident(api)+" TO "+r)
		for _, v := range g.Views {
			var exists bool
			if err := conn.QueryRow(ctx, `SELECT pg_catalog.to_regclass($1) IS NOT NULL`, pgx.Identifier{api, v}.Sanitize()).Scan(&exists); err != nil {
				return err
			}
			if exists {
				stmts = append(stmts, "GRANT SELECT ON "+pgx.Identifier{api, v}.Sanitize()+" TO "+r)
			}
		}
	}
	return execAll(ctx, conn, stmts)
}

// sumsIn reads the tables' sums of the restored archives in db, each
// schema as its owner; named maps a schema's name in db to the name the
// manifest records.
func (s *site) sumsIn(ctx context.Context, db string, archives []archive, named func(string) string) ([]TableSum, error) {
	var out []TableSum
	read := func(as login, schemas []string) error {
		conn, err := as.connect(ctx)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			return err
		}
		defer tx.Rollback(context.Background())
		for _, schema := range schemas {
			sums, err := checksums(ctx, tx, named(schema), schema, nil)
			if err != nil {
				return err
			}
			out = append(out, sums...)
		}
		return nil
	}
	var core []string
	for _, a := range archives {
		if a.module == "" {
			core = append(core, a.schema)
		}
	}
	if err := read(s.serving.as("", "", db), core); err != nil {
		return nil, err
	}
	for _, a := range archives {
		if a.module == "" {
			continue
		}
		l, err := s.moduleLogin(a.module)
		if err != nil {
			return nil, err
		}
		if err := read(l.as("", "", db), []string{a.schema}); err != nil {
			return nil, fmt.Errorf("module %s: %w", a.module, err)
		}
	}
	return out, nil
}

func execAll(ctx context.Context, conn *pgx.Conn, stmts []string) error {
	for _, q := range stmts {
		if _, err := conn.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	return nil
}

// archivesOf lists sp's archives.
func archivesOf(sp *spooled) []archive {
	var out []archive
	for i, d := range sp.m.Dumps {
		out = append(out, archive{schema: d.Schema, module: d.Module, file: sp.dumps[i]})
	}
	return out
}

// scratch makes a scratch database for m's modules.
func (s *site) scratch(ctx context.Context, m *Manifest) (string, func(), error) {
	if s.cfg.Scratch == nil {
		return "", nil, fmt.Errorf("%w: no Config.Scratch", ErrNoScratch)
	}
	var roles []string
	for _, md := range m.Modules {
		roles = append(roles, s.cfg.Roles.ModuleRole(md.Name))
	}
	name, drop, err := s.cfg.Scratch(ctx, s.cfg.Roles.ServingRole(), roles)
	if err != nil {
		return "", nil, err
	}
	return name, func() {
		if err := drop(context.WithoutCancel(ctx)); err != nil {
			s.cfg.Logger.Error("scratch database left behind", "database", name, "error", err)
		}
	}, nil
}

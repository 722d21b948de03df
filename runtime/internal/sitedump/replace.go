package sitedump

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/coredb"
)

// ReplaceOptions are Replace's choices.
type ReplaceOptions struct {
	// DryRun does everything but the swap (and Files), and reports.
	DryRun bool
	// Files, if set, receives each files/ entry, checked against the
	// manifest, once the staged database has been checked and before the
	// swap; an error stops Replace with the live database unchanged. It
	// should install them aside and move them in when Replace succeeds.
	Files func(path string, r io.Reader) error
	// DropReplaced drops the live schemas the swap renamed aside at once,
	// instead of keeping them until the next successful Replace.
	DropReplaced bool
	// Progress, if set, is told each step's advance.
	Progress func(Progress)
}

// Schema name patterns of Replace's staging and set-aside schemas.
var (
	stagePattern    = regexp.MustCompile(`^stage_[0-9]+_(websonic|websonic_api|mod_[a-z][a-z0-9_]{1,29})$`)
	replacedPattern = regexp.MustCompile(`^replaced_[0-9]{8}t[0-9]{6}_(websonic|websonic_api|mod_[a-z][a-z0-9_]{1,29})$`)
)

// Replace makes the site's database the dump read from r, without ever
// leaving the live site half replaced:
//
//  1. the stream is checked and restored into a scratch database and
//     compared with the manifest, as Verify does;
//  2. there, each schema is renamed stage_<n>_<schema> and dumped again
//     (each as its owner), and those archives are restored into the live
//     database as the right roles, next to the live schemas;
//  3. the staged tables are compared with the manifest again, in the
//     live database; opts.Files gets the files;
//  4. one transaction of the serving role renames the live schemas
//     (websonic, websonic_api and every mod_*) to
//     replaced_<yyyymmddThhmmss>_<schema> and the staged ones to the live
//     names, and makes the core migration record the dump's.
//
// Any failure or interruption before 4 leaves the live schemas as they
// were; staging schemas an interrupted run left are dropped at the start
// of the next. After the swap, Replace applies the core migrations the
// dump lacks (coredb.Migrate); the caller then reloads the modules, whose
// start sets their roles' passwords and grants again (sandboxdb), and
// installs the files. Every module of the dump must be installed first
// (ErrModuleMissing); a dump from a runtime with core migrations this one
// lacks is refused (ErrNewerRuntime).
func Replace(ctx context.Context, cfg Config, r io.Reader, opts ReplaceOptions) (*Report, error) {
	s, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	unlock, err := s.lockReplace(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := s.dropStaging(ctx); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(s.cfg.TempDir, "sitedump-")
	if err != nil {
		return nil, fmt.Errorf("sitedump: %w", err)
	}
	defer os.RemoveAll(tmp)
	sp, err := spool(ctx, r, tmp, opts.Files != nil, opts.Progress)
	if err != nil {
		return nil, err
	}
	if err := s.checkModules(sp.m); err != nil {
		return nil, err
	}
	live, err := coreMigrations(ctx, s.cfg.Serving)
	if err != nil {
		return nil, fmt.Errorf("sitedump: %w", err)
	}
	var newer []string
	for _, name := range sp.m.CoreMigrations {
		if !slices.Contains(live, name) {
			newer = append(newer, name)
		}
	}
	if len(newer) > 0 {
		return nil, fmt.Errorf("%w: it has core migrations %v that this runtime does not: update the runtime first", ErrNewerRuntime, newer)
	}

	// 1 and 2: restore, verify, rename and dump again in a scratch
	// database.
	n := strconv.FormatInt(time.Now().Unix(), 10)
	stage := func(schema string) string { return "stage_" + n + "_" + schema }
	stageDir := filepath.Join(tmp, "stage")
	if err := os.Mkdir(stageDir, 0o700); err != nil {
		return nil, fmt.Errorf("sitedump: %w", err)
	}
	var staged []archive
	rep, _, err := s.verifyScratch(ctx, sp, tmp, func(db string) error {
		var err error
		staged, err = s.restage(ctx, db, archivesOf(sp), stage, stageDir)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("sitedump: replace: %w", err)
	}
	if !rep.OK {
		return rep, rep.err()
	}

	// 2 and 3: into the live database, next to the live schemas.
	cleanup := func() {
		if err := s.dropStaging(context.WithoutCancel(ctx)); err != nil {
			s.cfg.Logger.Error("staging schemas left behind (dropped at the next restore)", "error", err)
		}
	}
	liveDB := s.serving.cc.Database
	if err := s.restoreInto(ctx, liveDB, stageDir, staged, stage("websonic"), stage("websonic_api"), opts.Progress); err != nil {
		cleanup()
		return nil, fmt.Errorf("sitedump: replace: staging: %w", err)
	}
	if err := s.marks(ctx, sp.m, stage); err != nil {
		cleanup()
		return nil, fmt.Errorf("sitedump: replace: staging: %w", err)
	}
	sums, err := s.sumsIn(ctx, liveDB, staged, func(schema string) string { return strings.TrimPrefix(schema, "stage_"+n+"_") })
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("sitedump: replace: staging: %w", err)
	}
	rep = &Report{Files: sp.check, DryRun: opts.DryRun}
	rep.compare(sp.m.Tables, sums)
	if !rep.OK || opts.DryRun {
		cleanup()
		return rep, rep.err()
	}
	if opts.Files != nil {
		for i, f := range sp.m.Files {
			if err := s.hand(f.Path, sp.files[i], opts.Files); err != nil {
				cleanup()
				return nil, fmt.Errorf("sitedump: replace: file %s: %w", f.Path, err)
			}
		}
	}

	// 4: the swap.
	if rep.Replaced, err = s.swap(ctx, sp.m, stage); err != nil {
		cleanup()
		return nil, fmt.Errorf("sitedump: replace: swap (nothing was changed): %w", err)
	}
	s.cfg.Logger.Info("site database replaced", "dump", sp.m.Created, "set_aside", rep.Replaced)
	if err := s.dropReplaced(ctx, rep.Replaced, opts.DropReplaced); err != nil {
		s.cfg.Logger.Warn("could not drop replaced schemas", "error", err)
	}
	if opts.DropReplaced {
		rep.Replaced = nil
	}
	if err := coredb.Migrate(ctx, s.cfg.Serving); err != nil {
		return rep, fmt.Errorf("sitedump: replace: the dump is in place, but the core migrations it lacks failed: %w", err)
	}
	return rep, nil
}

// replaceLock is the advisory lock a Replace holds from its start to its
// end: the owner's commands (backup restore, site import) and the portal
// run in different processes, and a second Replace would drop the first
// one's staging schemas.
const replaceLock = int64(0x77656273726570) // "websrep"

// lockReplace takes replaceLock on a session of the serving role, or
// fails with ErrBusy; unlock ends the session, which releases it.
func (s *site) lockReplace(ctx context.Context) (unlock func(), err error) {
	conn, err := s.serving.connect(ctx)
	if err != nil {
		return nil, err
	}
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_lock($1)`, replaceLock).Scan(&got); err != nil || !got {
		conn.Close(context.Background())
		if err != nil {
			return nil, fmt.Errorf("sitedump: replace: %w", err)
		}
		return nil, fmt.Errorf("%w: wait until it ends, then run this again", ErrBusy)
	}
	return func() { conn.Close(context.Background()) }, nil
}

// hand gives one spooled file to f.
func (s *site) hand(path, file string, f func(string, io.Reader) error) error {
	r, err := os.Open(file)
	if err != nil {
		return err
	}
	defer r.Close()
	return f(path, r)
}

// restage renames the schemas restored in the scratch database db to
// their staging names and dumps them again, each as its owner, into dir.
func (s *site) restage(ctx context.Context, db string, archives []archive, stage func(string) string, dir string) ([]archive, error) {
	conn, err := s.serving.as("", "", db).connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var stmts []string
	for _, a := range archives {
		stmts = append(stmts, "ALTER SCHEMA "+ident(a.schema)+" RENAME TO "+ident(stage(a.schema)))
	}
	if err := execAll(ctx, conn, stmts); err != nil {
		return nil, err
	}
	var out []archive
	for _, a := range archives {
		as := s.serving
		if a.module != "" {
			as, _ = s.moduleLogin(a.module)
		}
		file := filepath.Join(dir, stage(a.schema)+".pgdump")
		if err := run(as.as("", "", db).command(ctx, s.dump, "--format=custom", "--compress=0", "--no-owner", "--no-privileges",
			"--no-publications", "--no-subscriptions", "--no-security-labels", "--file="+file, "--schema="+quotePattern(stage(a.schema)))); err != nil {
			return nil, fmt.Errorf("dump staged schema %s: %w", a.schema, err)
		}
		out = append(out, archive{schema: stage(a.schema), module: a.module, file: file})
	}
	return out, nil
}

// marks makes each staged module schema's marks table, as the runtime
// does (sandboxdb), from the staged ledger.
func (s *site) marks(ctx context.Context, m *Manifest, stage func(string) string) error {
	conn, err := s.serving.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, md := range m.Modules {
		t := pgx.Identifier{stage(md.Schema), "_migrations"}.Sanitize()
		r := ident(s.cfg.Roles.ModuleRole(md.Name))
		if err := execAll(ctx, conn, []string{
			"CREATE TABLE " + t + " (name pg_catalog.text PRIMARY KEY, checksum pg_catalog.bytea NOT NULL, applied_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now())",
			"REVOKE ALL ON " + t + " FROM PUBLIC, " + r,
			"GRANT SELECT, INSERT ON " + t + " TO " + r,
		}); err != nil {
			return err
		}
		if _, err := conn.Exec(ctx, `INSERT INTO `+t+` (name, checksum, applied_at)
			SELECT name, checksum, applied_at FROM `+ident(stage("websonic"))+`.module_migrations WHERE module = $1`, md.Name); err != nil {
			return fmt.Errorf("marks of %s: %w", md.Name, err)
		}
	}
	return nil
}

// swap renames, in one transaction, the live schemas aside and the staged
// ones to the live names, and records the dump's core migrations. It
// returns the set-aside names.
func (s *site) swap(ctx context.Context, m *Manifest, stage func(string) string) ([]string, error) {
	conn, err := s.serving.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	var aside []string
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		aside = nil
		// The lock the runtime's migrations take: no replica migrates
		// while the schemas move.
		if _, err := tx.Exec(ctx, `LOCK TABLE public.websonic_schema_migrations IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT nspname::pg_catalog.text FROM pg_catalog.pg_namespace
			WHERE (nspname IN ('websonic', 'websonic_api') OR nspname LIKE 'mod\_%')
			  AND nspowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
			ORDER BY nspname`)
		if err != nil {
			return err
		}
		live, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		ts := time.Now().UTC().Format("20060102t150405")
		var stmts []string
		for _, schema := range live {
			if !schemaRE.MatchString(schema) {
				continue
			}
			a := "replaced_" + ts + "_" + schema
			stmts = append(stmts, "ALTER SCHEMA "+ident(schema)+" RENAME TO "+ident(a))
			aside = append(aside, a)
		}
		for _, d := range m.Dumps {
			stmts = append(stmts, "ALTER SCHEMA "+ident(stage(d.Schema))+" RENAME TO "+ident(d.Schema))
		}
		stmts = append(stmts, "DELETE FROM public.websonic_schema_migrations")
		for _, q := range stmts {
			if _, err := tx.Exec(ctx, q); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO public.websonic_schema_migrations (name) SELECT pg_catalog.unnest($1::pg_catalog.text[])`, m.CoreMigrations)
		return err
	})
	return aside, err
}

// dropStaging drops the staging schemas an earlier Replace left.
func (s *site) dropStaging(ctx context.Context) error {
	return s.dropMatching(ctx, func(name string) bool { return stagePattern.MatchString(name) })
}

// dropReplaced drops the set-aside schemas of earlier Replaces, and with
// all those of this one (keep) too.
func (s *site) dropReplaced(ctx context.Context, keep []string, all bool) error {
	return s.dropMatching(ctx, func(name string) bool {
		return replacedPattern.MatchString(name) && (all || !slices.Contains(keep, name))
	})
}

// dropMatching drops the serving role's schemas whose names match, with
// everything in them (the schema's owner may; dropping runs nothing a
// module made).
func (s *site) dropMatching(ctx context.Context, match func(string) bool) error {
	rows, err := s.cfg.Serving.Query(ctx, `SELECT nspname::pg_catalog.text FROM pg_catalog.pg_namespace
		WHERE nspowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user) ORDER BY nspname`)
	if err != nil {
		return fmt.Errorf("sitedump: schemas: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("sitedump: schemas: %w", err)
	}
	var errs []error
	for _, name := range names {
		if match(name) {
			if _, err := s.cfg.Serving.Exec(ctx, "DROP SCHEMA "+ident(name)+" CASCADE"); err != nil {
				errs = append(errs, fmt.Errorf("sitedump: drop schema %s: %w", name, err))
			}
		}
	}
	return errors.Join(errs...)
}

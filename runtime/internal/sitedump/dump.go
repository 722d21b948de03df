package sitedump

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// DumpOptions are Dump's choices.
type DumpOptions struct {
	// Dir is the data directory that Files are relative to.
	Dir string
	// Files are paths relative to Dir (slash-separated): files, or
	// directories taken whole. Paths that do not exist are skipped; a
	// symbolic link is followed only when it stays inside Dir, and must
	// lead to a file.
	Files []string
	// Progress, if set, is told each step's advance.
	Progress func(Progress)
}

// coreSchemas are the runtime's schemas, in restore order.
var coreSchemas = []string{"websonic", "websonic_api"}

// Dump writes the site's database, and opts.Files, to w as one stream
// (see the package doc): the manifest, then one pg_dump archive per
// schema, then the files. Everything comes from one snapshot of the
// database, so counts, checksums and data agree. Each archive is spooled
// in cfg.TempDir first (a tar entry needs its size); a failure leaves w
// with a partial stream, which every reader refuses.
func Dump(ctx context.Context, cfg Config, w io.Writer, opts DumpOptions) (*Manifest, error) {
	s, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(s.cfg.TempDir, "sitedump-")
	if err != nil {
		return nil, fmt.Errorf("sitedump: %w", err)
	}
	defer os.RemoveAll(tmp)
	m, spooled, err := s.dumpDB(ctx, tmp, opts.Progress)
	if err != nil {
		return nil, fmt.Errorf("sitedump: dump: %w", err)
	}
	var root *os.Root
	if len(opts.Files) > 0 {
		if root, err = os.OpenRoot(opts.Dir); err != nil {
			return nil, fmt.Errorf("sitedump: data directory: %w", err)
		}
		defer root.Close()
		if m.Files, err = hashFiles(root, opts.Files); err != nil {
			return nil, fmt.Errorf("sitedump: %w", err)
		}
	}
	if err := writeStream(w, m, spooled, root, func(done, total int64) { s.progress(opts.Progress, "write", done, total) }); err != nil {
		return nil, fmt.Errorf("sitedump: write: %w", err)
	}
	return m, nil
}

// dumpDB takes the snapshot, the checksums and the archives; it returns
// the manifest (without files) and the archives' paths, in m.Dumps order.
func (s *site) dumpDB(ctx context.Context, tmp string, progress func(Progress)) (*Manifest, []string, error) {
	conn, err := s.serving.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, nil, err
	}
	defer tx.Rollback(context.Background())
	m := &Manifest{Format: Format, ServerMajor: s.major, Core: coreSchemas}
	var snapshot string
	if err := tx.QueryRow(ctx, `SELECT pg_catalog.pg_export_snapshot(), pg_catalog.now()`).Scan(&snapshot, &m.Created); err != nil {
		return nil, nil, fmt.Errorf("export snapshot: %w", err)
	}
	m.Created = m.Created.UTC()
	if m.CoreMigrations, err = coreMigrations(ctx, tx); err != nil {
		return nil, nil, err
	}
	// The installed modules, as this snapshot has them.
	rows, err := tx.Query(ctx, `SELECT m.name, m.version,
			COALESCE((SELECT pg_catalog.array_agg(l.name ORDER BY l.seq) FROM websonic.module_migrations l WHERE l.module = m.name), '{}')
		FROM websonic.modules m
		WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_namespace n WHERE n.nspname = 'mod_' OPERATOR(pg_catalog.||) m.name)
		ORDER BY m.name`)
	if err != nil {
		return nil, nil, fmt.Errorf("modules: %w", err)
	}
	for rows.Next() {
		var md ModuleDump
		if err := rows.Scan(&md.Name, &md.Version, &md.Ledger); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("modules: %w", err)
		}
		if !moduleRE.MatchString(md.Name) {
			continue
		}
		md.Schema = "mod_" + md.Name
		m.Modules = append(m.Modules, md)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("modules: %w", err)
	}
	if err := s.checkModules(m); err != nil {
		return nil, nil, err
	}
	// Counts and checksums: the core's as the serving role, each module's
	// as its role, all in the snapshot.
	var done int64
	report := func() { done++; s.progress(progress, "checksum", done, 0) }
	for _, schema := range m.Core {
		sums, err := checksums(ctx, tx, schema, schema, report)
		if err != nil {
			return nil, nil, err
		}
		m.Tables = append(m.Tables, sums...)
	}
	for _, md := range m.Modules {
		l, _ := s.moduleLogin(md.Name)
		sums, err := moduleChecksums(ctx, l, snapshot, md.Schema, report)
		if err != nil {
			return nil, nil, fmt.Errorf("module %s: %w", md.Name, err)
		}
		m.Tables = append(m.Tables, sums...)
	}
	// The archives, each schema as its owner, from the same snapshot.
	type job struct {
		schema, module string
		as             login
	}
	var jobs []job
	for _, schema := range m.Core {
		jobs = append(jobs, job{schema, "", s.serving})
	}
	for _, md := range m.Modules {
		l, _ := s.moduleLogin(md.Name)
		jobs = append(jobs, job{md.Schema, md.Name, l})
	}
	var spooled []string
	for i, j := range jobs {
		s.progress(progress, "dump", int64(i), int64(len(jobs)))
		file := filepath.Join(tmp, j.schema+".pgdump")
		args := []string{"--format=custom", "--snapshot=" + snapshot, "--no-owner", "--no-privileges",
			"--no-publications", "--no-subscriptions", "--no-security-labels", "--file=" + file,
			"--schema=" + quotePattern(j.schema)}
		if j.module != "" {
			// The runtime's marks table: rebuilt from its ledger.
			args = append(args, "--exclude-table="+quotePattern(j.schema)+"."+quotePattern("_migrations"))
		}
		if err := run(j.as.command(ctx, s.dump, args...)); err != nil {
			return nil, nil, fmt.Errorf("schema %s: %w", j.schema, err)
		}
		size, sum, err := hashFile(file)
		if err != nil {
			return nil, nil, err
		}
		m.Dumps = append(m.Dumps, DumpSum{Schema: j.schema, Module: j.module, Size: size, SHA256: sum})
		spooled = append(spooled, file)
	}
	s.progress(progress, "dump", int64(len(jobs)), int64(len(jobs)))
	return m, spooled, tx.Commit(ctx)
}

// coreMigrations lists the applied core migrations.
func coreMigrations(ctx context.Context, q querier) ([]string, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT pg_catalog.to_regclass('public.websonic_schema_migrations') IS NOT NULL`).Scan(&exists); err != nil || !exists {
		return []string{}, err
	}
	rows, err := q.Query(ctx, `SELECT name FROM public.websonic_schema_migrations ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("core migrations: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("core migrations: %w", err)
	}
	return names, nil
}

// moduleChecksums reads a module schema's sums as the module's role, in
// snapshot.
func moduleChecksums(ctx context.Context, l login, snapshot, schema string, report func()) ([]TableSum, error) {
	conn, err := l.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background())
	if snapshot != "" {
		if _, err := tx.Exec(ctx, `SET TRANSACTION SNAPSHOT '`+snapshot+`'`); err != nil {
			return nil, fmt.Errorf("import snapshot: %w", err)
		}
	}
	return checksums(ctx, tx, schema, schema, report)
}

// quotePattern quotes a name for pg_dump's pattern syntax.
func quotePattern(name string) string { return pgx.Identifier{name}.Sanitize() }

// hashFile returns a file's size and SHA-256.
func hashFile(name string) (int64, string, error) {
	f, err := os.Open(name)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// hashFiles lists and hashes the files under paths in root.
func hashFiles(root *os.Root, paths []string) ([]FileSum, error) {
	fsys := root.FS()
	seen := map[string]bool{}
	var out []FileSum
	add := func(p string) error {
		if seen[p] {
			return nil
		}
		fi, err := root.Stat(p) // follows links that stay inside root
		if err != nil {
			return fmt.Errorf("file %s: %w", p, err)
		}
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("file %s: not a regular file (%s)", p, fi.Mode().Type())
		}
		f, err := root.Open(p)
		if err != nil {
			return fmt.Errorf("file %s: %w", p, err)
		}
		defer f.Close()
		h := sha256.New()
		n, err := io.Copy(h, f)
		if err != nil {
			return fmt.Errorf("file %s: %w", p, err)
		}
		seen[p] = true
		out = append(out, FileSum{Path: p, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return nil
	}
	for _, p := range paths {
		p = path.Clean(filepath.ToSlash(p))
		if err := CheckPath(p); err != nil {
			return nil, err
		}
		fi, err := root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", p, err)
		}
		if !fi.IsDir() {
			if err := add(p); err != nil {
				return nil, err
			}
			continue
		}
		err = fs.WalkDir(fsys, p, func(q string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			return add(q)
		})
		if err != nil {
			return nil, fmt.Errorf("files under %s: %w", p, err)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// writeStream writes the tar stream.
func writeStream(w io.Writer, m *Manifest, spooled []string, root *os.Root, progress func(done, total int64)) error {
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	var total, done int64
	for _, d := range m.Dumps {
		total += d.Size
	}
	for _, f := range m.Files {
		total += f.Size
	}
	header := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{Name: name, Size: size, Mode: 0o600, ModTime: m.Created, Typeflag: tar.TypeReg, Format: tar.FormatPAX})
	}
	if err := header(manifestName, int64(len(mj))); err != nil {
		return err
	}
	if _, err := tw.Write(mj); err != nil {
		return err
	}
	copyChecked := func(name string, r io.Reader, size int64, sum string) error {
		if err := header(name, size); err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(tw, h), io.LimitReader(r, size))
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if n != size || hex.EncodeToString(h.Sum(nil)) != sum {
			return fmt.Errorf("%s changed while it was being dumped", name)
		}
		done += size
		progress(done, total)
		return nil
	}
	for i, d := range m.Dumps {
		f, err := os.Open(spooled[i])
		if err != nil {
			return err
		}
		err = copyChecked(dbPrefix+d.Schema+".pgdump", f, d.Size, d.SHA256)
		f.Close()
		if err != nil {
			return err
		}
	}
	for _, fs := range m.Files {
		f, err := root.Open(fs.Path)
		if err != nil {
			return err
		}
		err = copyChecked(filesPrefix+fs.Path, f, fs.Size, fs.SHA256)
		f.Close()
		if err != nil {
			return err
		}
	}
	return tw.Close()
}

var _ = time.Now

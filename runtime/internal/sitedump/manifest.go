package sitedump

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
	"time"
)

// Format names the stream format this package writes and reads.
const Format = "websonic-site-dump/1"

// Names of the stream's entries.
const (
	manifestName = "dump.json"
	dbPrefix     = "db/"
	filesPrefix  = "files/"
)

// Manifest describes one dump. It is the stream's first entry, dump.json,
// so a reader knows every count, checksum and size before the data.
type Manifest struct {
	// Format is Format.
	Format string `json:"format"`
	// Created is when the snapshot was taken (UTC).
	Created time.Time `json:"created"`
	// ServerMajor is the source server's major version (15 for 15.13).
	ServerMajor int `json:"server_major"`
	// Core lists the runtime's own schemas, in restore order (websonic,
	// websonic_api).
	Core []string `json:"core"`
	// CoreMigrations are the core migrations applied to the source
	// (public.websonic_schema_migrations), in name order.
	CoreMigrations []string `json:"core_migrations"`
	// Modules are the installed modules whose schemas the dump holds.
	Modules []ModuleDump `json:"modules"`
	// Dumps are the db/ entries, in stream (and restore) order.
	Dumps []DumpSum `json:"dumps"`
	// Tables are every dumped table's row count and checksum, as its
	// owner read them in the dump's snapshot.
	Tables []TableSum `json:"tables"`
	// Files are the files/ entries, in stream order.
	Files []FileSum `json:"files"`
}

// ModuleDump is one module in a dump.
type ModuleDump struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Schema is the module's schema (mod_<name>).
	Schema string `json:"schema"`
	// Ledger lists the module's applied migrations in the order applied
	// (websonic.module_migrations, the runtime's own record).
	Ledger []string `json:"ledger"`
}

// DumpSum is one db/ entry: pg_dump's custom-format archive of one schema.
type DumpSum struct {
	Schema string `json:"schema"`
	// Module is the module whose role dumped (and restores) the schema;
	// "" for a core schema (the serving role's).
	Module string `json:"module,omitempty"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// TableSum is a table's row count and checksum (see doc.go, "Checksums").
type TableSum struct {
	Schema   string `json:"schema"`
	Table    string `json:"table"`
	Rows     int64  `json:"rows"`
	Checksum string `json:"checksum"`
}

// FileSum is one file of the data directory.
type FileSum struct {
	// Path is relative to the data directory, with forward slashes.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Errors, wrapped with details; test them with errors.Is.
var (
	// ErrFormat is a stream that is not a well-formed dump: not a tar, no
	// dump.json first, an unknown format, an entry the manifest does not
	// list or one it lists missing, or an entry whose size or SHA-256
	// differs from the manifest's (corrupted or tampered with).
	ErrFormat = errors.New("sitedump: not a valid site dump")
	// ErrMismatch is a restore whose tables or files differ from the
	// manifest; the Report says which.
	ErrMismatch = errors.New("sitedump: restored data differs from the dump")
	// ErrNoTools is no pg_dump and pg_restore of the server's major version.
	ErrNoTools = errors.New("sitedump: PostgreSQL client tools not found")
	// ErrModuleMissing is a dump naming modules that the site has not
	// installed (their roles must exist before a restore).
	ErrModuleMissing = errors.New("sitedump: modules not installed")
	// ErrNoScratch is no way to make a scratch database.
	ErrNoScratch = errors.New("sitedump: cannot create a scratch database")
	// ErrNewerRuntime is a dump from a runtime with core migrations this
	// one does not have.
	ErrNewerRuntime = errors.New("sitedump: dump made by a newer runtime")
	// ErrBusy: another Replace (a restore, an import) is under way on the
	// site; one runs at a time.
	ErrBusy = errors.New("sitedump: another restore or import is replacing this site's data now")
)

// maxManifest bounds dump.json (a site with a million files stays well
// under it).
const maxManifest = 256 << 20

var (
	schemaRE = regexp.MustCompile(`^(websonic|websonic_api|mod_[a-z][a-z0-9_]{1,29})$`)
	moduleRE = regexp.MustCompile(`^[a-z][a-z0-9_]{1,29}$`)
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// Table names are whatever a module made: any identifier PostgreSQL
	// accepts (63 bytes, no NUL).
	checksumRE = regexp.MustCompile(`^-?[0-9]{1,30}$`)
)

// Validate checks that m is a manifest this package can restore: the
// format, names that are the runtime's or a module's schemas, each db/
// entry once, and file paths that stay inside the data directory.
func (m *Manifest) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: dump.json: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	if m.Format != Format {
		return bad("format %q, want %q", m.Format, Format)
	}
	if m.ServerMajor < 10 || m.ServerMajor > 99 {
		return bad("server major version %d", m.ServerMajor)
	}
	modules := map[string]bool{}
	for _, md := range m.Modules {
		if !moduleRE.MatchString(md.Name) || md.Schema != "mod_"+md.Name || modules[md.Name] {
			return bad("module %q (schema %q) is not a module name, or repeated", md.Name, md.Schema)
		}
		modules[md.Name] = true
	}
	schemas := map[string]bool{}
	for _, s := range m.Core {
		if s != "websonic" && s != "websonic_api" {
			return bad("core schema %q", s)
		}
	}
	for _, d := range m.Dumps {
		if !schemaRE.MatchString(d.Schema) || schemas[d.Schema] {
			return bad("dump of schema %q: not a site schema, or repeated", d.Schema)
		}
		if (d.Module == "") != (d.Schema == "websonic" || d.Schema == "websonic_api") || (d.Module != "" && (!modules[d.Module] || d.Schema != "mod_"+d.Module)) {
			return bad("dump of schema %q by module %q", d.Schema, d.Module)
		}
		if d.Size < 0 || !sha256RE.MatchString(d.SHA256) {
			return bad("dump of schema %q: size %d, sha256 %q", d.Schema, d.Size, d.SHA256)
		}
		schemas[d.Schema] = true
	}
	for _, s := range m.Core {
		if !schemas[s] {
			return bad("core schema %q has no dump", s)
		}
	}
	for _, md := range m.Modules {
		if !schemas[md.Schema] {
			return bad("module %q has no dump", md.Name)
		}
	}
	tables := map[[2]string]bool{}
	for _, t := range m.Tables {
		k := [2]string{t.Schema, t.Table}
		if !schemas[t.Schema] || t.Table == "" || len(t.Table) > 63 || strings.ContainsRune(t.Table, 0) || tables[k] {
			return bad("table %q.%q: not in a dumped schema, or repeated", t.Schema, t.Table)
		}
		if t.Rows < 0 || !checksumRE.MatchString(t.Checksum) {
			return bad("table %s.%s: rows %d, checksum %q", t.Schema, t.Table, t.Rows, t.Checksum)
		}
		tables[k] = true
	}
	files := map[string]bool{}
	for _, f := range m.Files {
		if err := CheckPath(f.Path); err != nil || files[f.Path] {
			return bad("file %q: not a relative path inside the data directory, or repeated", f.Path)
		}
		if f.Size < 0 || !sha256RE.MatchString(f.SHA256) {
			return bad("file %q: size %d, sha256 %q", f.Path, f.Size, f.SHA256)
		}
		files[f.Path] = true
	}
	return nil
}

// CheckPath reports whether p is a clean relative slash-separated path
// that stays inside the directory it is relative to.
func CheckPath(p string) error {
	if p == "" || !fsValid(p) || strings.ContainsRune(p, 0) || strings.Contains(p, "\\") {
		return fmt.Errorf("sitedump: path %q: not a clean relative path", p)
	}
	return nil
}

// fsValid is fs.ValidPath without the dependency on io/fs's doc quirks:
// clean, relative, no "." or ".." elements, no empty element.
func fsValid(p string) bool {
	if p == "." || path.Clean(p) != p || path.IsAbs(p) {
		return false
	}
	for _, e := range strings.Split(p, "/") {
		if e == "" || e == "." || e == ".." {
			return false
		}
	}
	return true
}

// ReadManifest reads a dump stream's first entry, dump.json, and returns
// the validated Manifest; the rest of r is left unread.
func ReadManifest(r io.Reader) (*Manifest, error) {
	m, _, err := openStream(r)
	return m, err
}

// openStream reads the manifest and returns the tar reader positioned
// after it.
func openStream(r io.Reader) (*Manifest, *tar.Reader, error) {
	tr := tar.NewReader(r)
	h, err := tr.Next()
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	if h.Name != manifestName || h.Typeflag != tar.TypeReg {
		return nil, nil, fmt.Errorf("%w: first entry is %q, not %s", ErrFormat, h.Name, manifestName)
	}
	if h.Size > maxManifest {
		return nil, nil, fmt.Errorf("%w: %s is %d bytes (at most %d)", ErrFormat, manifestName, h.Size, maxManifest)
	}
	b, err := io.ReadAll(tr)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrFormat, manifestName, err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrFormat, manifestName, err)
	}
	if dec.More() {
		return nil, nil, fmt.Errorf("%w: %s: data after the manifest", ErrFormat, manifestName)
	}
	if err := m.Validate(); err != nil {
		return nil, nil, err
	}
	return &m, tr, nil
}

// Progress is one step's advance, reported through the options' Progress
// func: Done of Total units (bytes or tables; Total 0 when unknown).
type Progress struct {
	Step        string
	Done, Total int64
}

// Report is what Verify and Replace found.
type Report struct {
	Tables []TableCheck
	Files  []FileCheck
	// Problems are differences that no table or file line shows: tables
	// the restore has that the dump does not list, and the like.
	Problems []string
	// Replaced are the live schemas Replace renamed aside (kept until the
	// next successful Replace unless ReplaceOptions.DropReplaced).
	Replaced []string
	// DryRun says Replace stopped before the swap.
	DryRun bool
	// OK says every table and file matched.
	OK bool
}

// TableCheck compares one table with the manifest.
type TableCheck struct {
	Schema, Table     string
	WantRows, GotRows int64
	WantSum, GotSum   string
	OK                bool
}

// FileCheck compares one file with the manifest.
type FileCheck struct {
	Path                  string
	WantSize, GotSize     int64
	WantSHA256, GotSHA256 string
	OK                    bool
}

// Text renders r for a terminal: a summary line, then every mismatch.
func (r *Report) Text() string {
	var b strings.Builder
	bad := 0
	for _, t := range r.Tables {
		if !t.OK {
			bad++
		}
	}
	for _, f := range r.Files {
		if !f.OK {
			bad++
		}
	}
	verdict := "OK"
	if !r.OK {
		verdict = "FAILED"
	}
	fmt.Fprintf(&b, "verification %s: %d tables, %d files, %d differences\n", verdict, len(r.Tables), len(r.Files), bad+len(r.Problems))
	for _, t := range r.Tables {
		if !t.OK {
			fmt.Fprintf(&b, "  table %s.%s: %d rows (checksum %s), dump has %d rows (checksum %s)\n", t.Schema, t.Table, t.GotRows, t.GotSum, t.WantRows, t.WantSum)
		}
	}
	for _, f := range r.Files {
		if !f.OK {
			fmt.Fprintf(&b, "  file %s: %d bytes (sha256 %s), dump has %d bytes (sha256 %s)\n", f.Path, f.GotSize, f.GotSHA256, f.WantSize, f.WantSHA256)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(&b, "  %s\n", p)
	}
	if r.DryRun {
		b.WriteString("dry run: nothing was changed\n")
	}
	if len(r.Replaced) > 0 {
		fmt.Fprintf(&b, "the replaced data is kept in schemas %s until the next restore\n", strings.Join(r.Replaced, ", "))
	}
	return b.String()
}

// compare fills r's table checks from want (the manifest) and got (the
// restore), and sets r.OK.
func (r *Report) compare(want, got []TableSum) {
	seen := map[[2]string]TableSum{}
	for _, g := range got {
		seen[[2]string{g.Schema, g.Table}] = g
	}
	for _, w := range want {
		k := [2]string{w.Schema, w.Table}
		g, ok := seen[k]
		delete(seen, k)
		c := TableCheck{Schema: w.Schema, Table: w.Table, WantRows: w.Rows, WantSum: w.Checksum, GotRows: -1}
		if ok {
			c.GotRows, c.GotSum = g.Rows, g.Checksum
			c.OK = g.Rows == w.Rows && g.Checksum == w.Checksum
		}
		r.Tables = append(r.Tables, c)
	}
	for _, g := range got {
		if _, extra := seen[[2]string{g.Schema, g.Table}]; extra {
			r.Problems = append(r.Problems, fmt.Sprintf("table %s.%s (%d rows) is not in the dump", g.Schema, g.Table, g.Rows))
		}
	}
	r.settle()
}

// settle sets r.OK from the checks.
func (r *Report) settle() {
	r.OK = len(r.Problems) == 0
	for _, t := range r.Tables {
		r.OK = r.OK && t.OK
	}
	for _, f := range r.Files {
		r.OK = r.OK && f.OK
	}
}

// err is ErrMismatch when r is not OK.
func (r *Report) err() error {
	if r.OK {
		return nil
	}
	return fmt.Errorf("%w:\n%s", ErrMismatch, r.Text())
}

package backup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/runtime/internal/sitedump"
)

// Engine is the dump engine bound to one site; SiteEngine is package
// sitedump's.
type Engine interface {
	// Dump writes the site's dump stream to w (sitedump.Dump).
	Dump(ctx context.Context, w io.Writer, opts sitedump.DumpOptions) (*sitedump.Manifest, error)
	// Verify restores a dump stream into a scratch database and compares
	// every table's rows and checksum and every file with its manifest
	// (sitedump.Verify).
	Verify(ctx context.Context, r io.Reader, progress func(sitedump.Progress)) (*sitedump.Report, error)
	// Check reads a dump stream and checks every entry against its
	// manifest, restoring nothing (sitedump.Check).
	Check(ctx context.Context, r io.Reader, progress func(sitedump.Progress)) (*sitedump.Manifest, error)
	// Replace loads a dump stream into staging schemas of the live
	// database, checks it, and (unless dryRun) swaps it in at once;
	// install receives each verified file. On any error the live site
	// is left as it was (sitedump.Replace).
	Replace(ctx context.Context, r io.Reader, dryRun bool, install func(path string, r io.Reader) error, progress func(sitedump.Progress)) (*sitedump.Report, error)
}

// Stage names where a backup, verification or restore failed.
type Stage string

// The stages.
const (
	StageKeys    Stage = "keys"
	StageFiles   Stage = "files"
	StageDump    Stage = "dump"
	StageWrite   Stage = "write"
	StageVerify  Stage = "verify"
	StagePrune   Stage = "prune"
	StageRestore Stage = "restore"
	StageSafety  Stage = "safety backup"
)

// Error is a failed backup operation, naming its stage (compare Err with
// errors.Is: ErrNoKey, ErrNoIdentity, ErrCorrupt, ErrMismatch…).
type Error struct {
	Stage Stage
	Err   error
}

// Error names the stage once: a cause of this package ("backup: …") is
// not prefixed again.
func (e *Error) Error() string {
	return fmt.Sprintf("backup: %s: %s", e.Stage, strings.TrimPrefix(e.Err.Error(), "backup: "))
}
func (e *Error) Unwrap() error { return e.Err }

// ErrMismatch: the restored copy differs from what the backup recorded
// (the report says where).
var ErrMismatch = errors.New("backup: the restored data does not match the backup")

// Config is a site's backups.
type Config struct {
	// Store is where backups are written (required).
	Store *Store
	// DataDir is the site's data directory, whose files a backup takes
	// (see Files) and a restore puts back (required).
	DataDir string
	// Engine dumps, verifies and replaces the site's database (required).
	Engine Engine
	// Keys encrypt new backups (recipients or a passphrase).
	Keys Keys
	// Identities open backups to verify or restore them (the owner's
	// identity file and/or the passphrase; none: backups are written but
	// not verified).
	Identities []age.Identity
	// Retention is what Prune keeps (DefaultRetention).
	Retention *Retention
	// Now is the clock (time.Now).
	Now    func() time.Time
	Logger hclog.Logger
}

func (c *Config) defaults() error {
	if c.Store == nil || c.DataDir == "" || c.Engine == nil {
		return errors.New("backup: Config.Store, DataDir and Engine are required")
	}
	if c.Retention == nil {
		r := DefaultRetention()
		c.Retention = &r
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return nil
}

// CreateOptions tune Create.
type CreateOptions struct {
	// Manual marks an on-demand backup (kept until removed); else it is
	// a scheduled one, kept by the retention rules.
	Manual bool
	// Note says why it was made (shown by List).
	Note string
	// SiteKey includes the site's data keys (DATA_DIR/data-keys.json),
	// inside the encrypted stream.
	SiteKey bool
	// TLS includes DATA_DIR/tls (certificates and their private keys).
	TLS bool
	// Verify restores the new backup into a scratch database and
	// compares it: with Config.Identities, the written file, decrypted;
	// without them (the owner keeps the private key off the server), the
	// stream as it is written, restored while it is encrypted (the file's
	// SHA-256 is recorded with it, and age authenticates every chunk).
	Verify   bool
	Progress func(sitedump.Progress)
}

// Result is what Create did.
type Result struct {
	Info Info
	// Report is the verification's (nil: not verified).
	Report *sitedump.Report
}

// Files lists the data directory's files a backup takes (see the package
// doc), slash-separated and relative to dataDir, sorted.
func Files(dataDir string, siteKey, tls bool) ([]string, error) {
	var out []string
	walk := func(dir string, skip ...string) error {
		root := filepath.Join(dataDir, dir)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(dataDir, p)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if slices.Contains(skip, rel) {
					return filepath.SkipDir
				}
				return nil
			}
			if d.Type().IsRegular() {
				out = append(out, rel)
			}
			return nil // symbolic links and the like are not taken
		})
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if err := walk("updates", "updates/ingest"); err != nil {
		return nil, fmt.Errorf("backup: files: %w", err)
	}
	if siteKey {
		if _, err := os.Stat(filepath.Join(dataDir, privacy.KeyFile)); err != nil {
			return nil, fmt.Errorf("backup: the site key was asked for, but %s: %w (a key given in WEBSONIC_SITE_KEY is kept where that variable is; back it up there)",
				privacy.KeyFile, err)
		}
		out = append(out, privacy.KeyFile)
	}
	if tls {
		if err := walk("tls"); err != nil {
			return nil, fmt.Errorf("backup: files: %w", err)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Create writes a new backup of the site into the store, verifies it when
// asked, and returns it. A failure is an *Error naming its stage; a backup
// written but not verified stays in the store (its record says so).
func Create(ctx context.Context, cfg Config, opts CreateOptions) (*Result, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if _, err := cfg.Keys.recipients(); err != nil {
		return nil, &Error{StageKeys, err}
	}
	files, err := Files(cfg.DataDir, opts.SiteKey, opts.TLS)
	if err != nil {
		return nil, &Error{StageFiles, err}
	}
	asWritten := opts.Verify && len(cfg.Identities) == 0
	var tee *teeVerify
	if asWritten {
		tee = startTeeVerify(ctx, cfg.Engine)
	}
	var man *sitedump.Manifest
	var dumpErr error
	info, err := cfg.Store.write(cfg.Now(), cfg.Keys, Info{Manual: opts.Manual, Note: opts.Note, SiteKey: opts.SiteKey}, func(w io.Writer) error {
		if tee != nil {
			w = io.MultiWriter(w, tee.w)
		}
		man, dumpErr = cfg.Engine.Dump(ctx, w, sitedump.DumpOptions{Dir: cfg.DataDir, Files: files, Progress: opts.Progress})
		return dumpErr
	})
	var teeRep *sitedump.Report
	var teeErr error
	if tee != nil {
		teeRep, teeErr = tee.finish(errors.Join(dumpErr, err))
	}
	switch {
	case dumpErr != nil:
		return nil, &Error{StageDump, dumpErr}
	case err != nil:
		return nil, &Error{StageWrite, err}
	}
	info.Tables = len(man.Tables)
	for _, t := range man.Tables {
		info.Rows += t.Rows
	}
	if err := cfg.Store.putInfo(*info); err != nil {
		return nil, &Error{StageWrite, err}
	}
	cfg.Logger.Info("backup written", "file", info.Name, "size", info.Size, "tables", info.Tables, "rows", info.Rows)
	res := &Result{Info: *info}
	if asWritten {
		res.Report = teeRep
		if teeErr == nil && (teeRep == nil || !teeRep.OK) {
			teeErr = ErrMismatch
		}
		if teeErr != nil {
			teeErr = &Error{StageVerify, teeErr}
		}
		if err := cfg.Store.MarkVerified(info.Name, cfg.Now(), teeErr); err != nil {
			return res, errors.Join(teeErr, &Error{StageVerify, err})
		}
		if got, gerr := cfg.Store.Get(info.Name); gerr == nil {
			res.Info = got
		}
		return res, teeErr
	}
	if opts.Verify {
		rep, err := VerifyStored(ctx, cfg, info.Name, opts.Progress)
		res.Report = rep
		if got, gerr := cfg.Store.Get(info.Name); gerr == nil {
			res.Info = got
		}
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// teeVerify restores a dump stream into a scratch database while it is
// written (Create's Verify without the owner's identity).
type teeVerify struct {
	w    *io.PipeWriter
	done chan struct{}
	rep  *sitedump.Report
	err  error
}

func startTeeVerify(ctx context.Context, e Engine) *teeVerify {
	r, w := io.Pipe()
	t := &teeVerify{w: w, done: make(chan struct{})}
	go func() {
		defer close(t.done)
		t.rep, t.err = e.Verify(ctx, r, nil)
		// Whatever Verify left unread (all of it, if it failed early):
		// the dump must not block on the pipe.
		io.Copy(io.Discard, r)
	}()
	return t
}

// finish ends the stream (with writeErr, when the dump or the write
// failed: then the verdict is that error's) and waits for the verdict.
func (t *teeVerify) finish(writeErr error) (*sitedump.Report, error) {
	if writeErr != nil {
		t.w.CloseWithError(writeErr)
	} else {
		t.w.Close()
	}
	<-t.done
	if writeErr != nil {
		return nil, writeErr
	}
	return t.rep, t.err
}

// VerifyStored verifies a backup of the store (see Verify) and records
// the outcome beside it, unless the identities open it not (no key, or
// ErrNoIdentity): that is no verdict on the backup.
func VerifyStored(ctx context.Context, cfg Config, name string, progress func(sitedump.Progress)) (*sitedump.Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	info, err := cfg.Store.Get(name)
	if err != nil {
		return nil, &Error{StageVerify, err}
	}
	rep, verr := verify(ctx, cfg, cfg.Store.Path(name), info.SHA256, progress)
	var ns *Error
	if errors.As(verr, &ns) && ns.Stage == StageKeys || errors.Is(verr, ErrNoIdentity) {
		// No verdict on the backup itself: the key is wrong, or missing
		// (a backup marked bad would lose its retention period).
		return nil, verr
	}
	if err := cfg.Store.MarkVerified(name, cfg.Now(), verr); err != nil {
		return rep, errors.Join(verr, &Error{StageVerify, err})
	}
	return rep, verr
}

// Verify decrypts the backup at path (any file, in the store or not) with
// cfg.Identities and restores it into a scratch database, comparing every
// table's rows and checksum and every file with what the backup recorded.
// Errors: ErrNoIdentity, ErrCorrupt, ErrMismatch (with the report).
func Verify(ctx context.Context, cfg Config, path string, progress func(sitedump.Progress)) (*sitedump.Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	return verify(ctx, cfg, path, "", progress)
}

func verify(ctx context.Context, cfg Config, path, sha string, progress func(sitedump.Progress)) (*sitedump.Report, error) {
	if len(cfg.Identities) == 0 {
		return nil, &Error{StageKeys, errors.New("backup: verifying needs the owner's identity file (--identity, WEBSONIC_BACKUP_IDENTITY) or the passphrase")}
	}
	r, err := openFile(path, cfg.Identities, sha)
	if err != nil {
		return nil, &Error{StageVerify, err}
	}
	defer r.Close()
	rep, err := cfg.Engine.Verify(ctx, r, progress)
	if err == nil {
		err = drain(r) // the rest of the file, and its hash
	}
	if err != nil {
		return rep, &Error{StageVerify, err}
	}
	if rep == nil || !rep.OK {
		return rep, &Error{StageVerify, ErrMismatch}
	}
	return rep, nil
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	// DryRun loads and checks everything but swaps nothing in.
	DryRun bool
	// Safety, when set, is called once the backup opened and before
	// anything is replaced (not on a dry run): it writes the backup of
	// what the restore replaces. Its error stops the restore.
	Safety   func(ctx context.Context) error
	Progress func(sitedump.Progress)
}

// Restore puts the backup at path back into the site: the database
// through the engine's Replace (staging schemas, checked, then swapped in
// one transaction) and the files under the data directory. Any failure
// before the swap leaves the site as it was.
func Restore(ctx context.Context, cfg Config, path string, opts RestoreOptions) (*sitedump.Report, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if len(cfg.Identities) == 0 {
		return nil, &Error{StageKeys, errors.New("backup: restoring needs the owner's identity file (--identity) or the passphrase (WEBSONIC_BACKUP_PASSPHRASE)")}
	}
	if opts.DryRun {
		rep, err := replace(ctx, cfg, path, true, opts.Progress)
		if err != nil {
			rep, _ = replaceReport(err)
		}
		return rep, err
	}
	// First the stream's own checks (the key, the age authentication of
	// every chunk, every archive's and file's SHA-256), which restore
	// nothing: a wrong key or a damaged file is refused before the safety
	// backup is taken. The data's checks (every table's rows and
	// checksum) are Replace's, before its swap. A full dry run here would
	// load the site twice (BENCHMARKS.md, "Backups").
	if err := check(ctx, cfg, path, opts.Progress); err != nil {
		return nil, err
	}
	if opts.Safety != nil {
		if err := opts.Safety(ctx); err != nil {
			return nil, &Error{StageSafety, err}
		}
	}
	return replace(ctx, cfg, path, false, opts.Progress)
}

// check opens the backup at path and checks its stream (Engine.Check).
func check(ctx context.Context, cfg Config, path string, progress func(sitedump.Progress)) error {
	r, err := openFile(path, cfg.Identities, "")
	if err != nil {
		return &Error{StageRestore, err}
	}
	defer r.Close()
	if _, err := cfg.Engine.Check(ctx, r, progress); err != nil {
		return &Error{StageRestore, err}
	}
	if err := drain(r); err != nil {
		return &Error{StageRestore, err}
	}
	return nil
}

// replaceReport digs the report out of replace's error.
func replaceReport(err error) (*sitedump.Report, error) {
	var re *reportError
	if errors.As(err, &re) {
		return re.rep, err
	}
	return nil, err
}

type reportError struct {
	rep *sitedump.Report
	err error
}

func (e *reportError) Error() string { return e.err.Error() }
func (e *reportError) Unwrap() error { return e.err }

func replace(ctx context.Context, cfg Config, path string, dryRun bool, progress func(sitedump.Progress)) (*sitedump.Report, error) {
	r, err := openFile(path, cfg.Identities, "")
	if err != nil {
		return nil, &Error{StageRestore, err}
	}
	defer r.Close()
	// Files wait aside (in the data directory, so that a rename moves
	// them) until the database is swapped in.
	aside, err := os.MkdirTemp(cfg.DataDir, tmpPrefix+"restore-")
	if err != nil {
		return nil, &Error{StageRestore, err}
	}
	defer os.RemoveAll(aside)
	var files []string
	install := func(rel string, fr io.Reader) error {
		if dryRun {
			_, err := io.Copy(io.Discard, fr)
			return err
		}
		if err := installFile(aside, rel, fr); err != nil {
			return err
		}
		files = append(files, rel)
		return nil
	}
	rep, err := cfg.Engine.Replace(ctx, r, dryRun, install, progress)
	if err == nil && dryRun {
		err = drain(r)
	}
	if err != nil {
		return rep, &reportError{rep, &Error{StageRestore, err}}
	}
	if rep == nil || !rep.OK {
		return rep, &reportError{rep, &Error{StageRestore, ErrMismatch}}
	}
	for _, rel := range files {
		dst := filepath.Join(cfg.DataDir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return rep, &Error{StageRestore, fmt.Errorf("the database is restored, but file %s: %w", rel, err)}
		}
		if err := os.Rename(filepath.Join(aside, filepath.FromSlash(rel)), dst); err != nil {
			return rep, &Error{StageRestore, fmt.Errorf("the database is restored, but file %s: %w", rel, err)}
		}
	}
	return rep, nil
}

// installFile writes one restored file under dir atomically; rel must
// stay inside it and be one of the kinds a backup takes.
func installFile(dir, rel string, r io.Reader) error {
	if !fs.ValidPath(rel) || !(strings.HasPrefix(rel, "updates/") || strings.HasPrefix(rel, "tls/") || rel == privacy.KeyFile) {
		return fmt.Errorf("backup: the backup holds a file it may not restore: %q", rel)
	}
	dst := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	_, err = io.Copy(f, r)
	if err = errors.Join(err, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("backup: restore %s: %w", rel, err)
	}
	return nil
}

// drain reads a decrypted stream to its end, so that age authenticates
// its last chunk and the file's hash is checked.
func drain(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	return err
}

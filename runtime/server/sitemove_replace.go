package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/websonic/websonic/runtime/internal/sitedump"
	"github.com/websonic/websonic/runtime/internal/sitemove"
)

// replace loads the dump through sitedump.Replace. The dump's modules
// must be installed here first (their roles restore their schemas): a
// real import installs the missing ones, at exactly the archive's release
// (Digest), through the runtime's updater; a dry run does not install
// anything, so on a site that lacks them it checks the dump's own
// checksums without loading it (DataReport.Note says so).
func (m *moveSite) replace(ctx context.Context, dump io.Reader, dryRun bool, progress func(sitemove.Progress)) (*sitemove.DataReport, error) {
	var missing []sitemove.Module
	if m.move != nil {
		for _, mod := range m.move.Modules {
			if !m.live.has(mod.Name) {
				missing = append(missing, mod)
			}
		}
	}
	if len(missing) > 0 && dryRun {
		return m.manifestOnly(dump, missing)
	}
	rels := make([]moduleRelease, 0, len(missing))
	for _, mod := range missing {
		rels = append(rels, moduleRelease{Name: mod.Name, Version: mod.Version, Channel: mod.Channel, Policy: mod.Policy, Digest: mod.Digest})
	}
	if err := installReleases(ctx, m.request, rels, func(step string) { progress(sitemove.Progress{Step: step}) }); err != nil {
		return nil, fmt.Errorf("%w: %w", sitemove.ErrRefused, err)
	}
	if len(rels) > 0 { // the installs made their roles' logins, which Finish keeps
		var err error
		if m.live, err = readSiteLogins(ctx, m.db); err != nil {
			return nil, err
		}
	}
	// Not "incoming": that is where the portal keeps the archive itself
	// (movelink.Store.IncomingDir), which this import may be reading.
	m.incoming = filepath.Join(m.dataDir, sitemove.ImportDir, "files")
	if err := os.RemoveAll(m.incoming); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	rep, err := sitedump.Replace(ctx, m.db.dumpConfig(m.log), dump, sitedump.ReplaceOptions{
		DryRun: dryRun, DropReplaced: false,
		Files: m.keepFile,
		Progress: func(p sitedump.Progress) {
			progress(sitemove.Progress{Step: p.Step, Done: p.Done, Total: p.Total})
		},
	})
	return dataReport(rep), err
}

// keepFile writes one of the archive's files under the incoming folder
// (placeFiles moves them in after the switch).
func (m *moveSite) keepFile(path string, r io.Reader) error {
	if err := sitedump.CheckPath(path); err != nil {
		return err
	}
	if !slices.ContainsFunc(moveFiles, func(f string) bool { return path == f || strings.HasPrefix(path, f+"/") }) {
		// The source names the entries: only what a move carries, never
		// the package store, the keys or TLS files.
		return fmt.Errorf("server: the archive holds file %q, outside what a move carries (%v)", path, moveFiles)
	}
	dst := filepath.Join(m.incoming, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// placeFiles moves the archive's files into the data folder, the ones
// they replace kept aside in import/replaced-files.
func (m *moveSite) placeFiles() error {
	if m.incoming == "" {
		return nil
	}
	if _, err := os.Stat(m.incoming); errors.Is(err, fs.ErrNotExist) {
		return nil // the archive has no files
	}
	defer os.RemoveAll(m.incoming)
	return filepath.WalkDir(m.incoming, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(m.incoming, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(m.dataDir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
			return err
		}
		if _, err := os.Stat(dst); err == nil {
			aside := filepath.Join(m.dataDir, sitemove.ImportDir, "replaced-files", rel)
			if err := os.MkdirAll(filepath.Dir(aside), 0o700); err != nil {
				return err
			}
			if err := os.Rename(dst, aside); err != nil {
				return err
			}
		}
		return os.Rename(p, dst)
	})
}

// manifestOnly is a dry run's report on a site that lacks the dump's
// modules: the dump's tables as its manifest lists them (their bytes were
// checked against the signed checksums), nothing loaded.
func (m *moveSite) manifestOnly(dump io.Reader, missing []sitemove.Module) (*sitemove.DataReport, error) {
	man, err := sitedump.ReadManifest(dump)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, dump)
	d := &sitemove.DataReport{OK: true}
	for _, t := range man.Tables {
		d.Tables = append(d.Tables, sitemove.TableCheck{Schema: t.Schema, Table: t.Table, WantRows: t.Rows, GotRows: t.Rows, WantSum: t.Checksum, GotSum: t.Checksum, OK: true})
	}
	var names bytes.Buffer
	for i, mod := range missing {
		if i > 0 {
			names.WriteString(", ")
		}
		names.WriteString(mod.Name + " " + mod.Version)
	}
	d.Note = "not loaded: this site does not have " + names.String() + " yet (the import installs them first); the counts are the archive's, its bytes verified"
	return d, nil
}

// dataReport is sitedump's report as sitemove's.
func dataReport(r *sitedump.Report) *sitemove.DataReport {
	if r == nil {
		return nil
	}
	d := &sitemove.DataReport{OK: r.OK}
	for _, t := range r.Tables {
		d.Tables = append(d.Tables, sitemove.TableCheck(t))
	}
	for _, f := range r.Files {
		d.Files = append(d.Files, sitemove.FileCheck(f))
	}
	d.Problems = r.Problems
	return d
}

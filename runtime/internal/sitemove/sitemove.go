package sitemove

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Errors. Each refusal leaves the target as it was.
var (
	// ErrNotPrepared: the target has no import identity (Prepare).
	ErrNotPrepared = errors.New("sitemove: this site is not prepared for an import")
	// ErrKeyMode: a key file others may read.
	ErrKeyMode = errors.New("sitemove: a key file is readable by others")
	// ErrRecipient: not an age X25519 recipient (age1…).
	ErrRecipient = errors.New("sitemove: not an import recipient")
	// ErrWrongRecipient: the archive was encrypted for another site.
	ErrWrongRecipient = errors.New("sitemove: the archive was not encrypted for this site")
	// ErrImported: the archive was made for an import key this site used
	// already (an import retires its key): it was imported before.
	ErrImported = errors.New("sitemove: the archive was made for an import key this site used already")
	// ErrArchive: the archive is damaged, cut short, changed or not one.
	ErrArchive = errors.New("sitemove: the archive is damaged or was changed")
	// ErrSignature: move.json's signature does not verify.
	ErrSignature = errors.New("sitemove: the archive's signature does not verify")
	// ErrSourceKey: the archive is signed by another source than the one
	// confirmed (or none was given).
	ErrSourceKey = errors.New("sitemove: the archive is not signed by the confirmed source")
	// ErrRefused: the target cannot take the site (a module version the
	// registry revoked or lacks, a newer core schema…).
	ErrRefused = errors.New("sitemove: the target refuses the site")
	// ErrLiveSite: the target has data of its own; importing over it
	// needs ImportOptions.ReplaceLive (and makes a backup first).
	ErrLiveSite = errors.New("sitemove: the target site has data")
	// ErrMismatch: the loaded data does not match the archive's counts
	// and checksums; nothing was switched.
	ErrMismatch = errors.New("sitemove: the loaded data does not match the archive")
)

// Progress is where an export or import is: Step names it ("dump",
// "check", "verify", "load", "swap", "finish"); Done of Total in Unit
// ("bytes" or "tables"; Total 0 when unknown).
type Progress struct {
	Step        string
	Done, Total int64
	Unit        string
}

// String is a progress line for terminals.
func (p Progress) String() string {
	switch {
	case p.Unit == "bytes" && p.Total > 0:
		return fmt.Sprintf("%s: %s of %s (%d%%)", p.Step, mib(p.Done), mib(p.Total), p.Done*100/p.Total)
	case p.Unit == "bytes":
		return fmt.Sprintf("%s: %s", p.Step, mib(p.Done))
	case p.Total > 0:
		return strings.TrimSpace(fmt.Sprintf("%s: %d of %d %s", p.Step, p.Done, p.Total, p.Unit))
	default:
		return p.Step
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Source is the exporting site, as the runtime gives it.
type Source interface {
	// Info describes the site: Source.URL and RuntimeVersion,
	// CoreMigrations, Modules, Themes and SiteKey (the rest is Export's).
	Info(ctx context.Context) (*Move, error)
	// Dump writes the site's sitedump stream to w.
	Dump(ctx context.Context, w io.Writer, progress func(Progress)) error
}

// Target is the importing site, as the runtime gives it. Import calls
// Check, HasData and Backup before anything changes, Replace once the
// archive is verified, and Finish after a switch.
type Target interface {
	// Check says what importing m would install and refuses (an error
	// wrapping ErrRefused) what the target cannot take: a module or
	// theme version the registry does not sign with the archive's digest
	// or revoked, a core migration this runtime does not know. It
	// changes nothing.
	Check(ctx context.Context, m *Move) ([]ModulePlan, error)
	// HasData reports whether the live site holds data of its own
	// (users, installed modules).
	HasData(ctx context.Context) (bool, error)
	// Backup backs up the live site and says where it went.
	Backup(ctx context.Context) (string, error)
	// Replace loads the sitedump stream dump into staging schemas,
	// compares every table with the dump's manifest and, unless dryRun,
	// switches it in, in one transaction (sitedump.Replace). A report
	// that is not OK comes with an error and nothing switched.
	Replace(ctx context.Context, dump io.Reader, dryRun bool, progress func(Progress)) (*DataReport, error)
	// Finish runs after the switch: the site key in place, the core
	// migrations of this runtime applied, the import recorded and
	// audited in the new schema, the runtimes told to reload (which
	// installs the recorded module and theme versions).
	Finish(ctx context.Context, m *Move, r *Report) error
}

// ModulePlan is what an import does with one module or theme.
type ModulePlan struct {
	Kind    string // "module" or "theme"
	Name    string
	Version string
	Digest  string
	// Installed is the target's version now ("" none).
	Installed string
}

// TableCheck compares one table after loading with the archive.
type TableCheck struct {
	Schema, Table     string
	WantRows, GotRows int64
	WantSum, GotSum   string
	OK                bool
}

// FileCheck compares one file.
type FileCheck struct {
	Path                  string
	WantSize, GotSize     int64
	WantSHA256, GotSHA256 string
	OK                    bool
}

// DataReport is what loading the dump found (sitedump's Report).
type DataReport struct {
	Tables []TableCheck
	Files  []FileCheck
	// Problems are differences no table or file line shows.
	Problems []string
	// Note says what a dry run could not do ("" none).
	Note string
	OK   bool
}

// Report is an import's (or dry run's) outcome.
type Report struct {
	// Move is the archive's move.json, without the site key.
	Move *Move
	// Fingerprint names the key that signed the archive; Confirmed says
	// whether it equals the one the owner gave.
	Fingerprint string
	Confirmed   bool
	// Plan lists the modules and themes the target installs.
	Plan []ModulePlan
	// Data is the loaded data's comparison (nil when it did not get
	// that far).
	Data *DataReport
	// DryRun: nothing was switched, by request.
	DryRun bool
	// Switched: the target now serves the imported data.
	Switched bool
	// Backup is where the replaced site's backup went ("" none taken).
	Backup string
	// Started and Took time the import.
	Started time.Time
	Took    time.Duration
}

// OK reports whether the import did (or, dry, would do) what it should.
func (r *Report) OK() bool {
	return r.Data != nil && r.Data.OK && (r.DryRun || r.Switched)
}

// Text is the report for terminals.
func (r *Report) Text() string {
	var b strings.Builder
	if r.Move != nil {
		src := r.Move.Source.URL
		if src == "" {
			src = "(no public URL)"
		}
		fmt.Fprintf(&b, "archive of %s, runtime %s, made %s\n", src, r.Move.Source.RuntimeVersion, r.Move.Created.UTC().Format(time.RFC3339))
		fmt.Fprintf(&b, "dump: %s in %d parts, sha256 %s\n", mib(r.Move.Dump.Size), r.Move.Dump.Parts, r.Move.Dump.SHA256)
	}
	conf := "NOT confirmed: pass the fingerprint the source printed with --source-key"
	if r.Confirmed {
		conf = "confirmed"
	}
	fmt.Fprintf(&b, "signed by %s (%s)\n", r.Fingerprint, conf)
	if len(r.Plan) > 0 {
		b.WriteString("to install from the registry:\n")
		for _, p := range r.Plan {
			now := ""
			if p.Installed != "" {
				now = " (installed here: " + p.Installed + ")"
			}
			fmt.Fprintf(&b, "  %s %s %s%s\n", p.Kind, p.Name, p.Version, now)
		}
	}
	if r.Data != nil {
		bad := 0
		var rows int64
		for _, t := range r.Data.Tables {
			rows += t.GotRows
			if !t.OK {
				bad++
			}
		}
		fmt.Fprintf(&b, "tables: %d, rows: %d, mismatches: %d\n", len(r.Data.Tables), rows, bad)
		for _, t := range r.Data.Tables {
			mark := "ok"
			if !t.OK {
				mark = fmt.Sprintf("MISMATCH (want %d rows %s, got %d rows %s)", t.WantRows, short(t.WantSum), t.GotRows, short(t.GotSum))
			}
			fmt.Fprintf(&b, "  %s.%s: %d rows, checksum %s: %s\n", t.Schema, t.Table, t.GotRows, short(t.GotSum), mark)
		}
		for _, p := range r.Data.Problems {
			fmt.Fprintf(&b, "  problem: %s\n", p)
		}
		if r.Data.Note != "" {
			fmt.Fprintf(&b, "  note: %s\n", r.Data.Note)
		}
		for _, f := range r.Data.Files {
			mark := "ok"
			if !f.OK {
				mark = "MISMATCH"
			}
			fmt.Fprintf(&b, "  file %s: %d bytes: %s\n", f.Path, f.GotSize, mark)
		}
	}
	switch {
	case r.Backup != "":
		fmt.Fprintf(&b, "the replaced site was backed up to %s\n", r.Backup)
	}
	switch {
	case r.DryRun && r.OK():
		b.WriteString("dry run: everything checks; nothing was changed\n")
	case r.DryRun:
		b.WriteString("dry run: the import would fail; nothing was changed\n")
	case r.Switched:
		fmt.Fprintf(&b, "imported in %s: this site now serves the moved data\n", r.Took.Round(time.Millisecond))
	default:
		b.WriteString("nothing was changed\n")
	}
	return b.String()
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// ExportConfig configures Export.
type ExportConfig struct {
	// DataDir holds the source's signing key (required).
	DataDir string
	// Source is the site (required).
	Source Source
	// DB, when set, records the export in websonic.site_moves and the
	// audit log.
	DB *pgxpool.Pool
	// Actor names who exports ("terminal" when empty); ActorID is the
	// admin's user id for the audit log (0: the system).
	Actor   string
	ActorID int64
	// Logger (none when nil).
	Logger hclog.Logger
}

// ExportResult is what an export wrote.
type ExportResult struct {
	// Fingerprint names the source's signing key: the target's owner
	// confirms it (`site import --source-key`).
	Fingerprint string
	// Move is what move.json says, without the site key.
	Move *Move
	// Bytes is the archive's length.
	Bytes int64
	// ID is the export's row in websonic.site_moves (0 without DB).
	ID int64
}

// ImportConfig configures Import.
type ImportConfig struct {
	// DataDir holds the prepared identity (required).
	DataDir string
	// Target is the site (required).
	Target Target
	// DB, when set, records the import in websonic.site_moves and the
	// audit log (written again into the imported schema by Finish).
	DB *pgxpool.Pool
	// Actor, ActorID, Logger: as in ExportConfig.
	Actor   string
	ActorID int64
	Logger  hclog.Logger
}

// ImportOptions tune an import.
type ImportOptions struct {
	// SourceFingerprint is the source key the owner confirms (required,
	// except for a dry run, whose report then shows it unconfirmed).
	SourceFingerprint string
	// DryRun does everything but the switch and changes nothing.
	DryRun bool
	// ReplaceLive allows importing over a site that has data of its own;
	// a backup of it is made first.
	ReplaceLive bool
}

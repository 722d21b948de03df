package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"filippo.io/age"

	"github.com/websonic/websonic/runtime/server"
)

// `websonic backup now|list|verify|restore`: the site's backups (package
// backup; server.Console's Backup, Backups, VerifyBackup, Restore). They
// act on the site's database and data folder directly, running or not.

// backupEnvHelp are the environment variables the backup commands read.
var backupEnvHelp = map[string]string{
	"WEBSONIC_BACKUP_PASSPHRASE": "encrypts backups when the site has no recipients, and opens them",
	"WEBSONIC_BACKUP_IDENTITY":   "the owner's age identity file or OpenSSH private key that opens backups (as --identity)",
}

func addBackupCommands(cmds map[string]commandInfo) {
	keys := "Backups are encrypted with age to the owner's recipients (public keys: the admin area's Backups page or\n" +
		"DATA_DIR/" + server.BackupRecipientsFile + ", one age1… or ssh- key a line) or, with none, to WEBSONIC_BACKUP_PASSPHRASE."
	cmds["backup now"] = commandInfo{backupNow, "[--verify] [--include-site-key] [--include-tls] [flags]", "back up the site now (database, installed packages)",
		keys + "\nThe backup goes to DATA_DIR/backups (--dir). --verify restores it into a scratch database and compares every table.", backupEnvHelp}
	cmds["backup list"] = commandInfo{backupList, "[flags]", "list the site's backups and recent backup runs",
		"KIND is the retention rule that keeps a backup (daily, weekly, monthly, manual).", backupEnvHelp}
	cmds["backup verify"] = commandInfo{backupVerify, "FILE|latest [--identity FILE] [flags]", "restore a backup into a scratch database and compare it",
		"FILE is a backup's name in the store or any path. Needs the owner's identity or the passphrase.", backupEnvHelp}
	cmds["backup restore"] = commandInfo{backupRestore, "FILE|latest [--identity FILE] [--dry-run] [--replace-live-site] [flags]", "put a backup back into the site",
		"The backup is loaded into staging schemas and checked before anything is replaced; a wrong key or a damaged file\n" +
			"changes nothing. A site that holds data is replaced only with --replace-live-site, after a backup of it.\n" +
			"Modules the site lacks (a new server) are installed first from the registry, at the backup's versions, through\n" +
			"a runtime serving the site (start `websonic serve` first). The runtimes serving the site reload it afterwards.", backupEnvHelp}
}

// backupFlags are the flags every backup command shares.
type backupFlags struct {
	common
	dir, identity, passphraseFile string
}

func (b *backupFlags) register(fs *flagSet) {
	b.common.register(fs.FlagSet, "warn")
	fs.StringVar(&b.dir, "dir", env("WEBSONIC_BACKUP_DIR", ""), "the backup store (default DATA_DIR/backups; WEBSONIC_BACKUP_DIR)")
	fs.StringVar(&b.identity, "identity", env("WEBSONIC_BACKUP_IDENTITY", ""), "the owner's age identity file or OpenSSH private key (WEBSONIC_BACKUP_IDENTITY)")
	fs.StringVar(&b.passphraseFile, "passphrase-file", "", "read the passphrase from this file (else WEBSONIC_BACKUP_PASSPHRASE)")
}

// config is the site's server.Config with the backup settings.
func (b *backupFlags) config(cmd string, stderr io.Writer) (server.Config, error) {
	log, err := b.logger(stderr)
	if err != nil {
		return server.Config{}, err
	}
	cfg := b.common.config(log.Named("cli"))
	cfg.Backup = server.BackupConfig{Dir: b.dir, Passphrase: os.Getenv("WEBSONIC_BACKUP_PASSPHRASE")}
	if b.passphraseFile != "" {
		p, err := os.ReadFile(b.passphraseFile)
		if err != nil {
			return cfg, fmt.Errorf("%s: --passphrase-file: %w", cmd, err)
		}
		cfg.Backup.Passphrase = strings.TrimRight(string(p), "\r\n")
	}
	return cfg, nil
}

// identities reads --identity.
func (b *backupFlags) identities(cmd string) ([]age.Identity, error) {
	if b.identity == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(b.identity)
	if err != nil {
		return nil, fmt.Errorf("%s: --identity: %w", cmd, err)
	}
	ids, err := server.ParseBackupIdentities(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: --identity %s: %w", cmd, b.identity, err)
	}
	return ids, nil
}

// backupProgress prints a step's advance now and then.
func backupProgress(w io.Writer) func(server.BackupProgress) {
	var last string
	var at time.Time
	return func(p server.BackupProgress) {
		if p.Step == last && time.Since(at) < 2*time.Second && p.Done != p.Total {
			return
		}
		last, at = p.Step, time.Now()
		switch {
		case p.Total > 0:
			fmt.Fprintf(w, "%s: %d/%d\n", p.Step, p.Done, p.Total)
		case p.Done > 0:
			fmt.Fprintf(w, "%s: %d\n", p.Step, p.Done)
		default: // a step without counts ("reload")
			fmt.Fprintln(w, p.Step)
		}
	}
}

func backupNow(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "backup now"
	fs := newFlagSet(cmd, stdout, stderr)
	var b backupFlags
	b.register(fs)
	verify := fs.Bool("verify", false, "restore the backup into a scratch database and compare every table and file")
	siteKey := fs.Bool("include-site-key", false, "include the site's data keys (data-keys.json), inside the encrypted backup")
	tls := fs.Bool("include-tls", false, "include DATA_DIR/tls (certificates and their private keys)")
	quiet := fs.Bool("quiet", false, "print no progress")
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg, err := b.config(cmd, stderr)
	if err != nil {
		return err
	}
	ids, err := b.identities(cmd)
	if err != nil {
		return err
	}
	ctx, console, done, err := b.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	opts := server.BackupOptions{Verify: *verify, Identities: ids, SiteKey: *siteKey, TLS: *tls}
	if !*quiet {
		opts.Progress = backupProgress(stderr)
	}
	res, err := console.Backup(ctx, cfg, opts)
	if res != nil {
		fmt.Fprintf(stdout, "wrote %s (%d bytes, %d tables, %d rows)\n", res.Info.Name, res.Info.Size, res.Info.Tables, res.Info.Rows)
		if res.Report != nil {
			fmt.Fprint(stdout, res.Report.Text())
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

func backupList(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "backup list"
	fs := newFlagSet(cmd, stdout, stderr)
	var b backupFlags
	b.register(fs)
	runs := fs.Int("runs", 5, "how many recent backup runs to show")
	if err := fs.parse(args); err != nil {
		return err
	}
	cfg, err := b.config(cmd, stderr)
	if err != nil {
		return err
	}
	ctx, console, done, err := b.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	list, rs, err := console.Backups(ctx, cfg, *runs)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BACKUP\tCREATED\tSIZE\tKIND\tVERIFIED")
	for _, i := range list {
		v := "no"
		switch {
		case i.Good():
			v = "ok " + i.Verified.Format(time.DateTime)
		case i.Bad():
			v = "FAILED: " + termSafe(i.VerifyError)
		}
		kind := i.Kind
		if kind == "" {
			kind = "(goes at the next prune)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", i.Name, i.Created.Format(time.DateTime), i.Size, kind, v)
	}
	tw.Flush()
	if len(list) == 0 {
		fmt.Fprintln(stdout, "no backups yet: websonic backup now")
	}
	if len(rs) > 0 {
		fmt.Fprintln(stdout, "\nrecent runs:")
		for _, r := range rs {
			line := fmt.Sprintf("  %s  %-8s %-7s %s", r.Started.Format(time.DateTime), r.Trigger, r.Status, r.File)
			if r.Error != "" {
				line += "  " + r.Stage + ": " + r.Error
			}
			fmt.Fprintln(stdout, termSafe(line))
		}
	}
	return nil
}

func backupVerify(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "backup verify"
	fs := newFlagSet(cmd, stdout, stderr)
	var b backupFlags
	b.register(fs)
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s: want one backup: websonic backup verify FILE|latest (see websonic %s -h)", cmd, cmd)
	}
	cfg, err := b.config(cmd, stderr)
	if err != nil {
		return err
	}
	ids, err := b.identities(cmd)
	if err != nil {
		return err
	}
	ctx, console, done, err := b.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	rep, err := console.VerifyBackup(ctx, cfg, pos[0], ids, backupProgress(stderr))
	if rep != nil {
		fmt.Fprint(stdout, rep.Text())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

func backupRestore(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "backup restore"
	fs := newFlagSet(cmd, stdout, stderr)
	var b backupFlags
	b.register(fs)
	dry := fs.Bool("dry-run", false, "load and check the backup in staging schemas, replace nothing, print the report")
	live := fs.Bool("replace-live-site", false, "replace a site that holds data (a backup of it is written first)")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s: want one backup: websonic backup restore FILE|latest (see websonic %s -h)", cmd, cmd)
	}
	cfg, err := b.config(cmd, stderr)
	if err != nil {
		return err
	}
	ids, err := b.identities(cmd)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	console, err := server.OpenRestoreConsole(ctx, cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	defer console.Close()
	res, err := console.Restore(ctx, cfg, pos[0], server.RestoreOptions{Identities: ids, DryRun: *dry, ReplaceLive: *live, Progress: backupProgress(stderr)})
	if res != nil {
		for _, m := range res.Installed {
			fmt.Fprintf(stdout, "installed %s from the registry\n", m)
		}
		if res.Report != nil {
			fmt.Fprint(stdout, res.Report.Text())
		}
	}
	switch {
	case errors.Is(err, server.ErrLiveSite):
		return fmt.Errorf("%s: %w", cmd, err)
	case err != nil && res != nil && len(res.Installed) > 0:
		return fmt.Errorf("%s: %w; the site was left as it was, but for the modules installed", cmd, err)
	case err != nil:
		return fmt.Errorf("%s: %w; the site was left as it was", cmd, err)
	}
	if res.Replaced != "" {
		fmt.Fprintf(stdout, "the site as it was before is in %s (`websonic backup restore %s --identity … --replace-live-site` goes back to it)\n", res.Replaced, res.Replaced)
	}
	switch {
	case *dry:
	case res.Reloaded:
		fmt.Fprintln(stdout, "restored; the runtimes serving the site reloaded it.")
	default:
		fmt.Fprintln(stdout, "restored; no runtime serves the site now: the next `websonic serve` loads it.")
	}
	return nil
}

package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/backup"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/runtime/internal/sitedump"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// BackupConfig is the runtime's part of the site's backups (package
// backup); the owner's choices (schedule, retention, recipients) are the
// site's backup settings (websonic.backup_settings, the admin area).
type BackupConfig struct {
	// Dir is the backup store (DataDir/backups).
	Dir string
	// Passphrase encrypts backups when the site has no recipients, and
	// opens them (WEBSONIC_BACKUP_PASSPHRASE; "": none).
	Passphrase string
	// IdentityFile is the owner's age identity or OpenSSH private key
	// with which a scheduled backup is decrypted and verified
	// (WEBSONIC_BACKUP_IDENTITY; "": with the passphrase, else verified as
	// it is written, see package backup).
	IdentityFile string
	// Disabled turns the schedule off in this runtime (the settings turn
	// it off for the site).
	Disabled bool
	// CheckEvery is how often the schedule looks whether a backup is due
	// (1 minute).
	CheckEvery time.Duration
}

// BackupSettings are the owner's backup choices (websonic.backup_settings).
type BackupSettings struct {
	Enabled    bool
	Hour       int // UTC
	Retention  backup.Retention
	Recipients string // age or ssh public keys, one a line
	UpdatedAt  time.Time
}

// BackupRun is one recorded backup run (websonic.backup_runs).
type BackupRun struct {
	ID                 int64
	Started            time.Time
	Finished           *time.Time
	Trigger, Status    string
	Stage, File, Error string
	Size               *int64
	Verified           *bool
}

// backupLock is the advisory lock every backup run holds (one at a time
// per site, across replicas and the owner's commands).
const backupLock = int64(0x7765627362616b) // "websbak"

// Errors of the owner's backup commands.
var (
	// ErrLiveSite: a restore would replace a site that serves or holds
	// data, and was not told it may (--replace-live-site).
	ErrLiveSite = errors.New("server: the site holds data: a restore replaces it only with --replace-live-site (a backup of it is written first)")
	// ErrBackupRunning: another backup or restore holds the site's
	// backup lock.
	ErrBackupRunning = errors.New("server: another backup or restore of the site is running")
)

// backupSettings reads the owner's settings.
func backupSettings(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (BackupSettings, error) {
	var st BackupSettings
	var hour int16
	err := q.QueryRow(ctx, `SELECT enabled, hour, keep_daily, keep_weekly, keep_monthly, keep_manual, recipients, updated_at
		FROM websonic.backup_settings`).Scan(&st.Enabled, &hour, &st.Retention.Daily, &st.Retention.Weekly, &st.Retention.Monthly,
		&st.Retention.Manual, &st.Recipients, &st.UpdatedAt)
	st.Hour = int(hour)
	if err != nil {
		return st, fmt.Errorf("server: backup settings: %w", err)
	}
	return st, nil
}

// validBackupSettings checks st.
func validBackupSettings(st BackupSettings) error {
	if st.Hour < 0 || st.Hour > 23 {
		return fmt.Errorf("server: the backup hour is 0 to 23 (UTC), not %d", st.Hour)
	}
	if err := st.Retention.Validate(); err != nil {
		return err
	}
	_, _, err := backup.ParseRecipients(strings.NewReader(st.Recipients))
	return err
}

// saveBackupSettings validates and stores st.
func saveBackupSettings(ctx context.Context, db coredb.Execer, st BackupSettings) error {
	if err := validBackupSettings(st); err != nil {
		return err
	}
	_, err := db.Exec(ctx, `UPDATE websonic.backup_settings SET enabled = $1, hour = $2, keep_daily = $3, keep_weekly = $4,
		keep_monthly = $5, keep_manual = $6, recipients = $7, updated_at = now()`, st.Enabled, st.Hour, st.Retention.Daily,
		st.Retention.Weekly, st.Retention.Monthly, st.Retention.Manual, st.Recipients)
	if err != nil {
		return fmt.Errorf("server: backup settings: %w", err)
	}
	return nil
}

// backupConfig assembles the site's backups: the store, the engine over
// d, the keys (the settings' recipients, DataDir's recipients file, the
// passphrase) and identities (bc's, plus extra).
func backupConfig(ctx context.Context, d *database, cfg Config, extra []age.Identity, log hclog.Logger) (backup.Config, error) {
	bc := cfg.Backup
	if bc.Dir == "" {
		bc.Dir = filepath.Join(cfg.DataDir, "backups")
	}
	st, err := backupSettings(ctx, d.Pool)
	if err != nil {
		return backup.Config{}, err
	}
	store, err := backup.OpenStore(bc.Dir)
	if err != nil {
		return backup.Config{}, err
	}
	recs, text, err := backup.ParseRecipients(strings.NewReader(st.Recipients))
	if err != nil {
		return backup.Config{}, fmt.Errorf("%w (the site's backup settings)", err)
	}
	frecs, ftext, err := backup.ReadRecipientsFile(filepath.Join(cfg.DataDir, backup.RecipientsFile))
	if err != nil {
		return backup.Config{}, err
	}
	keys := backup.Keys{Recipients: append(recs, frecs...), Text: append(text, ftext...)}
	if len(keys.Recipients) == 0 {
		keys.Passphrase = bc.Passphrase // age: a passphrase alone, or recipients
	}
	ids := extra
	if bc.IdentityFile != "" {
		b, err := os.ReadFile(bc.IdentityFile)
		if err != nil {
			return backup.Config{}, fmt.Errorf("server: backup identity: %w", err)
		}
		fids, err := backup.ParseIdentities(b)
		if err != nil {
			return backup.Config{}, err
		}
		ids = append(ids, fids...)
	}
	if bc.Passphrase != "" {
		if ids, err = backup.Identities(ids, bc.Passphrase); err != nil {
			return backup.Config{}, err
		}
	}
	ret := st.Retention
	return backup.Config{
		Store: store, DataDir: cfg.DataDir, Keys: keys, Identities: ids, Retention: &ret, Logger: log,
		Engine: backup.SiteEngine{Config: d.dumpConfig(log)},
	}, nil
}

// runBackup makes one backup under the site's backup lock and records the
// run; trigger is schedule (slot set), manual or restore. A failure
// alerts the owner (an update event of kind backup) and is logged at
// error. The lock is taken on a session of its own: a run that finds it
// held fails with ErrBackupRunning, unless wait.
func runBackup(ctx context.Context, d *database, cfg Config, trigger string, slot *time.Time, opts backup.CreateOptions, extra []age.Identity,
	log hclog.Logger) (*backup.Result, error) {
	conn, err := d.Pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("server: backup: %w", err)
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_lock($1)`, backupLock).Scan(&got); err != nil {
		return nil, fmt.Errorf("server: backup: %w", err)
	}
	if !got {
		return nil, ErrBackupRunning
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_catalog.pg_advisory_unlock($1)`, backupLock)
	// Runs left 'running' by a runtime that stopped: nobody holds the lock.
	if _, err := conn.Exec(ctx, `UPDATE websonic.backup_runs SET status = 'failed', finished_at = now(),
		error = 'the process running it stopped' WHERE status = 'running'`); err != nil {
		return nil, fmt.Errorf("server: backup: %w", err)
	}
	var id int64
	err = conn.QueryRow(ctx, `INSERT INTO websonic.backup_runs (trigger, slot) VALUES ($1, $2)
		ON CONFLICT (slot) WHERE slot IS NOT NULL DO NOTHING RETURNING id`, trigger, slot).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // another replica made this day's backup
	}
	if err != nil {
		return nil, fmt.Errorf("server: backup: %w", err)
	}
	res, err := func() (*backup.Result, error) {
		bcfg, err := backupConfig(ctx, d, cfg, extra, log)
		if err != nil {
			return nil, &backup.Error{Stage: backup.StageKeys, Err: err}
		}
		res, err := backup.Create(ctx, bcfg, opts)
		if err != nil {
			return res, err
		}
		if removed, err := bcfg.Store.Prune(*bcfg.Retention); err != nil {
			return res, &backup.Error{Stage: backup.StagePrune, Err: err}
		} else if len(removed) > 0 {
			log.Info("backups removed by retention", "count", len(removed))
		}
		return res, nil
	}()
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var file string
	var size *int64
	var verified *bool
	if res != nil {
		file, size = res.Info.Name, &res.Info.Size
		if res.Report != nil {
			verified = &res.Report.OK
		}
	}
	status, stage, msg := "ok", "", ""
	if err != nil {
		status, msg = "failed", err.Error()
		var be *backup.Error
		if errors.As(err, &be) {
			// Shown as "stage: error": the stage is not repeated.
			stage = string(be.Stage)
			msg = strings.TrimPrefix(msg, "backup: "+stage+": ")
		}
		if verified == nil && stage == string(backup.StageVerify) {
			f := false
			verified = &f
		}
	}
	if _, uerr := conn.Exec(fctx, `UPDATE websonic.backup_runs SET status = $2, stage = $3, file = $4, size = $5, verified = $6, error = $7,
		finished_at = now() WHERE id = $1`, id, status, stage, file, size, verified, msg); uerr != nil {
		log.Error("recording a backup run", "error", uerr)
	}
	if err != nil && ctx.Err() == nil { // a runtime stopping is no failure to alert about
		log.Error("backup failed", "trigger", trigger, "stage", stage, "error", err)
		if _, aerr := conn.Exec(fctx, `INSERT INTO websonic.update_events (kind, module, outcome, reason) VALUES ('backup', '', 'failed', $1)`,
			"backup ("+trigger+") failed: "+strings.TrimPrefix(err.Error(), "backup: ")); aerr != nil {
			log.Error("recording a backup alert", "error", aerr)
		}
	}
	coredb.Audit(fctx, conn, 0, "backup."+status, file, map[string]any{"trigger": trigger, "stage": stage, "error": msg})
	return res, err
}

// startBackups runs serveBackups until ctx ends or the returned stop is
// called (which waits for a run under way to end).
func (s *Server) startBackups(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); s.serveBackups(ctx) }()
	return func() { cancel(); <-done }
}

// serveBackups runs the schedule until ctx ends: once a day, from the
// settings' hour (UTC) on, one replica makes the day's backup (the run's
// unique slot), verifies it, and prunes the store.
func (s *Server) serveBackups(ctx context.Context) {
	if s.cfg.Backup.Disabled {
		return
	}
	every := s.cfg.Backup.CheckEvery
	if every <= 0 {
		every = time.Minute
	}
	log := s.log.Named("backup")
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.backupDue(ctx, log)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// backupDue makes the day's scheduled backup if it is due.
func (s *Server) backupDue(ctx context.Context, log hclog.Logger) {
	st, err := backupSettings(ctx, s.db.Pool)
	if err != nil {
		if ctx.Err() == nil {
			log.Warn("reading the backup settings", "error", err)
		}
		return
	}
	now := s.jobClock().UTC()
	if !st.Enabled || now.Hour() < st.Hour {
		return
	}
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	var done bool
	if err := s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM websonic.backup_runs WHERE slot = $1)`, day).Scan(&done); err != nil || done {
		return
	}
	cfg := s.cfg
	_, err = runBackup(ctx, s.db, cfg, "schedule", &day, backup.CreateOptions{Verify: true}, nil, log)
	if err != nil && !errors.Is(err, ErrBackupRunning) {
		return // recorded and alerted
	}
}

// Backup makes a manual backup now (the admin area's "Back up now").
func (s *Server) Backup(ctx context.Context, opts backup.CreateOptions) (*backup.Result, error) {
	opts.Manual = true
	return runBackup(ctx, s.db, s.cfg, "manual", nil, opts, nil, s.log.Named("backup"))
}

// BackupRuns lists the newest backup runs (at most limit).
func backupRuns(ctx context.Context, d *database, limit int) ([]BackupRun, error) {
	rows, err := d.Pool.Query(ctx, `SELECT id, started_at, finished_at, trigger, status, stage, file, error, size, verified
		FROM websonic.backup_runs ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("server: backup runs: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[BackupRun])
	if err != nil {
		return nil, fmt.Errorf("server: backup runs: %w", err)
	}
	return out, nil
}

// BackupOptions tune Console.Backup.
type BackupOptions struct {
	// Verify restores the new backup into a scratch database and
	// compares it; Identities (or the configured passphrase) open it.
	Verify     bool
	Identities []age.Identity
	// SiteKey and TLS include the site's data keys and its TLS files
	// (inside the encrypted stream).
	SiteKey, TLS bool
	Note         string
	Progress     func(sitedump.Progress)
}

// Backup makes a manual backup of the site now (`websonic backup now`).
func (c *Console) Backup(ctx context.Context, cfg Config, opts BackupOptions) (*backup.Result, error) {
	return runBackup(ctx, c.db, cfg, "manual", nil, backup.CreateOptions{
		Manual: true, Note: opts.Note, SiteKey: opts.SiteKey, TLS: opts.TLS, Verify: opts.Verify, Progress: opts.Progress,
	}, opts.Identities, hclog.NewNullLogger())
}

// Backups lists the store's backups (newest first, each with the
// retention rule that keeps it) and the newest runs.
func (c *Console) Backups(ctx context.Context, cfg Config, runs int) ([]backup.Info, []BackupRun, error) {
	bcfg, err := backupConfig(ctx, c.db, cfg, nil, hclog.NewNullLogger())
	if err != nil {
		return nil, nil, err
	}
	l, err := bcfg.Store.List(*bcfg.Retention)
	if err != nil {
		return nil, nil, err
	}
	r, err := backupRuns(ctx, c.db, runs)
	return l, r, err
}

// VerifyBackup verifies a backup: a name in the store (or "latest"),
// whose record then keeps the outcome, or any file's path.
func (c *Console) VerifyBackup(ctx context.Context, cfg Config, file string, ids []age.Identity, progress func(sitedump.Progress)) (*sitedump.Report, error) {
	bcfg, err := backupConfig(ctx, c.db, cfg, ids, hclog.NewNullLogger())
	if err != nil {
		return nil, err
	}
	name, path, err := resolveBackup(bcfg.Store, file)
	if err != nil {
		return nil, err
	}
	if name != "" {
		return backup.VerifyStored(ctx, bcfg, name, progress)
	}
	return backup.Verify(ctx, bcfg, path, progress)
}

// resolveBackup finds file: "latest", a backup's name in the store, or a
// path.
func resolveBackup(st *backup.Store, file string) (name, path string, err error) {
	if file == "latest" {
		info, err := st.Latest()
		if err != nil {
			return "", "", err
		}
		return info.Name, st.Path(info.Name), nil
	}
	if !strings.ContainsRune(file, filepath.Separator) {
		if _, err := st.Get(file); err == nil {
			return file, st.Path(file), nil
		}
	}
	if _, err := os.Stat(file); err != nil {
		return "", "", fmt.Errorf("server: backup: %w", err)
	}
	return "", file, nil
}

// RestoreOptions tune Console.Restore.
type RestoreOptions struct {
	Identities []age.Identity
	// DryRun loads and checks the backup in staging schemas and swaps
	// nothing in.
	DryRun bool
	// ReplaceLive lets the restore replace a site that holds data (a
	// backup of it is written first).
	ReplaceLive bool
	Progress    func(sitedump.Progress)
}

// RestoreResult is what Console.Restore did.
type RestoreResult struct {
	// Report compares every restored table and file with the backup.
	Report *sitedump.Report
	// Installed lists the module releases installed from the registry
	// first ("name version"), those the site lacked.
	Installed []string
	// Replaced is the backup of what the restore replaced (written first,
	// with ReplaceLive), in the site's backup store; empty when the site
	// held no data.
	Replaced string
	// Reloaded says a runtime serving the site took the restored site up
	// (the site_reload request); false: none serves it, and the next to
	// start loads it.
	Reloaded bool
}

// Restore puts a backup back into the site (`websonic backup restore`).
//
// The backup's manifest is read first, so a wrong key is refused before
// anything happens. The modules the backup holds that the site lacks (a
// new server) are installed from the registry at exactly the backup's
// versions, through a runtime serving the site (the same step as a site
// import: verified as any install, a revoked release refused); that is
// the one change a restore that fails afterwards leaves. A site that
// holds users or modules is replaced only with ReplaceLive, and then a
// manual backup of it is written first. The data is loaded and checked
// in staging schemas before one transaction swaps it in; any failure
// before the swap leaves the site as it was. Afterwards the live module
// logins and channels are kept and a runtime serving the site reloads it.
func (c *Console) Restore(ctx context.Context, cfg Config, file string, opts RestoreOptions) (*RestoreResult, error) {
	step := func(s string) {
		if opts.Progress != nil {
			opts.Progress(sitedump.Progress{Step: s})
		}
	}
	bcfg, err := backupConfig(ctx, c.db, cfg, opts.Identities, hclog.NewNullLogger())
	if err != nil {
		return nil, err
	}
	_, path, err := resolveBackup(bcfg.Store, file)
	if err != nil {
		return nil, err
	}
	if len(bcfg.Identities) == 0 {
		return nil, &backup.Error{Stage: backup.StageKeys, Err: errors.New("backup: restoring needs the owner's identity file (--identity) or the passphrase (WEBSONIC_BACKUP_PASSPHRASE)")}
	}
	man, err := backup.ReadManifest(path, bcfg.Identities)
	if err != nil {
		return nil, &backup.Error{Stage: backup.StageRestore, Err: err}
	}
	live, why, err := c.live(ctx)
	if err != nil {
		return nil, err
	}
	if live && !opts.ReplaceLive && !opts.DryRun {
		return nil, fmt.Errorf("%w (%s)", ErrLiveSite, why)
	}
	logins, err := readSiteLogins(ctx, c.db)
	if err != nil {
		return nil, err
	}
	res := &RestoreResult{}
	var missing []moduleRelease
	var names []string
	for _, m := range man.Modules {
		names = append(names, m.Name)
		if !logins.has(m.Name) {
			missing = append(missing, moduleRelease{Name: m.Name, Version: m.Version})
		}
	}
	request := c.releaseRequester("backup restore")
	if len(missing) > 0 && opts.DryRun {
		var list []string
		for _, m := range missing {
			if _, err := request(ctx, updater.Request{Action: "install", Module: m.Name, Version: m.Version, DryRun: true}); err != nil {
				return nil, fmt.Errorf("server: restore: module %s %s: %w", m.Name, m.Version, err)
			}
			list = append(list, m.Name+" "+m.Version)
		}
		return nil, fmt.Errorf("%w: %v: a restore installs them from the registry first (checked: signed, not revoked); a dry run cannot load the backup before",
			sitedump.ErrModuleMissing, list)
	}
	if len(missing) > 0 {
		if err := installReleases(ctx, request, missing, step); err != nil {
			return nil, fmt.Errorf("server: restore: %w; nothing was restored", err)
		}
		for _, m := range missing {
			res.Installed = append(res.Installed, m.Name+" "+m.Version)
		}
		if logins, err = readSiteLogins(ctx, c.db); err != nil {
			return nil, err
		}
	}
	ro := backup.RestoreOptions{DryRun: opts.DryRun, Progress: opts.Progress}
	if live {
		ro.Safety = func(ctx context.Context) error {
			made, err := runBackup(ctx, c.db, cfg, "restore", nil, backup.CreateOptions{Manual: true, Note: "before restoring " + filepath.Base(path)},
				nil, hclog.NewNullLogger())
			if made != nil {
				res.Replaced = made.Info.Name
			}
			return err
		}
	}
	res.Report, err = backup.Restore(ctx, bcfg, path, ro)
	if err != nil || opts.DryRun {
		return res, err
	}
	if err := settleRestoredRuns(ctx, c.db, filepath.Base(path), res.Replaced); err != nil {
		return res, fmt.Errorf("server: the backup is restored, but recording its runs: %w", err)
	}
	if err := logins.keep(ctx, c.db, names); err != nil {
		return res, fmt.Errorf("server: the backup is restored, but keeping the live module logins: %w", err)
	}
	detail := map[string]any{"replaced_live_site": live}
	if len(res.Installed) > 0 {
		detail["installed"] = res.Installed
	}
	if res.Replaced != "" {
		detail["replaced_backup"] = res.Replaced
	}
	coredb.Audit(ctx, c.db.Pool, 0, "backup.restore", filepath.Base(path), detail)
	step("reload")
	_, err = c.Request(ctx, updater.Request{Action: ActionSiteReload, Actor: "backup restore"}, RequestOptions{Wait: 5 * time.Minute, Actor: "backup restore"})
	switch {
	case errors.Is(err, ErrNoRuntime):
	case err != nil && strings.Contains(err.Error(), privacy.ErrKeyMismatch.Error()):
		return res, fmt.Errorf("server: the backup is restored, but this server does not have the restored site's data key, without which "+
			"the runtime cannot open what the site sealed and will not start: put the old server's %s in place (or set WEBSONIC_SITE_KEY), "+
			"or restore a backup made with --include-site-key: %w", privacy.KeyFile, err)
	case err != nil:
		return res, fmt.Errorf("server: the backup is restored, but the runtimes did not reload it (restart them): %w", err)
	default:
		res.Reloaded = true
	}
	return res, nil
}

// settleRestoredRuns brings the restored websonic.backup_runs up to date:
// the restored backup's own run, running when its dump was taken, is
// recorded as done (its file is the one restored), and the backup of
// what the restore replaced (replaced, if any), recorded in the schema
// set aside, is recorded again. Under the backup lock, as runBackup's
// cleanup: when a runtime holds it (a backup under way), the next run's
// cleanup settles the rows instead.
func settleRestoredRuns(ctx context.Context, d *database, restored, replaced string) error {
	conn, err := d.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	var got bool
	if err := conn.QueryRow(ctx, `SELECT pg_catalog.pg_try_advisory_lock($1)`, backupLock).Scan(&got); err != nil || !got {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_catalog.pg_advisory_unlock($1)`, backupLock)
	if _, err := conn.Exec(ctx, `UPDATE websonic.backup_runs SET status = 'ok', file = $1, finished_at = now()
		WHERE status = 'running'`, restored); err != nil {
		return err
	}
	if replaced == "" {
		return nil
	}
	_, err = conn.Exec(ctx, `INSERT INTO websonic.backup_runs (trigger, status, file, finished_at) VALUES ('restore', 'ok', $1, now())`, replaced)
	return err
}

// live says whether the site holds data (users or modules) a restore
// would replace, and what.
func (c *Console) live(ctx context.Context) (bool, string, error) {
	var users, modules int64
	if err := c.db.Pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM websonic.users), (SELECT count(*) FROM websonic.modules)`).Scan(&users, &modules); err != nil {
		return false, "", fmt.Errorf("server: %w", err)
	}
	if users+modules > 0 {
		return true, fmt.Sprintf("it has %d users and %d modules", users, modules), nil
	}
	return false, "", nil
}

// OpenRestoreConsole opens the site for a restore: like OpenConsole, but
// where cfg names no site yet (a new server, or a database that was
// lost) it makes the empty one a runtime's first start makes, to restore
// into.
func OpenRestoreConsole(ctx context.Context, cfg Config) (*Console, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	db, err := openDatabase(ctx, cfg, "websonic cli", false, log)
	if err != nil {
		return nil, err
	}
	return &Console{db: db}, nil
}

// For the owner's commands (cmd/websonic), which may not import the
// runtime's internal packages.
type (
	// BackupInfo is one backup of the store.
	BackupInfo = backup.Info
	// BackupResult is what a backup did.
	BackupResult = backup.Result
	// BackupReport is a verification's or restore's report.
	BackupReport = sitedump.Report
	// BackupProgress is an operation's advance.
	BackupProgress = sitedump.Progress
)

// BackupRecipientsFile is the recipients file under the data directory.
const BackupRecipientsFile = backup.RecipientsFile

// ParseBackupIdentities reads the owner's identity file (see
// backup.ParseIdentities).
func ParseBackupIdentities(b []byte) ([]age.Identity, error) { return backup.ParseIdentities(b) }

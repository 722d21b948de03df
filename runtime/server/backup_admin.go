package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/backup"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/sitedump"
)

// adminBackups is the admin area's Backups page on the running runtime:
// "Back up now" runs in the background (one at a time here, and one per
// site through the backup lock), its progress kept for the page.
type adminBackups struct {
	s    *Server
	log  hclog.Logger
	base context.Context // the runs' context: cancelled by close
	stop context.CancelFunc
	wg   sync.WaitGroup

	mu  sync.Mutex
	job *admin.BackupJob // running or last; guarded by mu
}

var _ admin.Backups = (*adminBackups)(nil)

func (s *Server) openAdminBackups() *adminBackups {
	ctx, stop := context.WithCancel(context.Background())
	return &adminBackups{s: s, log: s.log.Named("backup"), base: ctx, stop: stop}
}

// close cancels a running backup and waits for it to end.
func (b *adminBackups) close() {
	if b != nil {
		b.stop()
		b.wg.Wait()
	}
}

// BackupStatus implements admin.Backups.
func (b *adminBackups) BackupStatus(ctx context.Context) (*admin.BackupStatus, error) {
	s := b.s
	bcfg, err := backupConfig(ctx, s.db, s.cfg, nil, b.log)
	if err != nil {
		return nil, err
	}
	st, err := backupSettings(ctx, s.db.Pool)
	if err != nil {
		return nil, err
	}
	out := &admin.BackupStatus{
		Settings: admin.BackupSettings{Enabled: st.Enabled, Hour: st.Hour, Daily: st.Retention.Daily, Weekly: st.Retention.Weekly,
			Monthly: st.Retention.Monthly, Manual: st.Retention.Manual, Recipients: st.Recipients},
		Keys: len(bcfg.Keys.Recipients) > 0 || bcfg.Keys.Passphrase != "", Opens: len(bcfg.Identities) > 0, Dir: bcfg.Store.Dir(),
	}
	list, err := bcfg.Store.List(*bcfg.Retention)
	if err != nil {
		return nil, err
	}
	for _, i := range list {
		f := admin.BackupFile{Name: i.Name, Created: i.Created, Size: i.Size, Kind: i.Kind, Note: i.Note}
		switch {
		case i.Good():
			f.Verified = "ok"
		case i.Bad():
			f.Verified, f.VerifyError = "failed", i.VerifyError
		}
		out.Backups = append(out.Backups, f)
	}
	runs, err := backupRuns(ctx, s.db, 10)
	if err != nil {
		return nil, err
	}
	for _, r := range runs {
		out.Runs = append(out.Runs, adminRun(r))
	}
	var last BackupRun
	err = s.db.Pool.QueryRow(ctx, `SELECT id, started_at, finished_at, trigger, status, stage, file, error, size, verified
		FROM websonic.backup_runs WHERE trigger = 'schedule' ORDER BY id DESC LIMIT 1`).Scan(&last.ID, &last.Started, &last.Finished,
		&last.Trigger, &last.Status, &last.Stage, &last.File, &last.Error, &last.Size, &last.Verified)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return nil, fmt.Errorf("server: backup runs: %w", err)
	default:
		r := adminRun(last)
		out.LastScheduled = &r
	}
	b.mu.Lock()
	if b.job != nil {
		j := *b.job
		out.Job = &j
	}
	b.mu.Unlock()
	return out, nil
}

func adminRun(r BackupRun) admin.BackupRun {
	a := admin.BackupRun{Started: r.Started, Finished: r.Finished, Trigger: r.Trigger, Status: r.Status, Stage: r.Stage, File: r.File, Error: r.Error}
	if r.Size != nil {
		a.Size = *r.Size
	}
	return a
}

// BackUpNow implements admin.Backups: a manual backup, verified, in the
// background.
func (b *adminBackups) BackUpNow(ctx context.Context, userID int64) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.job != nil && b.job.Running {
		return admin.ErrBackupBusy
	}
	var held bool
	if err := b.s.db.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM websonic.backup_runs WHERE status = 'running')`).Scan(&held); err != nil {
		return fmt.Errorf("server: backup: %w", err)
	}
	if held {
		return admin.ErrBackupBusy
	}
	job := &admin.BackupJob{Running: true, Started: time.Now(), Step: "starting"}
	b.job = job
	coredb.Audit(ctx, b.s.db.Pool, userID, "backup.start", "", map[string]any{"from": "admin"})
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		progress := func(p sitedump.Progress) {
			b.mu.Lock()
			job.Step, job.Done, job.Total = p.Step, p.Done, p.Total
			b.mu.Unlock()
		}
		res, err := runBackup(b.base, b.s.db, b.s.cfg, "manual", nil, backup.CreateOptions{Manual: true, Note: "from the admin area",
			Verify: true, Progress: progress}, nil, b.log)
		b.mu.Lock()
		defer b.mu.Unlock()
		job.Running, job.Ended = false, time.Now()
		if res != nil {
			job.File = res.Info.Name
		}
		switch {
		case errors.Is(err, ErrBackupRunning):
			job.Err = admin.ErrBackupBusy.Error()
		case err != nil:
			job.Err = err.Error()
		}
	}()
	return nil
}

// SaveBackupSettings implements admin.Backups.
func (b *adminBackups) SaveBackupSettings(ctx context.Context, userID int64, s admin.BackupSettings) error {
	st := BackupSettings{Enabled: s.Enabled, Hour: s.Hour, Recipients: s.Recipients,
		Retention: backup.Retention{Daily: s.Daily, Weekly: s.Weekly, Monthly: s.Monthly, Manual: s.Manual}}
	if err := validBackupSettings(st); err != nil {
		return fmt.Errorf("%w: %w", admin.ErrBackupSettings, err)
	}
	if err := saveBackupSettings(ctx, b.s.db.Pool, st); err != nil {
		return err
	}
	recs, _, _ := backup.ParseRecipients(strings.NewReader(st.Recipients))
	coredb.Audit(ctx, b.s.db.Pool, userID, "backup.settings", "", map[string]any{
		"enabled": st.Enabled, "hour": st.Hour, "retention": st.Retention, "recipients": len(recs),
	})
	return nil
}

// BackupFailure implements admin.Backups: the newest 'backup' alert
// (websonic.update_events) since the last run that succeeded.
func (b *adminBackups) BackupFailure(ctx context.Context) (*admin.BackupRun, error) {
	var r admin.BackupRun
	err := b.s.db.Pool.QueryRow(ctx, `SELECT e.at, e.reason FROM websonic.update_events e
		WHERE e.kind = 'backup' AND e.outcome = 'failed'
		AND e.at > coalesce((SELECT max(finished_at) FROM websonic.backup_runs WHERE status = 'ok'), '-infinity')
		ORDER BY e.id DESC LIMIT 1`).Scan(&r.Started, &r.Error)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("server: backup alerts: %w", err)
	}
	r.Status = "failed"
	return &r, nil
}

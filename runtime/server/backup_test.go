package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
)

// TestBackupSchedule: the schedule makes one backup a day from the
// owner's hour on; a backup that cannot be made (no key) is recorded as
// failed and raises a 'backup' alert; every backup is verified in a
// scratch database: as it is written when the runtime holds no identity,
// decrypted when it does.
func TestBackupSchedule(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	set := func(t time.Time) { mu.Lock(); now = t; mu.Unlock() }
	s := newSite(t, func(c *Config) { c.JobClock = clock; c.Backup.Disabled = true })
	ctx := context.Background()
	log := hclog.NewNullLogger()
	pool := s.srv.db.Pool
	count := func(q string) int {
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	runs := func() []BackupRun {
		r, err := backupRuns(ctx, s.srv.db, 10)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	const alerts = `SELECT count(*) FROM websonic.update_events WHERE kind = 'backup' AND outcome = 'failed'`

	s.srv.backupDue(ctx, log) // 02:00: not yet
	if n := len(runs()); n != 0 {
		t.Fatalf("%d runs before the hour", n)
	}
	set(now.Add(time.Hour + 5*time.Minute)) // 03:05, and no key
	s.srv.backupDue(ctx, log)
	r := runs()
	if len(r) != 1 || r[0].Status != "failed" || r[0].Stage != "keys" || r[0].Trigger != "schedule" {
		t.Fatalf("runs %+v", r)
	}
	if count(alerts) != 1 {
		t.Error("the failed backup raised no alert")
	}
	// Shown as "STAGE: ERROR" (backup list, the Backups page): the error
	// names neither the package nor the stage again.
	if !strings.HasPrefix(r[0].Error, "no encryption key: ") {
		t.Errorf("the run's error reads %q, want the cause alone (\"no encryption key: …\")", r[0].Error)
	}
	s.srv.backupDue(ctx, log) // the day's slot is taken
	if len(runs()) != 1 {
		t.Error("a second run the same day")
	}

	// The owner sets a recipient: the next day's backup is written and
	// verified as it is written (the runtime holds no identity).
	id, _ := age.GenerateX25519Identity()
	st, err := backupSettings(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	st.Recipients = "# the owner's laptop\n" + id.Recipient().String() + "\n"
	if err := saveBackupSettings(ctx, pool, st); err != nil {
		t.Fatal(err)
	}
	set(now.Add(24 * time.Hour))
	s.srv.backupDue(ctx, log)
	r = runs()
	if len(r) != 2 || r[0].Status != "ok" || r[0].File == "" || r[0].Verified == nil || !*r[0].Verified {
		t.Fatalf("runs %+v (%s)", r[0], r[0].Error)
	}
	if _, err := os.Stat(filepath.Join(s.srv.cfg.DataDir, "backups", r[0].File)); err != nil {
		t.Fatal(err)
	}

	// With the owner's identity (and CREATEDB for the scratch database,
	// as on any external server), it is verified too.
	idFile := filepath.Join(t.TempDir(), "owner.key")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	s.srv.cfg.Backup.IdentityFile = idFile
	admin, err := pgx.Connect(ctx, s.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	prov := s.srv.db.prov.Pool.Config().ConnConfig.User
	if _, err := admin.Exec(ctx, "ALTER ROLE "+pgx.Identifier{prov}.Sanitize()+" CREATEDB"); err != nil {
		t.Fatal(err)
	}
	set(now.Add(24 * time.Hour))
	s.srv.backupDue(ctx, log)
	r = runs()
	if len(r) != 3 || r[0].Status != "ok" || r[0].Verified == nil || !*r[0].Verified {
		t.Fatalf("runs %+v (%s)", r[0], r[0].Error)
	}
	if count(alerts) != 1 {
		t.Error("alerts changed")
	}
}

// TestBackupSettingsRefused: bad settings are refused and change nothing.
func TestBackupSettingsRefused(t *testing.T) {
	s := newSite(t, func(c *Config) { c.Backup.Disabled = true })
	ctx := context.Background()
	before, err := backupSettings(ctx, s.srv.db.Pool)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := age.GenerateX25519Identity()
	for name, change := range map[string]func(*BackupSettings){
		"hour 24":              func(b *BackupSettings) { b.Hour = 24 },
		"nothing kept":         func(b *BackupSettings) { b.Retention.Daily, b.Retention.Weekly, b.Retention.Monthly = 0, 0, 0 },
		"a private key":        func(b *BackupSettings) { b.Recipients = x.String() },
		"not a key":            func(b *BackupSettings) { b.Recipients = "alice@example.com" },
		"negative manual kept": func(b *BackupSettings) { b.Retention.Manual = -1 },
	} {
		st := before
		change(&st)
		if err := saveBackupSettings(ctx, s.srv.db.Pool, st); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	after, _ := backupSettings(ctx, s.srv.db.Pool)
	if after != before {
		t.Errorf("settings changed: %+v", after)
	}
}

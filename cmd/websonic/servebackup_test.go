package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/websonic/websonic/runtime/server"
)

// TestServeBackupSettings: `websonic serve` takes the backup store,
// passphrase and identity the README and `websonic backup` name
// (WEBSONIC_BACKUP_DIR, _PASSPHRASE, _IDENTITY, or flags), so that its
// scheduled backups are encrypted with the passphrase and verified with
// the identity; an identity file that holds none stops it before it
// starts anything.
func TestServeBackupSettings(t *testing.T) {
	dir := t.TempDir()
	id, _ := age.GenerateX25519Identity()
	idFile := filepath.Join(dir, "owner.key")
	os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600)
	passFile := filepath.Join(dir, "pass")
	os.WriteFile(passFile, []byte("from the file, long enough\n"), 0o600)

	t.Run("environment", func(t *testing.T) {
		t.Setenv("WEBSONIC_BACKUP_DIR", filepath.Join(dir, "store"))
		t.Setenv("WEBSONIC_BACKUP_IDENTITY", idFile)
		t.Setenv("WEBSONIC_BACKUP_PASSPHRASE", "a passphrase long enough")
		got := serveBackupConfig(t)
		want := server.BackupConfig{Dir: filepath.Join(dir, "store"), IdentityFile: idFile, Passphrase: "a passphrase long enough"}
		if got != want {
			t.Errorf("cfg.Backup = %+v, want %+v", got, want)
		}
	})
	t.Run("flags", func(t *testing.T) {
		t.Setenv("WEBSONIC_BACKUP_PASSPHRASE", "overridden by the file")
		got := serveBackupConfig(t, "--backup-dir", dir, "--backup-identity", idFile, "--backup-passphrase-file", passFile)
		want := server.BackupConfig{Dir: dir, IdentityFile: idFile, Passphrase: "from the file, long enough"}
		if got != want {
			t.Errorf("cfg.Backup = %+v, want %+v", got, want)
		}
	})
	t.Run("serve refuses a bad identity", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.key")
		os.WriteFile(bad, []byte("not a key\n"), 0o600)
		for _, args := range [][]string{{"--backup-identity", bad}, {"--backup-identity", filepath.Join(dir, "missing.key")}} {
			var stderr bytes.Buffer
			err := run(append([]string{"serve", "--data-dir", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", ""}, args...),
				strings.NewReader(""), &bytes.Buffer{}, &stderr)
			if err == nil || !strings.HasPrefix(err.Error(), "serve: --backup-identity "+args[1]+": ") {
				t.Errorf("%v: err = %v", args, err)
			}
		}
	})
	t.Run("help", func(t *testing.T) {
		var stdout bytes.Buffer
		run([]string{"serve", "-h"}, strings.NewReader(""), &stdout, &bytes.Buffer{})
		for _, e := range []string{"WEBSONIC_BACKUP_DIR", "WEBSONIC_BACKUP_IDENTITY", "WEBSONIC_BACKUP_PASSPHRASE"} {
			if !strings.Contains(stdout.String(), "  "+e+" ") {
				t.Errorf("serve -h does not list %s", e)
			}
		}
	})
}

// serveBackupConfig is cfg.Backup as serve sets it from args and the
// environment.
func serveBackupConfig(t *testing.T, args ...string) server.BackupConfig {
	t.Helper()
	fs := newFlagSet("serve", &bytes.Buffer{}, &bytes.Buffer{})
	var b serveBackup
	b.register(fs)
	if err := fs.parse(args); err != nil {
		t.Fatal(err)
	}
	if err := b.load(); err != nil {
		t.Fatal(err)
	}
	var cfg server.Config
	b.apply(&cfg)
	return cfg.Backup
}

package main

import (
	"fmt"
	"maps"
	"os"
	"strings"

	"github.com/websonic/websonic/runtime/server"
)

// serveBackup are the backup settings of `websonic serve`
// (server.BackupConfig): the same store, passphrase and identity the
// `websonic backup` commands read, so that the runtime's scheduled
// backups and the admin area's "Back up now" use what the owner set.
// The schedule, retention and recipients are the site's settings (the
// Backups page), not flags.
type serveBackup struct {
	dir, identity, passphraseFile string
	passphrase                    string // read by load
}

func (b *serveBackup) register(fs *flagSet) {
	fs.StringVar(&b.dir, "backup-dir", env("WEBSONIC_BACKUP_DIR", ""), "where backups go (default DATA_DIR/backups; WEBSONIC_BACKUP_DIR)")
	fs.StringVar(&b.identity, "backup-identity", env("WEBSONIC_BACKUP_IDENTITY", ""),
		"the owner's age identity file or OpenSSH private key: each scheduled backup is then verified in a scratch database (WEBSONIC_BACKUP_IDENTITY)")
	fs.StringVar(&b.passphraseFile, "backup-passphrase-file", "", "read the backup passphrase from this file (else WEBSONIC_BACKUP_PASSPHRASE)")
}

// load reads the passphrase (its file, else WEBSONIC_BACKUP_PASSPHRASE)
// and refuses an identity file that holds no identity, before the
// runtime starts anything.
func (b *serveBackup) load() error {
	b.passphrase = os.Getenv("WEBSONIC_BACKUP_PASSPHRASE")
	if b.passphraseFile != "" {
		p, err := os.ReadFile(b.passphraseFile)
		if err != nil {
			return fmt.Errorf("serve: --backup-passphrase-file: %w", err)
		}
		b.passphrase = strings.TrimRight(string(p), "\r\n")
	}
	if b.identity != "" {
		raw, err := os.ReadFile(b.identity)
		if err == nil {
			_, err = server.ParseBackupIdentities(raw)
		}
		if err != nil {
			return fmt.Errorf("serve: --backup-identity %s: %w", b.identity, err)
		}
	}
	return nil
}

// apply sets cfg.Backup (after load).
func (b *serveBackup) apply(cfg *server.Config) {
	cfg.Backup.Dir, cfg.Backup.IdentityFile, cfg.Backup.Passphrase = b.dir, b.identity, b.passphrase
}

// serveEnv is the environment `websonic serve` reads besides its flags'.
func serveEnv(site map[string]string) map[string]string {
	m := maps.Clone(site)
	m["WEBSONIC_BACKUP_PASSPHRASE"] = backupEnvHelp["WEBSONIC_BACKUP_PASSPHRASE"]
	return m
}

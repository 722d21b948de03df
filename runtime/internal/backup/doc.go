// Package backup makes, keeps, verifies and restores the site's backups
// (issue 14).
//
// # What a backup is
//
// One file, websonic-<UTC yyyymmddThhmmssZ>.backup.age, in the store
// (DATA_DIR/backups by default): an age-encrypted (filippo.io/age) stream
// of the dump engine's tar (package sitedump: dump.json, db/<schema>.pgdump
// per schema from one snapshot, module schemas dumped as the module's role,
// then files/<path>). Beside it, <name>.backup.json records what is no
// secret: size, sha256 of the encrypted file, manual or scheduled, and the
// outcome of its last verification.
//
// The files taken from the data directory (Files) are:
//
//   - updates/: the updater's package store (the installed module and
//     theme packages, verified, and the registry's trusted TUF metadata),
//     without its ingest/ leftovers;
//   - data-keys.json, the site's data keys (package privacy), only with
//     CreateOptions.SiteKey — and then, like everything, inside the
//     encrypted stream. With WEBSONIC_SITE_KEY instead of the file, the
//     key ring from the environment is stored under that name;
//   - tls/ (certificates and their private keys) only with
//     CreateOptions.TLS.
//
// Never: postgres/ (the embedded cluster's own files: the dump is the
// database), cache/ (rebuilt), backups/ (this store), import/ and dev/.
// Settings, the logo, users and everything else the site keeps live in the
// database and come with the dump.
//
// # Keys
//
// A backup is encrypted either to the owner's recipients (age X25519
// "age1…" keys or SSH public keys: the site's backup settings and the file
// DATA_DIR/backup-recipients.txt) or to a passphrase (scrypt;
// WEBSONIC_BACKUP_PASSPHRASE or a file), never to both: age lets a
// passphrase be a file's only recipient, so that the passphrase
// authenticates it. With neither, Create refuses (ErrNoKey) and says how to
// set one. Opening takes the owner's identity file (age-keygen's, or an
// OpenSSH private key) or the passphrase; another key fails with
// ErrNoIdentity ("no identity matched"), a damaged or altered file with
// ErrCorrupt. The runtime never holds a private key: it can write backups
// but not read them. So Create verifies a new backup as it is written:
// the dump's bytes go to the encryption and, through a pipe, to a scratch
// restore at once (sitedump.Verify), and the file's SHA-256 is recorded.
// Given the identity (WEBSONIC_BACKUP_IDENTITY) or the passphrase, it
// decrypts the written file and restores that instead, which also proves
// the key opens it; `websonic backup verify` does so with the owner's key.
//
// # Retention
//
// Retention keeps the newest scheduled backup of each of the last 7 days,
// 4 ISO weeks and 6 months (configurable), in the manner of restic's
// forget; a backup whose verification failed keeps no period. Manual
// backups are kept until removed, or the newest N when a count is set.
//
// # Writing
//
// The store writes atomically (a temporary file in the store, synced, then
// renamed; its record likewise), with modes 0700 (folder) and 0600 (files),
// and removes a crash's temporary files when it opens. A failed backup
// leaves nothing under a backup's name.
package backup

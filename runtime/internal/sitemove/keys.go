package sitemove

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// Where the keys live under the data directory.
const (
	// ImportDir holds the target's import identity.
	ImportDir = "import"
	// IdentityFile is the age identity, under ImportDir.
	IdentityFile = "identity.age"
	// UsedDir holds, under ImportDir, the identities imports used.
	UsedDir = "used"
	// SigningKeyFile is the source's ed25519 key (PKCS #8 PEM).
	SigningKeyFile = "site-signing.key"
)

// Prepare makes the target's import identity under dataDir (or keeps the
// one there) and returns its recipient, the age1… string the source's
// owner passes to `websonic site export --to`.
func Prepare(dataDir string) (recipient string, err error) {
	id, err := loadIdentity(dataDir)
	if errors.Is(err, ErrNotPrepared) {
		dir := filepath.Join(dataDir, ImportDir)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return "", fmt.Errorf("sitemove: prepare: %w", err)
		}
		if id, err = age.GenerateX25519Identity(); err != nil {
			return "", fmt.Errorf("sitemove: prepare: %w", err)
		}
		body := "# Web Sonic site import identity: archives encrypted to " + id.Recipient().String() + "\n" + id.String() + "\n"
		if err := writeNew(filepath.Join(dir, IdentityFile), []byte(body)); err != nil {
			if errors.Is(err, fs.ErrExist) { // another Prepare won the race
				return Prepare(dataDir)
			}
			return "", fmt.Errorf("sitemove: prepare: %w", err)
		}
		return id.Recipient().String(), nil
	}
	if err != nil {
		return "", err
	}
	return id.Recipient().String(), nil
}

// loadIdentity reads the prepared identity; ErrNotPrepared when there is
// none.
func loadIdentity(dataDir string) (*age.X25519Identity, error) {
	path := filepath.Join(dataDir, ImportDir, IdentityFile)
	id, err := readIdentity(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: no %s (run `websonic site import --prepare` on this site first)", ErrNotPrepared, path)
	}
	return id, err
}

// retireIdentity sets the prepared identity aside once an import switched
// its site in (under ImportDir/UsedDir, named by the time): an archive
// made for it cannot be imported again, and the next Prepare makes a new
// one.
func retireIdentity(dataDir string, now time.Time) error {
	used := filepath.Join(dataDir, ImportDir, UsedDir)
	if err := os.MkdirAll(used, 0o700); err != nil {
		return fmt.Errorf("sitemove: retire the import key: %w", err)
	}
	to := filepath.Join(used, now.UTC().Format("20060102T150405.000000000Z")+".age")
	if err := os.Rename(filepath.Join(dataDir, ImportDir, IdentityFile), to); err != nil {
		return fmt.Errorf("sitemove: retire the import key: %w", err)
	}
	return nil
}

// usedBy returns the retired key (retireIdentity) an archive was made
// for, and when an import used it, if it is one of this site's. r is read
// from its start; only age's header is.
func usedBy(dataDir string, r io.ReadSeeker) (*age.X25519Identity, time.Time, bool) {
	used := filepath.Join(dataDir, ImportDir, UsedDir)
	entries, err := os.ReadDir(used)
	if err != nil {
		return nil, time.Time{}, false
	}
	for _, e := range entries {
		at, err := time.Parse("20060102T150405.000000000Z.age", e.Name())
		if err != nil {
			continue
		}
		id, err := readIdentity(filepath.Join(used, e.Name()))
		if err != nil {
			continue
		}
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return nil, time.Time{}, false
		}
		if _, err := age.Decrypt(r, id); err == nil {
			return id, at, true
		}
	}
	return nil, time.Time{}, false
}

// readIdentity reads an identity file (private: 0600).
func readIdentity(path string) (*age.X25519Identity, error) {
	b, err := readPrivate(path)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			return nil, fmt.Errorf("sitemove: %s: %w", path, err)
		}
		return id, nil
	}
	return nil, fmt.Errorf("sitemove: %s holds no identity", path)
}

// SigningKey returns the source's signing key under dataDir, made on
// first use.
func SigningKey(dataDir string) (ed25519.PrivateKey, error) {
	path := filepath.Join(dataDir, SigningKeyFile)
	b, err := readPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("sitemove: signing key: %w", err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, fmt.Errorf("sitemove: signing key: %w", err)
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("sitemove: signing key: %w", err)
		}
		if err := writeNew(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return SigningKey(dataDir)
			}
			return nil, fmt.Errorf("sitemove: signing key: %w", err)
		}
		return priv, nil
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("sitemove: %s: not a PEM private key", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("sitemove: %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("sitemove: %s: not an ed25519 key", path)
	}
	return priv, nil
}

// Fingerprint names a source's public key: "SHA256:" and the unpadded
// base64 of its sha256, as ssh prints keys.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

// SourceFingerprint is the fingerprint of the signing key under dataDir
// (made on first use).
func SourceFingerprint(dataDir string) (string, error) {
	priv, err := SigningKey(dataDir)
	if err != nil {
		return "", err
	}
	return Fingerprint(priv.Public().(ed25519.PublicKey)), nil
}

// readPrivate reads a key file, refusing one that others may read.
func readPrivate(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v (fix: chmod 600 %s)", ErrKeyMode, path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sitemove: %w", err)
	}
	return b, nil
}

// writeNew writes a new private file (0600), never over one that exists.
func writeNew(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

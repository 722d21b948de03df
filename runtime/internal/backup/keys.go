package backup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/agessh"
)

// Errors of the keys (compare with errors.Is).
var (
	// ErrNoKey: neither recipients nor a passphrase are configured, so a
	// backup cannot be encrypted; nothing is written.
	ErrNoKey = errors.New("backup: no encryption key: give the owner's age recipients (a file of age1… or ssh-ed25519/ssh-rsa public keys, one a line: DATA_DIR/" +
		RecipientsFile + " or the Backups page) or a passphrase (WEBSONIC_BACKUP_PASSPHRASE or --passphrase-file)")
	// ErrBothKeys: age encrypts a file to a passphrase alone (so that the
	// passphrase authenticates it) or to recipients, never to both.
	ErrBothKeys = errors.New("backup: both recipients and a passphrase are set: age encrypts a backup to one or the other; unset one")
	// ErrNoIdentity: the identities or passphrase given do not decrypt
	// the backup (it was encrypted to other keys).
	ErrNoIdentity = errors.New("backup: no identity matched: the backup was encrypted to another recipient or passphrase")
	// ErrCorrupt: the backup file is damaged or was changed (age's
	// authentication failed, or it is not an age file).
	ErrCorrupt = errors.New("backup: the backup file is corrupted or was altered")
)

// RecipientsFile is the recipients file under the data directory that a
// runtime reads besides the recipients in the site's backup settings.
const RecipientsFile = "backup-recipients.txt"

// maxKeyFile bounds a recipients or identity file.
const maxKeyFile = 1 << 20

// minPassphrase is the shortest passphrase accepted for encryption.
const minPassphrase = 12

// Keys are what backups are encrypted to: age recipients, or a
// passphrase (scrypt), never both.
type Keys struct {
	Recipients []age.Recipient
	// Text is the recipients as given (one a line), for display.
	Text       []string
	Passphrase string
}

// recipients returns what age encrypts to, or why it cannot.
func (k Keys) recipients() ([]age.Recipient, error) {
	switch {
	case len(k.Recipients) > 0 && k.Passphrase != "":
		return nil, ErrBothKeys
	case len(k.Recipients) > 0:
		return k.Recipients, nil
	case k.Passphrase != "":
		if len(k.Passphrase) < minPassphrase {
			return nil, fmt.Errorf("backup: the passphrase is shorter than %d characters", minPassphrase)
		}
		r, err := age.NewScryptRecipient(k.Passphrase)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		return []age.Recipient{r}, nil
	}
	return nil, ErrNoKey
}

// ParseRecipients reads recipients, one a line: age X25519 ("age1…"),
// post-quantum hybrid ("age1pq1…") or SSH public keys ("ssh-ed25519 …",
// "ssh-rsa …"); blank lines and lines starting with # are skipped. An
// error names the line (never its text, which may be a private key put
// there by mistake).
func ParseRecipients(r io.Reader) ([]age.Recipient, []string, error) {
	lr := &io.LimitedReader{R: r, N: maxKeyFile + 1}
	sc := bufio.NewScanner(lr)
	sc.Buffer(make([]byte, 0, 4096), maxKeyFile+1)
	var recs []age.Recipient
	var text []string
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !utf8.ValidString(line) {
			return nil, nil, fmt.Errorf("backup: recipients line %d: not UTF-8", n)
		}
		var rec age.Recipient
		var err error
		switch {
		case strings.HasPrefix(line, "ssh-"):
			rec, err = agessh.ParseRecipient(line)
		case strings.HasPrefix(line, "age1pq1"):
			rec, err = age.ParseHybridRecipient(line)
		case strings.HasPrefix(line, "age1"):
			rec, err = age.ParseX25519Recipient(line)
		case strings.HasPrefix(line, "AGE-SECRET-KEY-"), strings.Contains(line, "PRIVATE KEY"):
			return nil, nil, fmt.Errorf("backup: recipients line %d is a private key: give its public key (age-keygen -y)", n)
		default:
			err = errors.ErrUnsupported
		}
		if err != nil {
			// age's error repeats the line; ours names it only
			return nil, nil, fmt.Errorf("backup: recipients line %d: not a valid age1… or ssh- public key", n)
		}
		recs = append(recs, rec)
		text = append(text, line)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("backup: recipients: %w", err)
	}
	if lr.N <= 0 {
		return nil, nil, fmt.Errorf("backup: recipients: more than %d bytes", maxKeyFile)
	}
	return recs, text, nil
}

// ReadRecipientsFile parses a recipients file (see ParseRecipients); a
// file that does not exist holds none.
func ReadRecipientsFile(path string) ([]age.Recipient, []string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("backup: %w", err)
	}
	recs, text, err := ParseRecipients(bytes.NewReader(b))
	if err != nil {
		return nil, nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return recs, text, nil
}

// ParseIdentities reads the owner's private keys: an age identity file
// ("AGE-SECRET-KEY-1…" lines, as age-keygen writes) or one unencrypted
// OpenSSH private key (PEM).
func ParseIdentities(b []byte) ([]age.Identity, error) {
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("backup: identity file: more than %d bytes", maxKeyFile)
	}
	if bytes.Contains(b, []byte("-----BEGIN")) {
		id, err := agessh.ParseIdentity(b)
		if err != nil {
			return nil, fmt.Errorf("backup: ssh identity: %w", err)
		}
		return []age.Identity{id}, nil
	}
	ids, err := age.ParseIdentities(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("backup: identity file: %w", err)
	}
	return ids, nil
}

// Identities are what opens a backup: the owner's private keys and/or
// the passphrase.
func Identities(ids []age.Identity, passphrase string) ([]age.Identity, error) {
	out := append([]age.Identity(nil), ids...)
	if passphrase != "" {
		id, err := age.NewScryptIdentity(passphrase)
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		return nil, errors.New("backup: no identity to decrypt with: give the owner's identity file (--identity) or the passphrase (WEBSONIC_BACKUP_PASSPHRASE)")
	}
	return out, nil
}

// decrypt opens an age stream, translating age's errors into ErrNoIdentity
// and ErrCorrupt.
func decrypt(r io.Reader, ids []age.Identity) (io.Reader, error) {
	pr, err := age.Decrypt(r, ids...)
	if err != nil {
		return nil, decryptError(err)
	}
	return &corruptReader{r: pr}, nil
}

func decryptError(err error) error {
	var nm *age.NoIdentityMatchError
	if errors.As(err, &nm) {
		return fmt.Errorf("%w (%v)", ErrNoIdentity, err)
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// corruptReader marks a failure in the middle of the payload (a chunk
// that does not authenticate) as ErrCorrupt.
type corruptReader struct{ r io.Reader }

func (c *corruptReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return n, err
}

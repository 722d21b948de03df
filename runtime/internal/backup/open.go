package backup

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	"filippo.io/age"

	"github.com/websonic/websonic/runtime/internal/sitedump"
)

// openFile decrypts the backup at path with ids. The reader fails with
// ErrCorrupt where the file is damaged and, when wantSHA is set (the
// store's record), at its end when the file's sha256 differs.
func openFile(path string, ids []age.Identity, wantSHA string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	h := sha256.New()
	tee := io.TeeReader(f, h)
	r, err := decrypt(tee, ids)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return &checkedReader{r: r, f: f, tee: tee, h: h, want: wantSHA, path: path}, nil
}

// checkedReader is a decrypted backup that checks the file's hash at its
// end.
type checkedReader struct {
	r    io.Reader
	f    *os.File
	tee  io.Reader
	h    hash.Hash
	want string
	path string
	done bool
}

func (c *checkedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err == io.EOF && !c.done && c.want != "" {
		c.done = true
		if _, derr := io.Copy(io.Discard, c.tee); derr != nil {
			return n, fmt.Errorf("backup: %w", derr)
		}
		got := hex.EncodeToString(c.h.Sum(nil))
		if subtle.ConstantTimeCompare([]byte(got), []byte(c.want)) != 1 {
			return n, fmt.Errorf("%w: %s has sha256 %s, the store recorded %s", ErrCorrupt, c.path, got, c.want)
		}
	}
	return n, err
}

func (c *checkedReader) Close() error { return c.f.Close() }

// ReadManifest opens the backup at path with ids and reads just its dump
// manifest (the stream's first entry: modules, tables, files), without
// restoring anything: a wrong key fails here with ErrNoIdentity, a
// damaged head with ErrCorrupt or sitedump.ErrFormat.
func ReadManifest(path string, ids []age.Identity) (*sitedump.Manifest, error) {
	r, err := openFile(path, ids, "")
	if err != nil {
		return nil, err
	}
	defer r.Close()
	m, err := sitedump.ReadManifest(r)
	if err != nil {
		return nil, fmt.Errorf("backup: %s: %w", path, err)
	}
	return m, nil
}

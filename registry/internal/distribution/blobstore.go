package distribution

import (
	"context"
	_ "crypto/sha256" // registers sha256 for go-digest
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
)

// BlobStore holds blob bytes by digest. Blobs are immutable: Put of a digest
// already present verifies the content and keeps the existing blob.
// Implementations must be safe for concurrent use.
type BlobStore interface {
	// Stat returns the blob's size, or an error wrapping ErrBlobUnknown.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns the blob for reading (seekable, for Range requests) and
	// its size, or an error wrapping ErrBlobUnknown. The caller closes it.
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, int64, error)
	// Put stores r's bytes under d once their digest is verified; a
	// mismatch returns an error wrapping ErrDigestInvalid and stores
	// nothing. It returns the blob's size.
	Put(ctx context.Context, d digest.Digest, r io.Reader) (int64, error)
}

// FS is a BlobStore in a directory: blobs/sha256/ab/abcdef… with the
// temporary files of Put in tmp/ of the same filesystem, so that rename is
// atomic.
type FS struct {
	root string
}

var _ BlobStore = (*FS)(nil)

// NewFS opens (creating if needed) a blob store rooted at dir.
func NewFS(dir string) (*FS, error) {
	for _, sub := range []string{"blobs/sha256", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(sub)), 0o755); err != nil {
			return nil, fmt.Errorf("distribution: blob store: %w", err)
		}
	}
	return &FS{root: dir}, nil
}

func (s *FS) path(d digest.Digest) (string, error) {
	if err := checkDigest(d); err != nil {
		return "", err
	}
	enc := d.Encoded()
	return filepath.Join(s.root, "blobs", string(d.Algorithm()), enc[:2], enc), nil
}

// Stat implements BlobStore.
func (s *FS) Stat(_ context.Context, d digest.Digest) (int64, error) {
	p, err := s.path(d)
	if err != nil {
		return 0, err
	}
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, fmt.Errorf("%w: %s", ErrBlobUnknown, d)
	}
	if err != nil {
		return 0, fmt.Errorf("distribution: blob store: %w", err)
	}
	return fi.Size(), nil
}

// Open implements BlobStore.
func (s *FS) Open(_ context.Context, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	p, err := s.path(d)
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("%w: %s", ErrBlobUnknown, d)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("distribution: blob store: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("distribution: blob store: %w", err)
	}
	return f, fi.Size(), nil
}

// Put implements BlobStore.
func (s *FS) Put(ctx context.Context, d digest.Digest, r io.Reader) (n int64, err error) {
	dst, err := s.path(d)
	if err != nil {
		return 0, err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "put-")
	if err != nil {
		return 0, fmt.Errorf("distribution: blob store: %w", err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name()) // a no-op after the rename
	}()
	dg := d.Algorithm().Digester()
	n, err = io.Copy(io.MultiWriter(tmp, dg.Hash()), r)
	if err != nil {
		return n, err // the body's own error (too large, client gone)
	}
	if got := dg.Digest(); got != d {
		return n, fmt.Errorf("%w: got %s, want %s", ErrDigestInvalid, got, d)
	}
	if err := ctx.Err(); err != nil {
		return n, err
	}
	if _, err := os.Stat(dst); err == nil {
		return n, nil // immutable: same digest, same bytes
	}
	if err := tmp.Sync(); err != nil {
		return n, fmt.Errorf("distribution: blob store: %w", err)
	}
	if err := tmp.Chmod(0o444); err != nil {
		return n, fmt.Errorf("distribution: blob store: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return n, fmt.Errorf("distribution: blob store: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return n, fmt.Errorf("distribution: blob store: %w", err)
	}
	return n, nil
}

// checkDigest accepts well-formed sha256 digests only.
func checkDigest(d digest.Digest) error {
	if err := d.Validate(); err != nil {
		return fmt.Errorf("%w: %q: %w", ErrDigestInvalid, string(d), err)
	}
	if d.Algorithm() != digest.SHA256 {
		return fmt.Errorf("%w: %s: only sha256 is supported", ErrDigestInvalid, d.Algorithm())
	}
	return nil
}

func parseDigest(s string) (digest.Digest, error) {
	d := digest.Digest(s)
	return d, checkDigest(d)
}

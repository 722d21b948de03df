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
	"time"

	"github.com/opencontainers/go-digest"
)

// BlobStore holds blob bytes by digest. Blobs are immutable: a digest's
// bytes never change. Implementations must be safe for concurrent use.
//
// Storing is two steps so that the registry can make the second one
// atomic with its metadata: Stage streams and verifies the bytes (slow,
// outside any transaction), Staged.Commit makes them the blob (a rename:
// quick, inside the transaction that links it; see Handler.Collect for
// why).
type BlobStore interface {
	// Stat returns the blob's size, or an error wrapping ErrBlobUnknown.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns the blob for reading (seekable, for Range requests) and
	// its size, or an error wrapping ErrBlobUnknown. The caller closes it.
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, int64, error)
	// Stage writes r's bytes aside and verifies them against d; a
	// mismatch returns an error wrapping ErrDigestInvalid and keeps
	// nothing. The caller Commits or Discards the result.
	Stage(ctx context.Context, d digest.Digest, r io.Reader) (Staged, error)
	// Delete removes blob d; an absent blob is no error.
	Delete(ctx context.Context, d digest.Digest) error
	// Walk calls fn with every stored blob, its size and when it was
	// written, until fn returns an error (returned by Walk).
	Walk(ctx context.Context, fn func(d digest.Digest, size int64, written time.Time) error) error
	// Sweep removes what Stages left behind (a crash) before t.
	Sweep(ctx context.Context, before time.Time) error
}

// Staged is a verified blob not yet stored.
type Staged interface {
	// Size is the blob's size in bytes.
	Size() int64
	// Commit stores the staged bytes as the blob, or keeps the stored blob
	// when there is one already (the same bytes).
	Commit(ctx context.Context) error
	// Discard drops the staged bytes; after Commit it does nothing.
	Discard()
}

// FS is a BlobStore in a directory: blobs/sha256/ab/abcdef… with the
// temporary files of Stage in tmp/ of the same filesystem, so that rename
// is atomic.
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

// fsStaged is a Staged of FS: a verified, synced temporary file.
type fsStaged struct {
	tmp, dst string
	size     int64
}

func (st *fsStaged) Size() int64 { return st.size }

func (st *fsStaged) Commit(context.Context) error {
	if _, err := os.Stat(st.dst); err == nil {
		os.Remove(st.tmp) // immutable: same digest, same bytes
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(st.dst), 0o755); err != nil {
		return fmt.Errorf("distribution: blob store: %w", err)
	}
	if err := os.Rename(st.tmp, st.dst); err != nil {
		return fmt.Errorf("distribution: blob store: %w", err)
	}
	return nil
}

func (st *fsStaged) Discard() { os.Remove(st.tmp) } // a no-op after Commit

// Stage implements BlobStore.
func (s *FS) Stage(ctx context.Context, d digest.Digest, r io.Reader) (_ Staged, err error) {
	dst, err := s.path(d)
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "put-")
	if err != nil {
		return nil, fmt.Errorf("distribution: blob store: %w", err)
	}
	defer func() {
		tmp.Close()
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	dg := d.Algorithm().Digester()
	n, err := io.Copy(io.MultiWriter(tmp, dg.Hash()), r)
	if err != nil {
		return nil, err // the body's own error (too large, too slow, client gone)
	}
	if got := dg.Digest(); got != d {
		return nil, fmt.Errorf("%w: got %s, want %s", ErrDigestInvalid, got, d)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := tmp.Sync(); err != nil {
		return nil, fmt.Errorf("distribution: blob store: %w", err)
	}
	if err := tmp.Chmod(0o444); err != nil {
		return nil, fmt.Errorf("distribution: blob store: %w", err)
	}
	return &fsStaged{tmp: tmp.Name(), dst: dst, size: n}, nil
}

// Delete implements BlobStore.
func (s *FS) Delete(_ context.Context, d digest.Digest) error {
	p, err := s.path(d)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("distribution: blob store: %w", err)
	}
	return nil
}

// Walk implements BlobStore. Files whose names are not digests are
// skipped.
func (s *FS) Walk(ctx context.Context, fn func(digest.Digest, int64, time.Time) error) error {
	base := filepath.Join(s.root, "blobs", "sha256")
	err := filepath.WalkDir(base, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if de.IsDir() {
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, de.Name())
		if checkDigest(d) != nil {
			return nil
		}
		fi, err := de.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted meanwhile
		}
		if err != nil {
			return err
		}
		return fn(d, fi.Size(), fi.ModTime())
	})
	if err != nil {
		return fmt.Errorf("distribution: blob store: %w", err)
	}
	return nil
}

// Sweep implements BlobStore.
func (s *FS) Sweep(_ context.Context, before time.Time) error {
	dir := filepath.Join(s.root, "tmp")
	des, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("distribution: blob store: %w", err)
	}
	for _, de := range des {
		if fi, err := de.Info(); err == nil && fi.ModTime().Before(before) {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
	return nil
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

package updater

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

// ErrStoreFull: a download would take the package store past
// Limits.StoreMax.
var ErrStoreFull = errors.New("updater: package store full")

// maxStoredManifest bounds an image manifest read back from the store (as
// ocipkg's bound on the manifests it accepts).
const maxStoredManifest = 4 << 20

// store is the updater's package store: the verified packages in an OCI
// image layout (oci-layout, index.json, blobs/sha256/<hex>) that only the
// updater writes. It is oras-go's content.Storage and content.Resolver, so
// oras copies into it and ocipkg reads from it.
//
// # Writing
//
// Push streams a blob into a temporary file of its own in ingest/,
// verifying size and digest as it goes, and renames it into blobs/ only
// when whole; on any error or refusal the temporary file is removed.
// (oras-go's OCI store, used before, leaks it: its ingest loses the path
// on error, so every refused download stayed on disk. Its index and graph,
// kept in memory, would also go stale under collect.) Concurrent pushes,
// even of the same blob, never share a file. openStore empties ingest/:
// whatever is there was left by a crash.
//
// # What stays
//
// collect removes every blob that neither a kept manifest (the caller's:
// the installed, previous and staged versions) nor a lease names, and
// rewrites index.json to list the kept manifests. A lease is a download or
// load under way: it names its manifest (whose blobs on disk it then
// keeps too) and the blobs it is about to write, and reserves the bytes
// it will add; reserve refuses to let the store (blobs plus every lease's
// reservation, counted conservatively) grow past its cap.
//
// A store is safe for concurrent use within one process.
type store struct {
	root string
	max  int64

	mu     sync.Mutex
	leases map[*lease]struct{}
}

// lease keeps what a download or load names from collect until release.
type lease struct {
	s         *store
	manifests map[digest.Digest]bool // guarded by s.mu
	blobs     map[digest.Digest]bool // guarded by s.mu
	reserved  int64                  // guarded by s.mu
}

// openStore opens (creating) the store at root, capped at max bytes, and
// removes the temporary files a crash left.
func openStore(root string, max int64) (*store, error) {
	if err := os.RemoveAll(filepath.Join(root, "ingest")); err != nil {
		return nil, fmt.Errorf("updater: package store: %w", err)
	}
	for _, d := range []string{filepath.Join(root, ocispec.ImageBlobsDir, string(digest.SHA256)), filepath.Join(root, "ingest")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("updater: package store: %w", err)
		}
	}
	s := &store{root: root, max: max, leases: map[*lease]struct{}{}}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return nil, fmt.Errorf("updater: package store: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(root, ocispec.ImageLayoutFile), layout); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(root, ocispec.ImageIndexFile)); errors.Is(err, fs.ErrNotExist) {
		if err := s.writeIndex(nil); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// path is where the blob d lives; only sha256 digests are stored.
func (s *store) path(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("updater: package store: digest %q: %w", d, errdef.ErrInvalidDigest)
	}
	return filepath.Join(s.root, ocispec.ImageBlobsDir, string(d.Algorithm()), d.Encoded()), nil
}

// Exists implements content.Storage.
func (s *store) Exists(_ context.Context, desc ocispec.Descriptor) (bool, error) {
	p, err := s.path(desc.Digest)
	if err != nil {
		return false, err
	}
	switch _, err := os.Stat(p); {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("updater: package store: %w", err)
	}
}

// Fetch implements content.Storage; the reader checks nothing (ocipkg
// verifies every blob it reads).
func (s *store) Fetch(_ context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	p, err := s.path(desc.Digest)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("updater: package store: %s: %w", desc.Digest, errdef.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("updater: package store: %w", err)
	}
	return f, nil
}

// Resolve implements content.Resolver for digests: the descriptor of a
// stored blob, with the media type its JSON declares (so that ocipkg can
// tell an image manifest).
func (s *store) Resolve(_ context.Context, ref string) (ocispec.Descriptor, error) {
	d := digest.Digest(ref)
	p, err := s.path(d)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("updater: package store: %q: %w", ref, errdef.ErrNotFound)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return ocispec.Descriptor{}, fmt.Errorf("updater: package store: %s: %w", ref, errdef.ErrNotFound)
	}
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("updater: package store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("updater: package store: %w", err)
	}
	var head struct {
		MediaType string `json:"mediaType"`
	}
	if json.NewDecoder(io.LimitReader(f, maxStoredManifest)).Decode(&head) != nil || head.MediaType == "" {
		head.MediaType = "application/octet-stream"
	}
	return ocispec.Descriptor{MediaType: head.MediaType, Digest: d, Size: fi.Size()}, nil
}

// Push implements content.Storage: see the type's doc. A blob already
// stored gives errdef.ErrAlreadyExists, which oras-go's copy accepts.
func (s *store) Push(_ context.Context, expected ocispec.Descriptor, r io.Reader) (err error) {
	target, err := s.path(expected.Digest)
	if err != nil {
		return err
	}
	if _, serr := os.Stat(target); serr == nil {
		return fmt.Errorf("updater: package store: %s: %w", expected.Digest, errdef.ErrAlreadyExists)
	}
	f, err := os.CreateTemp(filepath.Join(s.root, "ingest"), expected.Digest.Encoded()+"_*")
	if err != nil {
		return fmt.Errorf("updater: package store: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		if err != nil {
			os.Remove(tmp)
		}
	}()
	vr := content.NewVerifyReader(r, expected)
	if _, err = io.Copy(f, vr); err != nil {
		return fmt.Errorf("updater: package store: %s: %w", expected.Digest, err)
	}
	if err = vr.Verify(); err != nil {
		return fmt.Errorf("updater: package store: %s: %w", expected.Digest, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("updater: package store: %w", err)
	}
	err, f = f.Close(), nil
	if err != nil {
		return fmt.Errorf("updater: package store: %w", err)
	}
	if err = os.Chmod(tmp, 0o444); err != nil {
		return fmt.Errorf("updater: package store: %w", err)
	}
	if err = os.Rename(tmp, target); err != nil {
		return fmt.Errorf("updater: package store: %w", err)
	}
	return nil
}

// lease starts keeping what a download or load names.
func (s *store) lease() *lease {
	l := &lease{s: s, manifests: map[digest.Digest]bool{}, blobs: map[digest.Digest]bool{}}
	s.mu.Lock()
	s.leases[l] = struct{}{}
	s.mu.Unlock()
	return l
}

// holdManifest keeps the image manifest d and, while it is on disk, every
// blob it names.
func (l *lease) holdManifest(d digest.Digest) {
	l.s.mu.Lock()
	l.manifests[d] = true
	l.s.mu.Unlock()
}

// holdBlobs keeps blobs that are about to be written.
func (l *lease) holdBlobs(descs ...ocispec.Descriptor) {
	l.s.mu.Lock()
	for _, d := range descs {
		l.blobs[d.Digest] = true
	}
	l.s.mu.Unlock()
}

// reserve counts need more bytes against the store's cap for the lease's
// life, or returns an error wrapping ErrStoreFull.
func (l *lease) reserve(need int64) error {
	s := l.s
	s.mu.Lock()
	defer s.mu.Unlock()
	used, err := s.size()
	if err != nil {
		return err
	}
	for o := range s.leases {
		used += o.reserved
	}
	if used+need > s.max {
		return fmt.Errorf("%w: %s more would make %s, over its cap of %s (Limits.StoreMax)", ErrStoreFull, mib(need), mib(used+need), mib(s.max))
	}
	l.reserved += need
	return nil
}

// release ends the lease; what it kept is collectable again.
func (l *lease) release() {
	l.s.mu.Lock()
	delete(l.s.leases, l)
	l.s.mu.Unlock()
}

// size is the bytes of the stored blobs; s.mu is held.
func (s *store) size() (int64, error) {
	var n int64
	err := s.walk(func(_ digest.Digest, fi fs.FileInfo) error {
		n += fi.Size()
		return nil
	})
	return n, err
}

// walk calls fn for every file in blobs/sha256 (d is "" for a name that is
// no digest).
func (s *store) walk(fn func(d digest.Digest, fi fs.FileInfo) error) error {
	dir := filepath.Join(s.root, ocispec.ImageBlobsDir, string(digest.SHA256))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("updater: package store: %w", err)
	}
	for _, e := range entries {
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("updater: package store: %w", err)
		}
		d := digest.NewDigestFromEncoded(digest.SHA256, e.Name())
		if d.Validate() != nil || fi.IsDir() {
			d = ""
		}
		if err := fn(d, fi); err != nil {
			return err
		}
	}
	return nil
}

// collect removes every blob that the manifests keep lists and the leases
// do not name (see the type's doc) and returns the bytes freed. keep is
// called under the store's lock: a lease released meanwhile waits, so what
// it held is either still held or already in keep's answer.
func (s *store) collect(keepFn func() ([]digest.Digest, error)) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keep, err := keepFn()
	if err != nil {
		return 0, err
	}
	live := map[digest.Digest]bool{}
	roots := slices.Clone(keep)
	for l := range s.leases {
		for d := range l.manifests {
			roots = append(roots, d)
		}
		for d := range l.blobs {
			live[d] = true
		}
	}
	var index []ocispec.Descriptor
	seen := map[digest.Digest]bool{}
	for _, d := range roots {
		if seen[d] {
			continue
		}
		seen[d], live[d] = true, true
		m, size, ok := s.manifest(d)
		if !ok {
			continue
		}
		if slices.Contains(keep, d) {
			index = append(index, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: size})
		}
		live[m.Config.Digest] = true
		for _, l := range m.Layers {
			live[l.Digest] = true
		}
	}
	var freed int64
	err = s.walk(func(d digest.Digest, fi fs.FileInfo) error {
		if d != "" && live[d] {
			return nil
		}
		p := filepath.Join(s.root, ocispec.ImageBlobsDir, string(digest.SHA256), fi.Name())
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("updater: package store: %w", err)
		}
		freed += fi.Size()
		return nil
	})
	if err != nil {
		return freed, err
	}
	slices.SortFunc(index, func(a, b ocispec.Descriptor) int { return cmp.Compare(a.Digest, b.Digest) })
	return freed, s.writeIndex(index)
}

// manifest reads a stored image manifest; ok is false when d is not on
// disk or not an image manifest.
func (s *store) manifest(d digest.Digest) (m ocispec.Manifest, size int64, ok bool) {
	p, err := s.path(d)
	if err != nil {
		return m, 0, false
	}
	f, err := os.Open(p)
	if err != nil {
		return m, 0, false
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() > maxStoredManifest {
		return m, 0, false
	}
	if json.NewDecoder(f).Decode(&m) != nil || m.MediaType != ocispec.MediaTypeImageManifest {
		return m, 0, false
	}
	return m, fi.Size(), true
}

// writeIndex writes index.json listing manifests.
func (s *store) writeIndex(manifests []ocispec.Descriptor) error {
	if manifests == nil {
		manifests = []ocispec.Descriptor{}
	}
	b, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests})
	if err != nil {
		return fmt.Errorf("updater: package store: %w", err)
	}
	return writeFileAtomic(filepath.Join(s.root, ocispec.ImageIndexFile), b)
}

// writeFileAtomic replaces name, a file at the store's root, with b: a
// crash leaves the old file or the new one (and a temporary file in
// ingest/, removed at the next open).
func writeFileAtomic(name string, b []byte) error {
	f, err := os.CreateTemp(filepath.Join(filepath.Dir(name), "ingest"), filepath.Base(name)+"_*")
	if err != nil {
		return fmt.Errorf("updater: package store: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), name)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("updater: package store: %w", err)
	}
	return nil
}

// mib formats a byte count for the owner.
func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

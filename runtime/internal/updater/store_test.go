package updater

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
)

func blobDesc(b []byte) ocispec.Descriptor {
	return content.NewDescriptorFromBytes("application/octet-stream", b)
}

// files lists what is under dir (relative paths), sorted.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func newStore(t *testing.T, max int64) (*store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := openStore(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// TestStorePushLeavesNothingOnFailure: a blob that is not what its
// descriptor says, or whose transfer breaks, leaves no file behind.
func TestStorePushLeavesNothingOnFailure(t *testing.T) {
	blob := bytes.Repeat([]byte("wasm"), 64<<10)
	tests := []struct {
		name string
		r    io.Reader
		want error
	}{
		{"tampered", bytes.NewReader(flipped(blob)), content.ErrMismatchedDigest},
		{"short", bytes.NewReader(blob[:len(blob)/2]), io.ErrUnexpectedEOF},
		{"long", bytes.NewReader(append(slices.Clone(blob), 'x')), content.ErrTrailingData},
		{"transfer breaks", io.MultiReader(bytes.NewReader(blob[:1000]), iotest.ErrReader(errors.New("connection reset"))), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newStore(t, 1<<30)
			before := files(t, dir)
			err := s.Push(context.Background(), blobDesc(blob), tt.r)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("Push = %v, want %v", err, tt.want)
			}
			if after := files(t, dir); !slices.Equal(before, after) {
				t.Fatalf("the store changed: %v, was %v", after, before)
			}
		})
	}
}

func flipped(b []byte) []byte {
	out := slices.Clone(b)
	out[len(out)/2] ^= 0xff
	return out
}

// TestStorePushConcurrent: many pushes of the same blob at once store it
// once, whole, and leave no temporary file.
func TestStorePushConcurrent(t *testing.T) {
	s, dir := newStore(t, 1<<30)
	blob := bytes.Repeat([]byte("module"), 100<<10)
	desc := blobDesc(blob)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := s.Push(context.Background(), desc, bytes.NewReader(blob)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	rc, err := s.Fetch(context.Background(), desc)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("stored %d bytes, %v", len(got), err)
	}
	want := []string{"blobs/sha256/" + desc.Digest.Encoded(), "index.json", "oci-layout"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("the store holds %v, want %v", got, want)
	}
}

// pushManifest stores an image manifest naming layers (stored too) and
// returns its digest.
func pushManifest(t *testing.T, s *store, layers ...[]byte) digest.Digest {
	t.Helper()
	ctx := context.Background()
	cfg := []byte(`{}`)
	im := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: blobDesc(cfg)}
	im.SchemaVersion = 2
	for _, b := range append([][]byte{cfg}, layers...) {
		if err := s.Push(ctx, blobDesc(b), bytes.NewReader(b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			t.Fatal(err)
		}
	}
	for _, l := range layers {
		im.Layers = append(im.Layers, blobDesc(l))
	}
	raw, err := json.Marshal(im)
	if err != nil {
		t.Fatal(err)
	}
	d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, raw)
	if err := s.Push(ctx, d, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	return d.Digest
}

func blobPaths(ds ...digest.Digest) []string {
	var out []string
	for _, d := range ds {
		out = append(out, "blobs/sha256/"+d.Encoded())
	}
	return out
}

// TestStoreCollect: collect keeps the listed manifests, the leased ones and
// the blobs of both (a lease also keeps blobs about to be written), and
// removes everything else, including files that are no blob.
func TestStoreCollect(t *testing.T) {
	s, dir := newStore(t, 1<<30)
	shared, own1, own2, own3 := []byte("shared"), []byte("own to 1"), []byte("own to 2"), []byte("own to 3")
	kept := pushManifest(t, s, shared, own1)
	leased := pushManifest(t, s, shared, own2)
	pushManifest(t, s, shared, own3) // neither kept nor leased
	incoming := []byte("being downloaded")
	if err := s.Push(context.Background(), blobDesc(incoming), bytes.NewReader(incoming)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "blobs", "sha256", "not-a-digest"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := s.lease()
	l.holdManifest(leased)
	l.holdBlobs(blobDesc(incoming))
	freed, err := s.collect(func() ([]digest.Digest, error) { return []digest.Digest{kept}, nil })
	if err != nil {
		t.Fatal(err)
	}
	want := append(blobPaths(kept, leased, blobDesc(incoming).Digest, blobDesc(shared).Digest, blobDesc(own1).Digest,
		blobDesc(own2).Digest, blobDesc([]byte(`{}`)).Digest), "index.json", "oci-layout")
	slices.Sort(want)
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after collect the store holds\n%v\nwant\n%v", got, want)
	}
	if freed == 0 {
		t.Fatal("collect freed nothing")
	}
	var index ocispec.Index
	if b, err := os.ReadFile(filepath.Join(dir, "index.json")); err != nil || json.Unmarshal(b, &index) != nil {
		t.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != kept {
		t.Fatalf("index.json lists %v, want only %s", index.Manifests, kept)
	}

	// Released, the lease keeps nothing.
	l.release()
	if _, err := s.collect(func() ([]digest.Digest, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	if got := files(t, dir); !slices.Equal(got, []string{"index.json", "oci-layout"}) {
		t.Fatalf("after collecting everything the store holds %v", got)
	}
}

// TestStoreReserve: a lease may reserve up to the cap, counting the stored
// blobs and the other leases' reservations; released, its room is free.
func TestStoreReserve(t *testing.T) {
	s, _ := newStore(t, 1000)
	blob := bytes.Repeat([]byte("x"), 400)
	if err := s.Push(context.Background(), blobDesc(blob), bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	a, b := s.lease(), s.lease()
	if err := a.reserve(500); err != nil {
		t.Fatal(err)
	}
	if err := b.reserve(101); !errors.Is(err, ErrStoreFull) {
		t.Fatalf("reserving past the cap = %v, want ErrStoreFull", err)
	}
	if err := b.reserve(100); err != nil {
		t.Fatalf("reserving up to the cap = %v", err)
	}
	a.release()
	if err := b.reserve(500); err != nil {
		t.Fatalf("reserving after a release = %v", err)
	}
}

// TestOpenStoreRemovesCrashLeftovers: temporary files (ours or oras-go's)
// are gone after an open; the blobs stay.
func TestOpenStoreRemovesCrashLeftovers(t *testing.T) {
	s, dir := newStore(t, 1<<30)
	blob := []byte("stored")
	if err := s.Push(context.Background(), blobDesc(blob), bytes.NewReader(blob)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{blobDesc(blob).Digest.Encoded() + "_123", "index.json_456"} {
		if err := os.WriteFile(filepath.Join(dir, "ingest", name), []byte("partial"), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := openStore(dir, 1<<30); err != nil {
		t.Fatal(err)
	}
	want := []string{"blobs/sha256/" + blobDesc(blob).Digest.Encoded(), "index.json", "oci-layout"}
	if got := files(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after an open the store holds %v, want %v", got, want)
	}
}

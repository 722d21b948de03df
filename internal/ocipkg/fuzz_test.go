package ocipkg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/websonic/websonic/internal/ocipkg"
)

// FuzzFetch hands FetchFrom arbitrary image-manifest bytes, correctly
// addressed and tagged next to a real artifact's blobs, so the fuzzer
// reaches the decoder and every check after it: it must never panic, and
// never return files for a manifest that is not the real one.
func FuzzFetch(f *testing.F) {
	ctx := context.Background()
	pkg, _ := writePackage(f)
	real := memory.New()
	desc, err := ocipkg.PackTo(ctx, pkg, real)
	if err != nil {
		f.Fatal(err)
	}
	good, err := content.FetchAll(ctx, real, desc)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"schemaVersion":2,"layers":[{"mediaType":"application/wasm","digest":"sha256:00","size":1}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		store := memory.New()
		// The real artifact's blobs, so valid-looking references resolve.
		for _, d := range descendants(t, ctx, real, desc) {
			b, _ := content.FetchAll(ctx, real, d)
			store.Push(ctx, d, bytes.NewReader(b))
		}
		d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, raw)
		if err := store.Push(ctx, d, bytes.NewReader(raw)); err != nil {
			return // already there: the real manifest
		}
		if err := store.Tag(ctx, d, "fuzz"); err != nil {
			t.Fatal(err)
		}
		files, err := ocipkg.FetchFrom(ctx, store, "fuzz")
		if err == nil && !bytes.Equal(raw, good) && len(files) == 0 {
			t.Fatalf("no error and no files for %q", raw)
		}
	})
}

func descendants(t *testing.T, ctx context.Context, store *memory.Store, desc ocispec.Descriptor) []ocispec.Descriptor {
	raw, err := content.FetchAll(ctx, store, desc)
	if err != nil {
		t.Fatal(err)
	}
	var im ocispec.Manifest
	if err := json.Unmarshal(raw, &im); err != nil {
		t.Fatal(err)
	}
	return append([]ocispec.Descriptor{im.Config}, im.Layers...)
}

package ocipkg_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/websonic/websonic/internal/ocipkg"
)

var testRuntimeMeta = ocipkg.RuntimeMeta{Name: "websonic", Version: "1.2.3", OS: "linux", Arch: "amd64"}

func testBinary() []byte { return []byte("\x7fELF pretend websonic binary 1.2.3 linux/amd64") }

// packRuntime packs the test binary into a new memory store and returns
// the store, the manifest descriptor and its bytes.
func packRuntime(t testing.TB) (*memory.Store, ocispec.Descriptor, []byte) {
	t.Helper()
	ctx := context.Background()
	store := memory.New()
	desc, err := ocipkg.PackRuntime(ctx, testBinary(), testRuntimeMeta, store, "latest")
	return packed(t, store, desc, err)
}

func TestRuntimeRoundTrip(t *testing.T) {
	ctx := context.Background()
	store, desc, raw := packRuntime(t)
	if _, desc2, _ := packRuntime(t); desc2.Digest != desc.Digest {
		t.Fatalf("packing is not deterministic: %s, %s", desc.Digest, desc2.Digest)
	}
	if desc.ArtifactType != ocipkg.ArtifactTypeRuntime || desc.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("descriptor %+v", desc)
	}
	meta, bin, err := ocipkg.CheckRuntimeManifest(raw)
	sum := sha256.Sum256(testBinary())
	if err != nil || meta != testRuntimeMeta || bin.Digest.Encoded() != hex.EncodeToString(sum[:]) || bin.Size != int64(len(testBinary())) {
		t.Fatalf("CheckRuntimeManifest = %+v, %+v, %v", meta, bin, err)
	}
	if _, _, err := ocipkg.CheckRuntimeManifest(append(bytes.Clone(raw), " {}"...)); !errors.Is(err, ocipkg.ErrRuntime) {
		t.Fatalf("trailing data: %v", err)
	}
	for _, ref := range []string{"1.2.3-linux-amd64", "latest"} {
		got, meta, err := ocipkg.FetchRuntimeFrom(ctx, store, ref)
		if err != nil || !bytes.Equal(got, testBinary()) || meta != testRuntimeMeta {
			t.Fatalf("FetchRuntimeFrom(%s) = %q, %+v, %v", ref, got, meta, err)
		}
	}
	// A module fetcher refuses the runtime artifact, and the reverse.
	if _, err := ocipkg.FetchFrom(ctx, store, "latest"); !errors.Is(err, ocipkg.ErrArtifact) {
		t.Fatalf("FetchFrom(runtime) = %v", err)
	}
	modStore := memory.New()
	pkg, _ := writePackage(t)
	if _, err := ocipkg.PackTo(ctx, pkg, modStore, "mod"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ocipkg.FetchRuntimeFrom(ctx, modStore, "mod"); !errors.Is(err, ocipkg.ErrRuntime) {
		t.Fatalf("FetchRuntimeFrom(module) = %v", err)
	}
}

func TestPackRuntimeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		meta func(*ocipkg.RuntimeMeta)
		bin  []byte
	}{
		{"other name", func(m *ocipkg.RuntimeMeta) { m.Name = "other" }, testBinary()},
		{"build metadata", func(m *ocipkg.RuntimeMeta) { m.Version = "1.2.3+x" }, testBinary()},
		{"os", func(m *ocipkg.RuntimeMeta) { m.OS = "windows" }, testBinary()},
		{"arch", func(m *ocipkg.RuntimeMeta) { m.Arch = "riscv64" }, testBinary()},
		{"empty binary", func(*ocipkg.RuntimeMeta) {}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := testRuntimeMeta
			tc.meta(&meta)
			store := memory.New()
			if _, err := ocipkg.PackRuntime(context.Background(), tc.bin, meta, store); !errors.Is(err, ocipkg.ErrRuntime) {
				t.Fatalf("PackRuntime = %v", err)
			}
		})
	}
}

// TestFetchRuntimeRefuses serves edited manifests (and blobs) next to a
// real artifact's blobs: each is refused with ErrRuntime.
func TestFetchRuntimeRefuses(t *testing.T) {
	ctx := context.Background()
	real, _, good := packRuntime(t)
	edit := func(f func(m map[string]any, layer, annotations map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m, m["layers"].([]any)[0].(map[string]any), m["annotations"].(map[string]any))
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	otherCfg := []byte(`{"websonic.runtime":{"name":"websonic","version":"1.2.3","os":"linux","arch":"arm64"}}`)
	extraCfg := []byte(`{"websonic.runtime":{"name":"websonic","version":"1.2.3","os":"linux","arch":"amd64","x":1}}`)
	forged := []byte("\x7fELF forged")
	for _, tc := range []struct {
		name  string
		raw   []byte
		blobs [][2]string // extra blobs: media type, content
	}{
		{"artifact type", edit(func(m, _, _ map[string]any) { m["artifactType"] = ocipkg.ArtifactTypeTheme }), nil},
		{"config type", edit(func(m, _, _ map[string]any) { m["config"].(map[string]any)["mediaType"] = "application/json" }), nil},
		{"layer type", edit(func(_, l, _ map[string]any) { l["mediaType"] = "application/octet-stream" }), nil},
		{"layer title", edit(func(_, l, _ map[string]any) {
			l["annotations"] = map[string]any{ocispec.AnnotationTitle: "../websonic"}
		}), nil},
		{"two layers", edit(func(m, l, _ map[string]any) { m["layers"] = []any{l, l} }), nil},
		{"no layer", edit(func(m, _, _ map[string]any) { m["layers"] = []any{} }), nil},
		{"huge layer", edit(func(_, l, _ map[string]any) { l["size"] = ocipkg.MaxRuntimeBinary + 1 }), nil},
		{"annotation arch", edit(func(_, _, a map[string]any) { a[ocipkg.AnnotationRuntimeArch] = "mips" }), nil},
		{"annotation name", edit(func(_, _, a map[string]any) { a[ocispec.AnnotationTitle] = "other" }), nil},
		{"config disagrees", edit(func(m, _, _ map[string]any) {
			d := content.NewDescriptorFromBytes(ocipkg.MediaTypeRuntimeConfig, otherCfg)
			m["config"] = map[string]any{"mediaType": d.MediaType, "digest": d.Digest, "size": d.Size}
		}), [][2]string{{ocipkg.MediaTypeRuntimeConfig, string(otherCfg)}}},
		{"config unknown field", edit(func(m, _, _ map[string]any) {
			d := content.NewDescriptorFromBytes(ocipkg.MediaTypeRuntimeConfig, extraCfg)
			m["config"] = map[string]any{"mediaType": d.MediaType, "digest": d.Digest, "size": d.Size}
		}), [][2]string{{ocipkg.MediaTypeRuntimeConfig, string(extraCfg)}}},
		{"binary size lies", edit(func(_, l, _ map[string]any) { l["size"] = len(testBinary()) - 1 }), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.New()
			for _, d := range descendants(t, ctx, real, mustResolve(t, real, "latest")) {
				b, _ := content.FetchAll(ctx, real, d)
				store.Push(ctx, d, bytes.NewReader(b))
			}
			for _, b := range tc.blobs {
				store.Push(ctx, content.NewDescriptorFromBytes(b[0], []byte(b[1])), bytes.NewReader([]byte(b[1])))
			}
			d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, tc.raw)
			if err := store.Push(ctx, d, bytes.NewReader(tc.raw)); err != nil {
				t.Fatal(err)
			}
			if err := store.Tag(ctx, d, "bad"); err != nil {
				t.Fatal(err)
			}
			if bin, _, err := ocipkg.FetchRuntimeFrom(ctx, store, "bad"); !errors.Is(err, ocipkg.ErrRuntime) {
				t.Fatalf("FetchRuntimeFrom = %d bytes, %v", len(bin), err)
			}
		})
	}
	// A binary blob that is not what the manifest's digest names (a store
	// that lies) is refused.
	_, bin, _ := ocipkg.CheckRuntimeManifest(good)
	liar := &lyingStore{Store: real, digest: bin.Digest.String(), data: forged}
	if b, _, err := ocipkg.FetchRuntimeFrom(ctx, liar, "latest"); !errors.Is(err, ocipkg.ErrRuntime) {
		t.Fatalf("forged binary: %d bytes, %v", len(b), err)
	}
}

// lyingStore serves data for the blob digest.
type lyingStore struct {
	*memory.Store
	digest string
	data   []byte
}

func (s *lyingStore) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.Digest.String() == s.digest {
		return io.NopCloser(bytes.NewReader(s.data)), nil
	}
	return s.Store.Fetch(ctx, d)
}

func mustResolve(t *testing.T, s *memory.Store, ref string) ocispec.Descriptor {
	t.Helper()
	d, err := s.Resolve(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// FuzzCheckRuntimeManifest: arbitrary manifest bytes never panic, and
// whatever is accepted names a valid identity and a bounded binary layer.
func FuzzCheckRuntimeManifest(f *testing.F) {
	_, _, good := packRuntime(f)
	f.Add(good)
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.websonic.runtime.v1","layers":[{}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		meta, bin, err := ocipkg.CheckRuntimeManifest(raw)
		if err != nil {
			if !errors.Is(err, ocipkg.ErrRuntime) {
				t.Fatalf("error not wrapping ErrRuntime: %v", err)
			}
			return
		}
		if meta.Name != "websonic" || meta.OS != "linux" || (meta.Arch != "amd64" && meta.Arch != "arm64") ||
			bin.Size <= 0 || bin.Size > ocipkg.MaxRuntimeBinary || bin.MediaType != ocipkg.MediaTypeRuntimeBinary || bin.Digest.Validate() != nil {
			t.Fatalf("accepted %q as %+v, %+v", raw, meta, bin)
		}
	})
}

package ocipkg

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestCheckManifest(t *testing.T) {
	layer := func(mt, title string, size int64) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mt, Digest: digest.FromString(title), Size: size,
			Annotations: map[string]string{ocispec.AnnotationTitle: title}}
	}
	build := func(edit func(*ocispec.Manifest)) []byte {
		im := ocispec.Manifest{
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: MediaTypeConfig, Digest: digest.FromString("c"), Size: 100},
			Layers:    []ocispec.Descriptor{layer(MediaTypeWasm, WasmFile, 1<<20), layer(MediaTypeManifest, ManifestFile, 500)},
		}
		im.SchemaVersion = 2
		edit(&im)
		b, _ := json.Marshal(im)
		return b
	}
	tests := []struct {
		name string
		raw  []byte
		want string
	}{
		{"a module", build(func(*ocispec.Manifest) {}), ""},
		{"a 1 GiB wasm", build(func(im *ocispec.Manifest) { im.Layers[0].Size = 1 << 30 }), "more than"},
		{"a negative size", build(func(im *ocispec.Manifest) { im.Layers[1].Size = -1 }), "more than"},
		{"an unknown layer", build(func(im *ocispec.Manifest) { im.Layers[1].MediaType = "application/octet-stream" }), "unknown media type"},
		{"a big config", build(func(im *ocispec.Manifest) { im.Config.Size = 1 << 30 }), "config"},
		{"too many layers", build(func(im *ocispec.Manifest) {
			for i := range maxLayers {
				im.Layers = append(im.Layers, layer(MediaTypeMigration, "migrations/"+strings.Repeat("0", 3)+"_"+string(rune('a'+i%26))+".sql", 10))
			}
		}), "layers"},
		{"not JSON", []byte("{"), "image manifest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckManifest(tt.raw)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrArtifact) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckManifest = %v, want ErrArtifact containing %q", err, tt.want)
			}
		})
	}
}

package ocipkg_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/websonic/websonic/internal/modassets"
	"github.com/websonic/websonic/internal/ocipkg"
)

const fakeWasm = "\x00asm\x01\x00\x00\x00"

const testManifest = `{
  "manifest_version": 1,
  "name": "hello",
  "version": "1.2.3",
  "abi_version": 1,
  "capabilities": {},
  "migrations": ["migrations/001_a.sql", "migrations/002_b.sql"]
}`

// writePackage lays out a package folder and returns it with its files.
func writePackage(t testing.TB) (string, map[string][]byte) {
	t.Helper()
	files := map[string][]byte{
		"module.json":          []byte(testManifest),
		"module.wasm":          []byte(fakeWasm),
		"migrations/001_a.sql": []byte("CREATE TABLE a (id int);\n"),
		"migrations/002_b.sql": []byte("CREATE TABLE b (id int);\n"),
		"assets/app.js":        []byte("console.log('hello')\n"),
		"assets/img/logo.svg":  []byte("<svg xmlns='http://www.w3.org/2000/svg'/>"),
	}
	dir := t.TempDir()
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	pkg, want := writePackage(t)
	layout := filepath.Join(t.TempDir(), "layout")
	desc, err := ocipkg.Pack(ctx, pkg, layout, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest || desc.Digest.Algorithm() != "sha256" || desc.Annotations[ocispec.AnnotationVersion] != "1.2.3" {
		t.Fatalf("descriptor %+v", desc)
	}
	for _, ref := range []string{"1.2.3", "latest", desc.Digest.String()} {
		got, err := ocipkg.Fetch(ctx, layout, ref)
		if err != nil {
			t.Fatalf("Fetch(%s): %v", ref, err)
		}
		if !maps.EqualFunc(got, want, bytes.Equal) {
			t.Fatalf("Fetch(%s) = %q, want %q", ref, got, want)
		}
	}
	if _, err := ocipkg.Fetch(ctx, layout, "9.9.9"); !errors.Is(err, ocipkg.ErrArtifact) {
		t.Fatalf("unknown tag: %v", err)
	}

	// The artifact is in the CNCF wasm layout.
	im := readImageManifest(t, layout, desc)
	if im.Config.MediaType != ocipkg.MediaTypeConfig || im.Layers[0].MediaType != ocipkg.MediaTypeWasm {
		t.Fatalf("not the wasm layout: %+v", im)
	}
	if im.Annotations[ocispec.AnnotationVersion] != "1.2.3" || im.Annotations[ocispec.AnnotationTitle] != "hello" {
		t.Fatalf("annotations %v", im.Annotations)
	}
	var titles []string
	for _, l := range im.Layers {
		titles = append(titles, l.MediaType+" "+l.Annotations[ocispec.AnnotationTitle])
	}
	wantTitles := []string{
		"application/wasm module.wasm",
		"application/vnd.websonic.module.manifest.v1+json module.json",
		"application/vnd.websonic.module.migration.v1+sql migrations/001_a.sql",
		"application/vnd.websonic.module.migration.v1+sql migrations/002_b.sql",
		"application/vnd.websonic.module.assets.v1.tar assets.tar",
	}
	if strings.Join(titles, "\n") != strings.Join(wantTitles, "\n") {
		t.Fatalf("layers:\n%s", strings.Join(titles, "\n"))
	}
}

func TestPackToMemory(t *testing.T) {
	ctx := context.Background()
	pkg, want := writePackage(t)
	store := memory.New()
	if _, err := ocipkg.PackTo(ctx, pkg, store); err != nil {
		t.Fatal(err)
	}
	got, err := ocipkg.FetchFrom(ctx, store, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(got, want, bytes.Equal) {
		t.Fatalf("got %q", got)
	}
}

func TestDeterministic(t *testing.T) {
	ctx := context.Background()
	pkg, _ := writePackage(t)
	pkg2, _ := writePackage(t)
	layout := t.TempDir()
	d1, err := ocipkg.Pack(ctx, pkg, layout)
	if err != nil {
		t.Fatal(err)
	}
	d2, err := ocipkg.Pack(ctx, pkg, layout) // again, into the same layout
	if err != nil {
		t.Fatal(err)
	}
	d3, err := ocipkg.Pack(ctx, pkg2, t.TempDir()) // another folder, another layout
	if err != nil {
		t.Fatal(err)
	}
	if d1.Digest != d2.Digest || d1.Digest != d3.Digest || d1.Size != d3.Size {
		t.Fatalf("digests differ: %s %s %s", d1.Digest, d2.Digest, d3.Digest)
	}
}

// blobPath is where an OCI layout keeps a blob.
func blobPath(layout string, d ocispec.Descriptor) string {
	return filepath.Join(layout, "blobs", d.Digest.Algorithm().String(), d.Digest.Encoded())
}

func readImageManifest(t testing.TB, layout string, desc ocispec.Descriptor) ocispec.Manifest {
	t.Helper()
	raw, err := os.ReadFile(blobPath(layout, desc))
	if err != nil {
		t.Fatal(err)
	}
	var im ocispec.Manifest
	if err := json.Unmarshal(raw, &im); err != nil {
		t.Fatal(err)
	}
	return im
}

func TestTampered(t *testing.T) {
	ctx := context.Background()
	pkg, _ := writePackage(t)
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, layout string, im ocispec.Manifest)
		want   error
		msg    string
	}{
		{"wasm flipped byte", func(t *testing.T, layout string, im ocispec.Manifest) {
			overwrite(t, blobPath(layout, im.Layers[0]), []byte("\x00asm\x01\x00\x00\x01"))
		}, content.ErrMismatchedDigest, "mismatched digest"},
		{"migration longer", func(t *testing.T, layout string, im ocispec.Manifest) {
			overwrite(t, blobPath(layout, im.Layers[2]), []byte("CREATE TABLE a (id int);\nDROP SCHEMA public;\n"))
		}, content.ErrTrailingData, "layer 2 (migrations/001_a.sql)"},
		{"manifest truncated", func(t *testing.T, layout string, im ocispec.Manifest) {
			overwrite(t, blobPath(layout, im.Layers[1]), []byte(testManifest[:10]))
		}, nil, "layer 1 (module.json)"},
		{"config replaced", func(t *testing.T, layout string, im ocispec.Manifest) {
			overwrite(t, blobPath(layout, im.Config), []byte(`{"architecture":"wasm","os":"wasip1"}`))
		}, nil, "config"},
		{"asset flipped byte", func(t *testing.T, layout string, im ocispec.Manifest) {
			b, err := os.ReadFile(blobPath(layout, im.Layers[4]))
			if err != nil {
				t.Fatal(err)
			}
			b[bytes.Index(b, []byte("hello"))] = 'j'
			overwrite(t, blobPath(layout, im.Layers[4]), b)
		}, content.ErrMismatchedDigest, "layer 4 (assets.tar)"},
		{"asset layer retitled", func(t *testing.T, layout string, im ocispec.Manifest) {
			im.Layers[4].Annotations[ocispec.AnnotationTitle] = "assets/evil.js"
			b, _ := json.Marshal(im)
			idx, _ := os.ReadFile(filepath.Join(layout, "index.json"))
			// Point the tag at the edited manifest, written as a new blob.
			d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
			os.WriteFile(blobPath(layout, d), b, 0o644)
			var index ocispec.Index
			json.Unmarshal(idx, &index)
			for i := range index.Manifests {
				index.Manifests[i].Digest, index.Manifests[i].Size = d.Digest, d.Size
			}
			idx, _ = json.Marshal(index)
			overwrite(t, filepath.Join(layout, "index.json"), idx)
		}, nil, "assets layer titled"},
		{"wasm missing", func(t *testing.T, layout string, im ocispec.Manifest) {
			if err := os.Remove(blobPath(layout, im.Layers[0])); err != nil {
				t.Fatal(err)
			}
		}, nil, "layer 0 (module.wasm)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layout := t.TempDir()
			desc, err := ocipkg.Pack(ctx, pkg, layout)
			if err != nil {
				t.Fatal(err)
			}
			tc.tamper(t, layout, readImageManifest(t, layout, desc))
			_, err = ocipkg.Fetch(ctx, layout, "1.2.3")
			if !errors.Is(err, ocipkg.ErrArtifact) || (tc.want != nil && !errors.Is(err, tc.want)) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Fetch error = %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
			t.Log(err)
		})
	}
}

func overwrite(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMalformed feeds Fetch artifacts that are correctly hashed but
// malformed, as a hostile publisher or registry could.
func TestMalformed(t *testing.T) {
	ctx := context.Background()
	pkg, _ := writePackage(t)
	for _, tc := range []struct {
		name string
		edit func(im *ocispec.Manifest, push func(mediaType, title string, b []byte) ocispec.Descriptor)
		msg  string
	}{
		{"unknown media type", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Layers = append(im.Layers, push("application/x-shellscript", "run.sh", []byte("rm -rf /")))
		}, `unknown media type "application/x-shellscript"`},
		{"duplicate title", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Layers = append(im.Layers, push(ocipkg.MediaTypeMigration, "migrations/001_a.sql", []byte("DROP TABLE users;")))
		}, `title "migrations/001_a.sql" appears twice`},
		{"dot-dot title", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Layers[2] = push(ocipkg.MediaTypeMigration, "migrations/../../etc/passwd", []byte("x"))
		}, `contains ".."`},
		{"absolute title", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Layers[2] = push(ocipkg.MediaTypeMigration, "/etc/passwd", []byte("x"))
		}, "not a clean relative path"},
		{"missing migration", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Layers = im.Layers[:3]
		}, "1 migration layers, the manifest lists 2"},
		{"unlisted migration", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Layers[3] = push(ocipkg.MediaTypeMigration, "migrations/003_c.sql", []byte("x"))
		}, "migrations/002_b.sql is listed in the manifest but has no layer"},
		{"missing wasm", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Layers = im.Layers[1:]
		}, "no application/wasm layer"},
		{"missing manifest", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Layers = append(im.Layers[:1], im.Layers[2:]...)
		}, "no application/vnd.websonic.module.manifest.v1+json layer"},
		{"wrong config media type", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Config.MediaType = "application/vnd.oci.image.config.v1+json"
		}, "config media type"},
		{"version annotation lies", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Annotations[ocispec.AnnotationVersion] = "9.0.0"
		}, "annotations name hello@9.0.0"},
		{"wasm layer size lies", func(im *ocispec.Manifest, push func(string, string, []byte) ocispec.Descriptor) {
			im.Layers[0].Size = 1 << 40
		}, "size 1099511627776 outside"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := memory.New()
			desc, err := ocipkg.PackTo(ctx, pkg, store)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := content.FetchAll(ctx, store, desc)
			if err != nil {
				t.Fatal(err)
			}
			var im ocispec.Manifest
			if err := json.Unmarshal(raw, &im); err != nil {
				t.Fatal(err)
			}
			push := func(mediaType, title string, b []byte) ocispec.Descriptor {
				d := content.NewDescriptorFromBytes(mediaType, b)
				d.Annotations = map[string]string{ocispec.AnnotationTitle: title}
				if err := store.Push(ctx, d, bytes.NewReader(b)); err != nil {
					t.Fatal(err)
				}
				return d
			}
			tc.edit(&im, push)
			raw, err = json.Marshal(im)
			if err != nil {
				t.Fatal(err)
			}
			d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, raw)
			if err := store.Push(ctx, d, bytes.NewReader(raw)); err != nil {
				t.Fatal(err)
			}
			if err := store.Tag(ctx, d, "evil"); err != nil {
				t.Fatal(err)
			}
			_, err = ocipkg.FetchFrom(ctx, store, "evil")
			if !errors.Is(err, ocipkg.ErrArtifact) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("FetchFrom error = %v, want one mentioning %q", err, tc.msg)
			}
		})
	}
}

func TestInvalidPackage(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		breakPkg func(t *testing.T, dir string)
		msg      string
	}{
		{"bad manifest", func(t *testing.T, dir string) {
			overwrite(t, filepath.Join(dir, "module.json"), []byte(`{"manifest_version":1,"name":"Hello"}`))
		}, "manifest: "},
		{"unknown manifest field", func(t *testing.T, dir string) {
			overwrite(t, filepath.Join(dir, "module.json"), []byte(strings.Replace(testManifest, `"abi_version"`, `"backdoor": true, "abi_version"`, 1)))
		}, "backdoor"},
		{"missing manifest", func(t *testing.T, dir string) { remove(t, dir, "module.json") }, "module.json"},
		{"missing wasm", func(t *testing.T, dir string) { remove(t, dir, "module.wasm") }, "module.wasm"},
		{"missing migration", func(t *testing.T, dir string) { remove(t, dir, "migrations/002_b.sql") }, "migration open migrations/002_b.sql"},
		{"hidden asset", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "assets", ".env"), []byte("SECRET=1"), 0o644)
		}, "dot"},
		{"asset symlink", func(t *testing.T, dir string) {
			if err := os.Symlink(filepath.Join(dir, "module.json"), filepath.Join(dir, "assets", "m.json")); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file"},
		{"asset too large", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, "assets", "big.bin"), make([]byte, modassets.MaxFileSize+1), 0o644)
		}, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, _ := writePackage(t)
			tc.breakPkg(t, dir)
			layout := t.TempDir()
			_, err := ocipkg.Pack(ctx, dir, layout)
			if !errors.Is(err, ocipkg.ErrPackage) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Pack error = %v, want one mentioning %q", err, tc.msg)
			}
		})
	}
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, filepath.FromSlash(name))); err != nil {
		t.Fatal(err)
	}
}

func TestTamperedImageManifest(t *testing.T) {
	ctx := context.Background()
	pkg, _ := writePackage(t)
	layout := t.TempDir()
	desc, err := ocipkg.Pack(ctx, pkg, layout)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(blobPath(layout, desc))
	if err != nil {
		t.Fatal(err)
	}
	overwrite(t, blobPath(layout, desc), bytes.Replace(raw, []byte("1.2.3"), []byte("1.2.4"), 1))
	_, err = ocipkg.Fetch(ctx, layout, "1.2.3")
	if !errors.Is(err, ocipkg.ErrArtifact) || !errors.Is(err, content.ErrMismatchedDigest) {
		t.Fatalf("Fetch error = %v, want a mismatched digest", err)
	}
	t.Log(err)
}

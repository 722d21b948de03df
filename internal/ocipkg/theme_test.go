package ocipkg_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"

	"github.com/websonic/websonic/internal/ocipkg"
)

const testThemeJSON = `{"name": "sunrise", "version": "1.0.0", "description": "A warm theme", "theme_version": 1, "extra": {"kept": true}}`

// writeTheme lays out a theme folder from files (nil: a good theme).
func writeTheme(t testing.TB, files map[string]string) (string, map[string][]byte) {
	t.Helper()
	if files == nil {
		files = map[string]string{
			"theme.json":             testThemeJSON,
			"layout.html":            `{{define "layout"}}<main>{{template "content" .}}</main>{{end}}`,
			"partials/nav.html":      `{{define "nav"}}<nav></nav>{{end}}`,
			"assets/css/site.css":    "body{margin:0}",
			"assets/img/logo.svg":    "<svg xmlns='http://www.w3.org/2000/svg'/>",
			"assets/fonts/a.woff2":   "wOF2",
			"assets/i18n/fr.json":    `{"Home":"Accueil"}`,
			"assets/img/PHOTO.JPEG":  "\xff\xd8\xff",
			"assets/img/favicon.ico": "\x00\x00\x01\x00",
		}
	}
	dir := t.TempDir()
	want := map[string][]byte{}
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		want[name] = []byte(b)
	}
	return dir, want
}

func TestThemeRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir, want := writeTheme(t, nil)
	layout := filepath.Join(t.TempDir(), "layout")
	desc, err := ocipkg.PackTheme(ctx, dir, layout, "latest")
	if err != nil {
		t.Fatal(err)
	}
	if desc.ArtifactType != ocipkg.ArtifactTypeTheme || desc.Annotations[ocispec.AnnotationVersion] != "1.0.0" {
		t.Fatalf("descriptor %+v", desc)
	}
	for _, ref := range []string{"1.0.0", "latest", desc.Digest.String()} {
		th, err := ocipkg.FetchTheme(ctx, layout, ref)
		if err != nil {
			t.Fatalf("FetchTheme(%s): %v", ref, err)
		}
		if !maps.EqualFunc(th.Files, want, bytes.Equal) {
			t.Fatalf("FetchTheme(%s) = %q, want %q", ref, th.Files, want)
		}
		if th.Meta != (ocipkg.ThemeMeta{Name: "sunrise", Version: "1.0.0", Description: "A warm theme", ThemeVersion: 1}) {
			t.Fatalf("meta %+v", th.Meta)
		}
		b, err := fs.ReadFile(th.FS(), "partials/nav.html")
		if err != nil || string(b) != string(want["partials/nav.html"]) {
			t.Fatalf("FS: %q, %v", b, err)
		}
	}
	// Deterministic: the same folder gives the same digest.
	again, err := ocipkg.PackThemeTo(ctx, dir, memory.New())
	if err != nil || again.Digest != desc.Digest {
		t.Fatalf("repacked: %s, %v; want %s", again.Digest, err, desc.Digest)
	}
	// A theme is not a module, nor a module a theme.
	if _, err := ocipkg.Fetch(ctx, layout, "1.0.0"); !errors.Is(err, ocipkg.ErrArtifact) {
		t.Fatalf("Fetch of a theme as a module: %v", err)
	}
	pkg, _ := writePackage(t)
	modLayout := filepath.Join(t.TempDir(), "modlayout")
	if _, err := ocipkg.Pack(ctx, pkg, modLayout); err != nil {
		t.Fatal(err)
	}
	if _, err := ocipkg.FetchTheme(ctx, modLayout, "1.2.3"); !errors.Is(err, ocipkg.ErrTheme) || !strings.Contains(err.Error(), "artifact type") {
		t.Fatalf("FetchTheme of a module: %v", err)
	}
}

func TestReadThemeRefuses(t *testing.T) {
	good := func() map[string]string {
		return map[string]string{"theme.json": testThemeJSON, "layout.html": "<p>{{.}}</p>", "assets/site.css": "p{}"}
	}
	for _, tc := range []struct {
		name   string
		change func(m map[string]string)
		want   string
	}{
		{"script", func(m map[string]string) { m["assets/app.js"] = "alert(1)" }, "no scripts"},
		{"script at root", func(m map[string]string) { m["evil.js"] = "alert(1)" }, "no scripts"},
		{"no extension", func(m map[string]string) { m["assets/README"] = "x" }, "no scripts"},
		{"hidden file", func(m map[string]string) { m["assets/.env"] = "x" }, "dot"},
		{"hidden folder", func(m map[string]string) { m[".git/x.html"] = "x" }, "hidden"},
		{"no theme.json", func(m map[string]string) { delete(m, "theme.json") }, "theme.json"},
		{"no template", func(m map[string]string) { delete(m, "layout.html") }, "no .html"},
		{"bad name", func(m map[string]string) { m["theme.json"] = `{"name":"Bad Name","version":"1.0.0","theme_version":1}` }, "name"},
		{"reserved name", func(m map[string]string) { m["theme.json"] = `{"name":"assets","version":"1.0.0","theme_version":1}` }, "reserved"},
		{"bad version", func(m map[string]string) { m["theme.json"] = `{"name":"x","version":"v1","theme_version":1}` }, "semantic version"},
		{"build metadata", func(m map[string]string) { m["theme.json"] = `{"name":"x","version":"1.0.0+b","theme_version":1}` }, "semantic version"},
		{"no theme_version", func(m map[string]string) { m["theme.json"] = `{"name":"x","version":"1.0.0"}` }, "theme_version"},
		{"not json", func(m map[string]string) { m["theme.json"] = `{"name":` }, "theme.json"},
		{"reserved", func(m map[string]string) { m["theme.tar"] = "x" }, "reserved"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := good()
			tc.change(m)
			dir, _ := writeTheme(t, m)
			_, err := ocipkg.PackThemeTo(context.Background(), dir, memory.New())
			if !errors.Is(err, ocipkg.ErrTheme) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrTheme mentioning %q", err, tc.want)
			}
		})
	}
	t.Run("symlink", func(t *testing.T) {
		dir, _ := writeTheme(t, good())
		if err := os.Symlink("/etc/passwd", filepath.Join(dir, "assets", "passwd.css")); err != nil {
			t.Skip(err)
		}
		_, err := ocipkg.PackThemeTo(context.Background(), dir, memory.New())
		if !errors.Is(err, ocipkg.ErrTheme) || !strings.Contains(err.Error(), "not a regular file") {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCheckThemePath(t *testing.T) {
	for _, tc := range []struct {
		path string
		ok   bool
	}{
		{"layout.html", true},
		{"assets/css/a.CSS", true},
		{"assets/img/a.webp", true},
		{"/etc/x.html", false},
		{"../x.html", false},
		{"a/../x.html", false},
		{`a\x.html`, false},
		{"a.js", false},
		{"a.mjs", false},
		{"a.html.js", false},
		{"a.wasm", false},
		{"theme.json", false},
		{"", false},
	} {
		if err := ocipkg.CheckThemePath(tc.path); (err == nil) != tc.ok {
			t.Errorf("CheckThemePath(%q) = %v, want ok %v", tc.path, err, tc.ok)
		}
	}
}

// themeArtifact packs the good theme into memory and returns the store, the
// manifest's descriptor and its bytes.
func themeArtifact(t testing.TB) (*memory.Store, ocispec.Descriptor, []byte) {
	t.Helper()
	ctx := context.Background()
	dir, _ := writeTheme(t, nil)
	store := memory.New()
	desc, err := ocipkg.PackThemeTo(ctx, dir, store)
	return packed(t, store, desc, err)
}

// packed returns what a Pack call gave and the manifest's bytes, failing
// t on err.
func packed(t testing.TB, store *memory.Store, desc ocispec.Descriptor, err error) (*memory.Store, ocispec.Descriptor, []byte) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := content.FetchAll(context.Background(), store, desc)
	if err != nil {
		t.Fatal(err)
	}
	return store, desc, raw
}

func TestFetchThemeTampered(t *testing.T) {
	ctx := context.Background()
	store, _, raw := themeArtifact(t)
	var im ocispec.Manifest
	if err := json.Unmarshal(raw, &im); err != nil {
		t.Fatal(err)
	}
	if err := ocipkg.CheckThemeManifest(raw); err != nil {
		t.Fatal(err)
	}
	// push stores blob b and returns its descriptor.
	push := func(mediaType string, b []byte, title string) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes(mediaType, b)
		if title != "" {
			d.Annotations = map[string]string{ocispec.AnnotationTitle: title}
		}
		store.Push(ctx, d, bytes.NewReader(b))
		return d
	}
	tarOf := func(files map[string]string) []byte {
		dir, _ := writeTheme(t, files)
		s := memory.New()
		d, err := ocipkg.PackThemeTo(ctx, dir, s)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := content.FetchAll(ctx, s, d)
		var m ocispec.Manifest
		json.Unmarshal(b, &m)
		tb, _ := content.FetchAll(ctx, s, m.Layers[1])
		return tb
	}
	for _, tc := range []struct {
		name   string
		change func(m *ocispec.Manifest)
		want   string
	}{
		{"module config", func(m *ocispec.Manifest) { m.Config.MediaType = ocipkg.MediaTypeConfig }, "config"},
		{"no artifact type", func(m *ocispec.Manifest) { m.ArtifactType = "" }, "artifact type"},
		{"extra layer", func(m *ocispec.Manifest) { m.Layers = append(m.Layers, m.Layers[1]) }, "3 layers"},
		{"unknown media type", func(m *ocispec.Manifest) { m.Layers[1].MediaType = "application/javascript" }, "media type"},
		{"wasm layer", func(m *ocispec.Manifest) {
			m.Layers[1] = push(ocipkg.MediaTypeWasm, []byte("\x00asm"), ocipkg.WasmFile)
		}, "media type"},
		{"swapped layers", func(m *ocispec.Manifest) { m.Layers[0], m.Layers[1] = m.Layers[1], m.Layers[0] }, "media type"},
		{"retitled", func(m *ocispec.Manifest) { m.Layers[1].Annotations[ocispec.AnnotationTitle] = "../x.tar" }, "titled"},
		{"huge layer", func(m *ocispec.Manifest) { m.Layers[1].Size = 1 << 40 }, "declares"},
		{"wrong digest", func(m *ocispec.Manifest) { m.Layers[0].Digest = m.Layers[1].Digest }, "theme.json"},
		{"annotation version", func(m *ocispec.Manifest) { m.Annotations[ocispec.AnnotationVersion] = "9.9.9" }, "annotations"},
		{"script in tar", func(m *ocispec.Manifest) {
			m.Layers[1] = push(ocipkg.MediaTypeThemeFiles, scriptTar(t), ocipkg.ThemeFilesFile)
		}, "no scripts"},
		{"other theme.json", func(m *ocispec.Manifest) {
			m.Layers[0] = push(ocipkg.MediaTypeThemeManifest, []byte(`{"name":"other","version":"1.0.0","theme_version":1}`), ocipkg.ThemeManifestFile)
		}, "config names"},
		{"other files", func(m *ocispec.Manifest) {
			m.Layers[1] = push(ocipkg.MediaTypeThemeFiles, tarOf(map[string]string{"theme.json": testThemeJSON, "x.html": "evil"}), ocipkg.ThemeFilesFile)
		}, ""}, // accepted by the format: its digest is the one in this manifest, whose own digest TUF signs
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m ocispec.Manifest
			json.Unmarshal(raw, &m)
			tc.change(&m)
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
			store.Push(ctx, d, bytes.NewReader(b))
			store.Tag(ctx, d, "t")
			_, err = ocipkg.FetchThemeFrom(ctx, store, "t")
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ocipkg.ErrTheme) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrTheme mentioning %q", err, tc.want)
			}
		})
	}
}

// scriptTar is a theme tar, in modassets' format, holding a script.
func scriptTar(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeTar(&buf, map[string]string{"layout.html": "<p></p>", "assets/app.js": "alert(1)"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// FuzzFetchTheme hands FetchThemeFrom arbitrary image-manifest bytes next
// to a real theme's blobs: it must never panic, and never accept anything
// but a manifest naming those blobs as a theme.
func FuzzFetchTheme(f *testing.F) {
	ctx := context.Background()
	real, _, good := themeArtifact(f)
	f.Add(good)
	f.Add([]byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.websonic.theme.v1","layers":[]}`))
	f.Add([]byte(`{}`))
	var im ocispec.Manifest
	json.Unmarshal(good, &im)
	blobs := append([]ocispec.Descriptor{im.Config}, im.Layers...)
	f.Fuzz(func(t *testing.T, raw []byte) {
		store := memory.New()
		for _, d := range blobs {
			b, _ := content.FetchAll(ctx, real, d)
			store.Push(ctx, d, bytes.NewReader(b))
		}
		d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, raw)
		if err := store.Push(ctx, d, bytes.NewReader(raw)); err != nil {
			return
		}
		store.Tag(ctx, d, "fuzz")
		th, err := ocipkg.FetchThemeFrom(ctx, store, "fuzz")
		if err == nil && (th.Meta.Name != "sunrise" || len(th.Files) == 0) {
			t.Fatalf("accepted %q as %+v", raw, th.Meta)
		}
		if err == nil && ocipkg.CheckThemeManifest(raw) != nil {
			t.Fatalf("FetchThemeFrom accepts what CheckThemeManifest refuses: %q", raw)
		}
	})
}

// FuzzDecodeThemeMeta: theme.json from a publisher never panics the
// decoder, and what it accepts is a valid identity.
func FuzzDecodeThemeMeta(f *testing.F) {
	f.Add([]byte(testThemeJSON))
	f.Add([]byte(`{"name":"a","version":"0.0.1","theme_version":4294967295}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ocipkg.DecodeThemeMeta(raw)
		if err != nil {
			return
		}
		if m.Name == "" || m.Version == "" || m.ThemeVersion == 0 || strings.ContainsAny(m.Name, "/.:") {
			t.Fatalf("accepted %+v", m)
		}
	})
}

// writeTar writes files as a tar of regular files, bypassing modassets'
// checks (so that the reader's are what is tested).
func writeTar(w io.Writer, files map[string]string) error {
	tw := tar.NewWriter(w)
	for _, p := range slices.Sorted(maps.Keys(files)) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Size: int64(len(files[p])), Mode: 0o644, Format: tar.FormatUSTAR}); err != nil {
			return err
		}
		if _, err := io.WriteString(tw, files[p]); err != nil {
			return err
		}
	}
	return tw.Close()
}

package release_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/websonic/websonic/internal/release"
)

const (
	testVersion = "1.2.3-rc.1"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testEpoch   = 1700000000
)

// built is the release the tests share: building the binaries is most of
// their time.
var built struct {
	once sync.Once
	dir  string
	m    *release.Manifest
	err  error
}

func sharedRelease(t *testing.T) (string, *release.Manifest) {
	t.Helper()
	built.once.Do(func() {
		base, err := os.MkdirTemp("", "websonic-release-test")
		if err != nil {
			built.err = err
			return
		}
		built.dir = filepath.Join(base, "dist")
		built.m, built.err = buildInto(built.dir)
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir, built.m
}

func buildInto(dir string) (*release.Manifest, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 14*time.Minute)
	defer cancel()
	return release.Build(ctx, release.Config{Version: testVersion, Commit: testCommit, SourceDateEpoch: testEpoch, OutDir: dir})
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(filepath.Dir(built.dir))
	}
	os.Exit(code)
}

// TestReproducible: two builds of the same source, version, commit and
// epoch into two folders give the same bytes, file for file (binaries,
// SHA256SUMS, release.json and every blob of the image layout), hence the
// same image index digest; the binary says its version.
//
// Both builds share the machine's GOCACHE (a cold one costs minutes): what
// they prove is that linking, the ldflags and the image are deterministic
// and that nothing of the output folder's path gets in. A build from a
// fresh GOCACHE was compared once by hand (see the report of issue 13).
func TestReproducible(t *testing.T) {
	dir1, m1 := sharedRelease(t)
	dir2 := filepath.Join(t.TempDir(), "elsewhere", "dist")
	m2, err := buildInto(dir2)
	if err != nil {
		t.Fatal(err)
	}
	if m1.Image.IndexDigest != m2.Image.IndexDigest {
		t.Errorf("image index digests differ: %s, %s", m1.Image.IndexDigest, m2.Image.IndexDigest)
	}
	files1, files2 := tree(t, dir1), tree(t, dir2)
	if k1, k2 := slices.Sorted(maps.Keys(files1)), slices.Sorted(maps.Keys(files2)); !slices.Equal(k1, k2) {
		t.Fatalf("the folders hold different files:\n%v\n%v", k1, k2)
	}
	for name, b := range files1 {
		if !bytes.Equal(b, files2[name]) {
			t.Errorf("%s differs between the two builds", name)
		}
	}
	var names []string
	for _, b := range m1.Binaries {
		names = append(names, b.Platform+"="+b.File)
	}
	if want := []string{"linux/amd64=websonic-" + testVersion + "-linux-amd64", "linux/arm64=websonic-" + testVersion + "-linux-arm64"}; !slices.Equal(names, want) {
		t.Errorf("binaries %v, want %v", names, want)
	}
	sums := string(files1[release.SumsFile])
	for _, b := range m1.Binaries {
		if !strings.Contains(sums, b.SHA256+"  "+b.File+"\n") {
			t.Errorf("SHA256SUMS lacks %s:\n%s", b.File, sums)
		}
	}
	runVersion(t, filepath.Join(dir1, "websonic-"+testVersion+"-linux-amd64"))
}

// runVersion runs the binary's `version` and checks what it says.
func runVersion(t *testing.T, bin string) {
	t.Helper()
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	want := regexp.MustCompile(`^websonic ` + regexp.QuoteMeta(testVersion) + ` linux/amd64 go1\.\S+\ncommit ` + testCommit + "\n$")
	if !want.Match(out) {
		t.Errorf("%s version printed %q", bin, out)
	}
}

func tree(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		rel, _ := filepath.Rel(dir, path)
		files[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestImage reads the image back from the layout as an OCI client would
// (go-containerregistry's layout package): an index tagged with the
// version holding one image per platform, each with the config THE
// CONTRACT of issue 13 names and a layer whose files have the owners and
// modes OpenShift needs; the amd64 layer's binary is the release's and
// runs.
func TestImage(t *testing.T) {
	dir, m := sharedRelease(t)
	top, err := layout.ImageIndexFromPath(filepath.Join(dir, release.LayoutDir))
	if err != nil {
		t.Fatal(err)
	}
	tm, err := top.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(tm.Manifests) != 1 || tm.Manifests[0].Annotations[release.RefNameAnnotation] != testVersion ||
		tm.Manifests[0].MediaType != types.OCIImageIndex || tm.Manifests[0].Digest.String() != m.Image.IndexDigest {
		t.Fatalf("layout index.json: %+v", tm.Manifests)
	}
	idx, err := top.ImageIndex(tm.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	var platforms []string
	for _, d := range im.Manifests {
		platforms = append(platforms, d.Platform.String())
		img, err := idx.Image(d.Digest)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(d.Platform.String(), func(t *testing.T) {
			bin := checkImage(t, img, d.Platform.Architecture)
			want, err := os.ReadFile(filepath.Join(dir, "websonic-"+testVersion+"-linux-"+d.Platform.Architecture))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bin, want) {
				t.Fatalf("the image's %s is not the release's binary", release.BinaryPath)
			}
			if d.Platform.Architecture == "amd64" {
				path := filepath.Join(t.TempDir(), "websonic")
				if err := os.WriteFile(path, bin, 0o755); err != nil {
					t.Fatal(err)
				}
				runVersion(t, path)
			}
		})
	}
	if !slices.Equal(platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("index platforms %v", platforms)
	}
}

// checkImage checks the config and layer of the image for arch and
// returns the binary it holds.
func checkImage(t *testing.T, img v1.Image, arch string) []byte {
	t.Helper()
	mt, err := img.MediaType()
	if err != nil || mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type %s, %v", mt, err)
	}
	mf, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if mf.Config.MediaType != types.OCIConfigJSON || len(mf.Layers) != 1 || mf.Layers[0].MediaType != types.OCILayer {
		t.Errorf("manifest: config %s, layers %+v", mf.Config.MediaType, mf.Layers)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	uidS, gidS, _ := strings.Cut(c.User, ":")
	if uid, err := strconv.Atoi(uidS); err != nil || uid == 0 || gidS != "0" {
		t.Errorf("User %q: want a numeric non-root uid, group 0", c.User)
	}
	if cf.OS != "linux" || cf.Architecture != arch || !cf.Created.Equal(time.Unix(testEpoch, 0)) ||
		len(cf.History) != 1 || !cf.History[0].Created.Equal(time.Unix(testEpoch, 0)) {
		t.Errorf("config: os %s arch %s created %v history %+v", cf.OS, cf.Architecture, cf.Created, cf.History)
	}
	if !slices.Equal(c.Entrypoint, []string{"/usr/local/bin/websonic", "serve"}) || c.WorkingDir != "/var/lib/websonic" ||
		len(c.ExposedPorts) != 1 || c.ExposedPorts["8080/tcp"] != struct{}{} {
		t.Errorf("config: entrypoint %q workdir %q ports %v", c.Entrypoint, c.WorkingDir, c.ExposedPorts)
	}
	for _, e := range []string{"WEBSONIC_DATA_DIR=/var/lib/websonic", "WEBSONIC_ADDR=:8080"} {
		if !slices.Contains(c.Env, e) {
			t.Errorf("Env %q lacks %s", c.Env, e)
		}
	}
	if c.Labels["org.opencontainers.image.version"] != testVersion || c.Labels["org.opencontainers.image.revision"] != testCommit ||
		c.Labels["org.opencontainers.image.source"] == "" {
		t.Errorf("labels %v", c.Labels)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	type file struct {
		mode     int64
		uid, gid int
		mtime    time.Time
	}
	got := map[string]file{}
	var binary, passwd []byte
	tr := tar.NewReader(rc)
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		got[h.Name] = file{h.Mode, h.Uid, h.Gid, h.ModTime}
		switch h.Name {
		case "usr/local/bin/websonic":
			binary, _ = io.ReadAll(tr)
		case "etc/passwd":
			passwd, _ = io.ReadAll(tr)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("tar entries not sorted: %v", names)
	}
	for name, f := range got {
		if !f.mtime.Equal(time.Unix(testEpoch, 0)) {
			t.Errorf("%s: mtime %v", name, f.mtime)
		}
	}
	for name, want := range map[string]file{
		"tmp/":                   {0o1777, 0, 0, time.Time{}},
		"var/lib/websonic/":      {0o775, 65532, 0, time.Time{}},
		"usr/local/bin/websonic": {0o755, 0, 0, time.Time{}},
	} {
		if g := got[name]; g.mode != want.mode || g.uid != want.uid || g.gid != want.gid {
			t.Errorf("%s: mode %o uid %d gid %d, want %o %d %d", name, g.mode, g.uid, g.gid, want.mode, want.uid, want.gid)
		}
	}
	if !strings.Contains(string(passwd), "websonic:x:"+uidS+":0:") {
		t.Errorf("/etc/passwd has no entry for the image's user %s:\n%s", c.User, passwd)
	}
	return binary
}

// TestOpen: a release folder reads back verified; one whose binary,
// manifest or layout was changed is refused, naming what is wrong.
func TestOpen(t *testing.T) {
	dir, m := sharedRelease(t)
	d, err := release.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Version != testVersion || len(d.Binaries) != 2 || int64(len(d.Binaries["linux/amd64"])) != m.Binaries[0].Size {
		t.Fatalf("Open: %+v", d.Manifest)
	}
	if dg, err := d.Index.Digest(); err != nil || dg.String() != m.Image.IndexDigest {
		t.Fatalf("index %v %v", dg, err)
	}
	amd64 := "websonic-" + testVersion + "-linux-amd64"
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
		want   string
	}{
		{"binary changed", func(t *testing.T, dir string) { appendTo(t, filepath.Join(dir, amd64), "x") }, "is not the binary release.json names"},
		{"binary missing", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, amd64)) }, "no such file"},
		{"unknown field", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, release.ManifestFile), `"version"`, `"extra": 1, "version"`)
		}, "unknown field"},
		{"bad version", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, release.ManifestFile), `"version": "`+testVersion, `"version": "v`+testVersion)
		}, "not a semantic version"},
		{"other index digest", func(t *testing.T, dir string) {
			replaceIn(t, filepath.Join(dir, release.ManifestFile), m.Image.IndexDigest, "sha256:"+strings.Repeat("0", 64))
		}, "tags " + testVersion + " with"},
		{"layout index.json gone", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, release.LayoutDir, "index.json")) }, "image layout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := copyTree(t, dir)
			tc.change(t, cp)
			_, err := release.Open(cp)
			if !errors.Is(err, release.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want ErrConfig saying %q", err, tc.want)
			}
		})
	}
}

func appendTo(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func replaceIn(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%s lacks %q (%v)", path, old, err)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, dir string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestConfigRefused: a configuration Build cannot use is refused before
// anything is built or written.
func TestConfigRefused(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	ok := release.Config{Version: "1.0.0", Platforms: []string{"linux/amd64"}}
	for _, tc := range []struct {
		name   string
		change func(c *release.Config)
		want   string
	}{
		{"no version", func(c *release.Config) { c.Version = "" }, "not a semantic version"},
		{"v prefix", func(c *release.Config) { c.Version = "v1.0.0" }, "not a semantic version"},
		{"two parts", func(c *release.Config) { c.Version = "1.0" }, "not a semantic version"},
		{"build metadata", func(c *release.Config) { c.Version = "1.0.0+abc" }, "not a semantic version"},
		{"leading zero", func(c *release.Config) { c.Version = "1.01.0" }, "not a semantic version"},
		{"flag in version", func(c *release.Config) { c.Version = "1.0.0 -X x=y" }, "not a semantic version"},
		{"bad commit", func(c *release.Config) { c.Commit = "HEAD" }, "not a lowercase hex commit"},
		{"commit with space", func(c *release.Config) { c.Commit = "abcdef0 -s" }, "not a lowercase hex commit"},
		{"other os", func(c *release.Config) { c.Platforms = []string{"darwin/arm64"} }, `platform "darwin/arm64"`},
		{"twice", func(c *release.Config) { c.Platforms = []string{"linux/amd64", "linux/amd64"} }, "given twice"},
		{"negative epoch", func(c *release.Config) { c.SourceDateEpoch = -1 }, "before 1970"},
		{"no out dir", func(c *release.Config) { c.OutDir = "" }, "no output folder"},
		{"out dir not empty", func(c *release.Config) { c.OutDir = full }, "is not empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.OutDir = filepath.Join(t.TempDir(), "dist")
			tc.change(&c)
			_, err := release.Build(context.Background(), c)
			if !errors.Is(err, release.ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v, want ErrConfig saying %q", err, tc.want)
			}
			if c.OutDir != full && c.OutDir != "" {
				if _, err := os.Stat(c.OutDir); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Build wrote %s", c.OutDir)
				}
				if ents, _ := os.ReadDir(filepath.Dir(c.OutDir)); len(ents) != 0 {
					t.Errorf("Build left %v", ents)
				}
			}
		})
	}
	if ents, _ := os.ReadDir(full); len(ents) != 1 {
		t.Errorf("the non-empty folder changed: %v", ents)
	}
}

// FuzzOpen: no release.json makes Open panic, and one it accepts names
// binaries that verify (here: none can, so none is accepted).
func FuzzOpen(f *testing.F) {
	f.Add([]byte(`{"version":"1.0.0","source_date_epoch":0,"binaries":[{"platform":"linux/amd64","file":"websonic-1.0.0-linux-amd64","sha256":"00","size":1}],"image":{"layout":"oci","index_digest":"sha256:00","tag":"1.0.0"}}`))
	f.Add([]byte(`{"version":"1.0.0","binaries":[{"platform":"linux/amd64","file":"../../etc/passwd","size":1}]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, release.ManifestFile), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := release.Open(dir); err == nil {
			t.Fatalf("Open accepted a folder with no binary: %s", raw)
		}
	})
}

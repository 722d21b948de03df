package deploy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// fakeKey is a TUF key and its signer.
type fakeKey struct {
	key    *metadata.Key
	signer signature.Signer
}

func newKey(t *testing.T, alg string) fakeKey {
	t.Helper()
	var pub crypto.PublicKey
	var s signature.Signer
	var err error
	switch alg {
	case "ed25519":
		p, priv, _ := ed25519.GenerateKey(rand.Reader)
		pub = p
		s, err = signature.LoadED25519Signer(priv)
	case "ecdsa":
		priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		pub = priv.Public()
		s, err = signature.LoadECDSASigner(priv, crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	k, err := metadata.KeyFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return fakeKey{k, s}
}

// fakeRelease is one runtime target of a fake repository.
type fakeRelease struct {
	version, arch, channel string
	binary                 []byte
	revoked                bool
}

// fakeRegistry serves what install.sh fetches (THE CONTRACT's paths),
// made here with go-tuf so the script's parsing and openssl checks are
// tested against real TUF metadata, with every way to break it at hand.
type fakeRegistry struct {
	root, targets, canonical []byte
	binaries                 map[string][]byte // "1.2.3/linux-amd64"
}

type repoSpec struct {
	rootKeys      []fakeKey // targets keys listed in root
	threshold     int
	signers       []fakeKey // who signs targets
	releases      []fakeRelease
	targetsExpiry time.Time
	version       int64
}

func makeRepo(t *testing.T, spec repoSpec) *fakeRegistry {
	t.Helper()
	rootKey := newKey(t, "ed25519")
	root := metadata.Root(time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second))
	for _, role := range []string{metadata.ROOT, metadata.SNAPSHOT, metadata.TIMESTAMP} {
		if err := root.Signed.AddKey(rootKey.key, role); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range spec.rootKeys {
		if err := root.Signed.AddKey(k.key, metadata.TARGETS); err != nil {
			t.Fatal(err)
		}
	}
	root.Signed.Roles[metadata.TARGETS].Threshold = spec.threshold
	if _, err := root.Sign(rootKey.signer); err != nil {
		t.Fatal(err)
	}
	if spec.targetsExpiry.IsZero() {
		spec.targetsExpiry = time.Now().Add(90 * 24 * time.Hour)
	}
	targets := metadata.Targets(spec.targetsExpiry.UTC().Truncate(time.Second))
	if spec.version > 0 {
		targets.Signed.Version = spec.version
	}
	reg := &fakeRegistry{binaries: map[string][]byte{}}
	for _, r := range spec.releases {
		bin := sha256.Sum256(r.binary)
		name := fmt.Sprintf("runtime/websonic/%s/linux-%s", r.version, r.arch)
		manifest := []byte(`{"schemaVersion":2,"fake":"` + name + `"}`)
		custom := map[string]any{"runtime": "websonic", "version": r.version, "os": "linux", "arch": r.arch,
			"channel": r.channel, "manifest_digest": fmt.Sprintf("sha256:%x", sha256.Sum256(manifest)),
			"binary_sha256": hex.EncodeToString(bin[:]), "binary_size": len(r.binary)}
		if r.revoked {
			custom["revoked"] = true
		}
		raw, _ := json.Marshal(custom)
		msg := json.RawMessage(raw)
		tf, err := metadata.TargetFile().FromBytes(name, manifest, "sha256")
		if err != nil {
			t.Fatal(err)
		}
		tf.Custom = &msg
		targets.Signed.Targets[name] = tf
		reg.binaries[r.version+"/linux-"+r.arch] = r.binary
	}
	for _, s := range spec.signers {
		if _, err := targets.Sign(s.signer); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if reg.root, err = root.ToBytes(true); err != nil {
		t.Fatal(err)
	}
	if reg.targets, err = targets.ToBytes(true); err != nil {
		t.Fatal(err)
	}
	if reg.canonical, err = cjson.EncodeCanonical(targets.Signed); err != nil {
		t.Fatal(err)
	}
	return reg
}

func (f *fakeRegistry) rootSHA() string {
	s := sha256.Sum256(f.root)
	return hex.EncodeToString(s[:])
}

func (f *fakeRegistry) serve(t *testing.T) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/tuf/root.json", func(w http.ResponseWriter, _ *http.Request) { w.Write(f.root) })
	mux.HandleFunc("GET /v1/tuf/targets.json", func(w http.ResponseWriter, _ *http.Request) { w.Write(f.targets) })
	mux.HandleFunc("GET /download/targets.canonical", func(w http.ResponseWriter, _ *http.Request) { w.Write(f.canonical) })
	mux.HandleFunc("GET /download/websonic/{version}/{platform}", func(w http.ResponseWriter, r *http.Request) {
		b, ok := f.binaries[r.PathValue("version")+"/"+r.PathValue("platform")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

// hostArch is the arch install.sh picks on this machine.
func hostArch(t *testing.T) string {
	t.Helper()
	switch runtime.GOARCH {
	case "amd64", "arm64":
		return runtime.GOARCH
	}
	t.Skipf("install.sh supports amd64 and arm64, not %s", runtime.GOARCH)
	return ""
}

// writeScript writes InstallScript to a temporary file.
func writeScript(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "install.sh")
	if err := os.WriteFile(path, InstallScript, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// runScript runs install.sh with sh, with no terminal (its own session),
// and returns its combined output and error.
func runScript(t *testing.T, script string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", append([]string{script}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "TMPDIR=" + t.TempDir(), "HOME=" + t.TempDir()}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// fileInfo is what tree records of one file.
type fileInfo struct {
	Mode     fs.FileMode
	UID, GID uint32
	SHA256   string // regular files
	Link     string // symlinks
}

// tree records every file under dir: mode, owner, content hash, link.
func tree(t *testing.T, dir string) map[string]fileInfo {
	t.Helper()
	out := map[string]fileInfo{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		fi := fileInfo{Mode: info.Mode(), UID: st.Uid, GID: st.Gid}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			fi.Link, _ = os.Readlink(path)
		case info.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			fi.SHA256 = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		rel, _ := filepath.Rel(dir, path)
		out[rel] = fi
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestInstallScriptUnitMatches: the unit install.sh writes is
// systemd/websonic.service, byte for byte.
func TestInstallScriptUnitMatches(t *testing.T) {
	s := string(InstallScript)
	start := strings.Index(s, "<<'UNIT'\n")
	end := strings.Index(s, "\nUNIT\n")
	if start < 0 || end < start {
		t.Fatal("no UNIT here-document in install.sh")
	}
	if got := s[start+len("<<'UNIT'\n") : end+1]; got != string(SystemdUnit) {
		t.Fatalf("install.sh's unit differs from systemd/websonic.service: copy the file into the here-document")
	}
}

// TestInstallScriptShellcheck: install.sh is POSIX sh that shellcheck
// finds nothing in.
func TestInstallScriptShellcheck(t *testing.T) {
	sc := needTool(t, "shellcheck", "shellcheck")
	out, err := exec.Command(sc, "-s", "sh", "install.sh").CombinedOutput()
	if err != nil {
		t.Fatalf("shellcheck: %v\n%s", err, out)
	}
}

func TestStampInstallScript(t *testing.T) {
	pin := strings.Repeat("ab", 32)
	got := StampInstallScript(InstallScript, pin)
	if !bytes.Contains(got, []byte("\nPINNED_ROOT_SHA256=\""+pin+"\"\n")) || bytes.Contains(got, []byte(pinnedLine)) {
		t.Fatal("not stamped")
	}
	if !bytes.Contains(InstallScript, []byte(pinnedLine)) {
		t.Fatal("InstallScript itself was changed")
	}
	for _, tc := range []struct {
		name, pin string
		script    []byte
	}{
		{"short", "abc", InstallScript},
		{"upper case", strings.Repeat("AB", 32), InstallScript},
		{"stamped twice", pin, got},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("no panic")
				}
			}()
			StampInstallScript(tc.script, tc.pin)
		})
	}
}

// TestInstallScriptVerifies runs install.sh --root against fake
// registries: the good ones install the right binary, each broken one is
// refused with nothing installed.
func TestInstallScriptVerifies(t *testing.T) {
	arch := hostArch(t)
	script := writeScript(t)
	ed1, ed2, ec := newKey(t, "ed25519"), newKey(t, "ed25519"), newKey(t, "ecdsa")
	other := newKey(t, "ed25519")
	bin := func(v string) []byte { return []byte("#!/bin/sh\necho websonic " + v + "\n") }
	releases := []fakeRelease{
		{"1.2.0", arch, "stable", bin("1.2.0"), false},
		{"1.10.0", arch, "stable", bin("1.10.0"), false},
		{"1.11.0-beta.2", arch, "beta", bin("1.11.0-beta.2"), false},
		{"1.11.0-beta.10", arch, "beta", bin("1.11.0-beta.10"), false},
		{"1.12.0", arch, "stable", bin("1.12.0"), true}, // revoked
		{"9.0.0", otherArch(arch), "stable", bin("9.0.0"), false},
	}
	good := repoSpec{rootKeys: []fakeKey{ed1}, threshold: 1, signers: []fakeKey{ed1}, releases: releases}
	type tc struct {
		name    string
		spec    repoSpec
		mutate  func(f *fakeRegistry)
		args    []string
		pin     string // "" → the repo's root sha
		pinNew  bool   // pin the root as mutated
		want    string // installed version, or "" when refused
		wantErr string
	}
	cases := []tc{
		{name: "newest stable", spec: good, want: "1.10.0"},
		{name: "newest beta", spec: good, args: []string{"--channel", "beta"}, want: "1.11.0-beta.10"},
		{name: "chosen version", spec: good, args: []string{"--version", "1.2.0"}, want: "1.2.0"},
		{name: "ecdsa key", spec: repoSpec{rootKeys: []fakeKey{ec}, threshold: 1, signers: []fakeKey{ec}, releases: releases}, want: "1.10.0"},
		{name: "threshold 2 of 3", spec: repoSpec{rootKeys: []fakeKey{ed1, ed2, ec}, threshold: 2, signers: []fakeKey{ed2, ec}, releases: releases}, want: "1.10.0"},
		{name: "revoked version", spec: good, args: []string{"--version", "1.12.0"}, wantErr: "revoked"},
		{name: "absent version", spec: good, args: []string{"--version", "1.3.0"}, wantErr: "no runtime 1.3.0"},
		{name: "other arch only", spec: good, args: []string{"--version", "9.0.0"}, wantErr: "no runtime 9.0.0"},
		{name: "wrong pinned root", spec: good, pin: strings.Repeat("0", 64), wantErr: "not the pinned"},
		{name: "signed by another key", spec: repoSpec{rootKeys: []fakeKey{ed1}, threshold: 1, signers: []fakeKey{other}, releases: releases}, wantErr: "0 valid signature"},
		{name: "below threshold", spec: repoSpec{rootKeys: []fakeKey{ed1, ed2}, threshold: 2, signers: []fakeKey{ed1}, releases: releases}, wantErr: "1 valid signature"},
		{name: "one key signing twice", spec: repoSpec{rootKeys: []fakeKey{ed1, ed2}, threshold: 2, signers: []fakeKey{ed1, ed1}, releases: releases}, wantErr: "1 valid signature"},
		{name: "expired targets", spec: repoSpec{rootKeys: []fakeKey{ed1}, threshold: 1, signers: []fakeKey{ed1}, releases: releases, targetsExpiry: time.Now().Add(-time.Hour)}, wantErr: "expired"},
		{name: "tampered binary", spec: good, mutate: func(f *fakeRegistry) { f.binaries["1.10.0/linux-"+arch] = bin("1.10.1") }, wantErr: "sha256"},
		{name: "longer binary", spec: good, mutate: func(f *fakeRegistry) {
			f.binaries["1.10.0/linux-"+arch] = append(bin("1.10.0"), "rm -rf /\n"...)
		}, wantErr: "cannot download"},
		{name: "canonical not what was signed", spec: good, mutate: func(f *fakeRegistry) {
			f.canonical = bytes.Replace(f.canonical, []byte(`"revoked":true`), []byte(`"revoked":false`), 1)
		}, wantErr: "0 valid signature"},
		{name: "signature of other bytes", spec: good, mutate: func(f *fakeRegistry) {
			other := makeRepo(t, repoSpec{rootKeys: []fakeKey{ed1}, threshold: 1, signers: []fakeKey{ed1}, releases: releases[:1]})
			f.targets = other.targets
		}, wantErr: "0 valid signature"},
		{name: "root not JSON", spec: good, pinNew: true, mutate: func(f *fakeRegistry) { f.root = []byte(`{"signed":`) }, wantErr: "not valid JSON"},
		{name: "root without targets role", spec: good, pinNew: true, mutate: func(f *fakeRegistry) {
			f.root = bytes.Replace(f.root, []byte(`"targets"`), []byte(`"targetz"`), 1)
		}, wantErr: "no targets role"},
		{name: "bad registry URL", spec: good, args: []string{"--registry", "http://example.com"}, wantErr: "https://"},
		{name: "bad channel", spec: good, args: []string{"--channel", "nightly"}, wantErr: "stable or beta"},
		{name: "bad version", spec: good, args: []string{"--version", "1.2"}, wantErr: "not a version"},
		{name: "env injection", spec: good, args: []string{"--addr", ":80\nWEBSONIC_X=1"}, wantErr: "spaces"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := makeRepo(t, c.spec)
			pin := f.rootSHA() // pinned before any mutation
			if c.mutate != nil {
				c.mutate(f)
			}
			if c.pin != "" {
				pin = c.pin
			}
			if c.pinNew {
				pin = f.rootSHA()
			}
			url := f.serve(t)
			root := t.TempDir()
			args := append([]string{"--registry", url, "--root", root, "--root-sha256", pin}, c.args...)
			out, err := runScript(t, script, nil, args...)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(out, c.wantErr) {
					t.Fatalf("err %v, want refusal with %q; output:\n%s", err, c.wantErr, out)
				}
				if left := tree(t, root); len(left) != 1 {
					t.Fatalf("refused, but left files: %v", slices.Sorted(maps.Keys(left)))
				}
				return
			}
			if err != nil {
				t.Fatalf("install.sh: %v\n%s", err, out)
			}
			got, err := exec.Command(filepath.Join(root, "var/lib/websonic/bin/websonic")).Output()
			if err != nil || string(got) != "websonic "+c.want+"\n" {
				t.Fatalf("installed binary says %q, %v; want %s\n%s", got, err, c.want, out)
			}
		})
	}
}

// otherArch is the supported arch that is not arch.
func otherArch(arch string) string {
	if arch == "amd64" {
		return "arm64"
	}
	return "amd64"
}

// TestInstallScriptFiles installs into a scratch root and checks every
// file it makes, then that a second run changes nothing, that the owner's
// edits of websonic.env survive, that older metadata is refused, and what
// --uninstall and --uninstall --purge remove.
func TestInstallScriptFiles(t *testing.T) {
	arch := hostArch(t)
	script := writeScript(t)
	k := newKey(t, "ed25519")
	bin := []byte("#!/bin/sh\necho websonic 1.0.0\n")
	f := makeRepo(t, repoSpec{rootKeys: []fakeKey{k}, threshold: 1, signers: []fakeKey{k}, version: 5,
		releases: []fakeRelease{{"1.0.0", arch, "stable", bin, false}}})
	url := f.serve(t)
	root := t.TempDir()
	// A scratch /etc with a user already there.
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0:root:/root:/bin/sh\nsvc:x:999:999::/:/usr/sbin/nologin\n"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\nsvc:x:999:\n"), 0o644)
	args := []string{"--registry", url, "--root", root, "--root-sha256", f.rootSHA(), "--database-url", "postgres://u@db.example/site", "--addr", ":8443"}
	out, err := runScript(t, script, nil, args...)
	if err != nil {
		t.Fatalf("install.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"installed websonic 1.0.0", "added the user websonic (998)", "installed " + root + "/etc/systemd/system/websonic.service"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	if got := read("etc/passwd"); !strings.HasSuffix(got, "websonic:x:998:998:Web Sonic runtime:/var/lib/websonic:/usr/sbin/nologin\n") {
		t.Errorf("passwd:\n%s", got)
	}
	if got := read("etc/group"); !strings.HasSuffix(got, "svc:x:999:\nwebsonic:x:998:\n") {
		t.Errorf("group:\n%s", got)
	}
	if got := read("etc/systemd/system/websonic.service"); got != string(SystemdUnit) {
		t.Error("the installed unit is not systemd/websonic.service")
	}
	if got := read("etc/websonic/root.json"); got != string(f.root) {
		t.Error("root.json is not the pinned root")
	}
	env := read("etc/websonic/websonic.env")
	for _, line := range []string{"WEBSONIC_REGISTRY=" + url, "WEBSONIC_TRUSTED_ROOT=/etc/websonic/root.json",
		"WEBSONIC_DATA_DIR=/var/lib/websonic/data", "WEBSONIC_ADDR=:8443", "WEBSONIC_DATABASE_URL=postgres://u@db.example/site"} {
		if !slices.Contains(strings.Split(env, "\n"), line) {
			t.Errorf("websonic.env lacks %q:\n%s", line, env)
		}
	}
	files := tree(t, root)
	asRoot := os.Geteuid() == 0
	for _, w := range []struct {
		path string
		mode fs.FileMode
		uid  uint32 // checked when the test runs as root
		gid  uint32
	}{
		{"var/lib/websonic", fs.ModeDir | 0o750, 998, 998},
		{"var/lib/websonic/bin", fs.ModeDir | 0o755, 998, 998},
		{"var/lib/websonic/bin/websonic", 0o755, 998, 998},
		{"var/lib/websonic/data", fs.ModeDir | 0o700, 998, 998},
		{"etc/websonic", fs.ModeDir | 0o750, 0, 998},
		{"etc/websonic/websonic.env", 0o640, 0, 998},
		{"etc/websonic/root.json", 0o644, 0, 998},
		{"etc/systemd/system/websonic.service", 0o644, 0, 0},
	} {
		got, ok := files[w.path]
		if !ok {
			t.Errorf("%s missing", w.path)
			continue
		}
		if got.Mode != w.mode || (asRoot && (got.UID != w.uid || got.GID != w.gid)) {
			t.Errorf("%s: mode %v owner %d:%d, want %v %d:%d", w.path, got.Mode, got.UID, got.GID, w.mode, w.uid, w.gid)
		}
	}
	if l := files["usr/local/bin/websonic"].Link; l != "/var/lib/websonic/bin/websonic" {
		t.Errorf("usr/local/bin/websonic links to %q", l)
	}
	if got := files["var/lib/websonic/bin/websonic"].SHA256; got != fmt.Sprintf("%x", sha256.Sum256(bin)) {
		t.Errorf("binary sha256 %s", got)
	}

	// Again: the same files, byte for byte and mode for mode.
	out, err = runScript(t, script, nil, args...)
	if err != nil {
		t.Fatalf("second run: %v\n%s", err, out)
	}
	if again := tree(t, root); !maps.Equal(files, again) {
		t.Fatalf("the second run changed files:\nbefore %v\nafter  %v", files, again)
	}
	if !strings.Contains(out, "already installed") {
		t.Errorf("second run summary:\n%s", out)
	}

	// The owner's edits stay; settings given again are set.
	envPath := filepath.Join(root, "etc/websonic/websonic.env")
	os.WriteFile(envPath, []byte(env+"WEBSONIC_LOG_LEVEL=debug\n"), 0o640)
	if out, err := runScript(t, script, nil, append(args, "--addr", ":9443")...); err != nil {
		t.Fatalf("third run: %v\n%s", err, out)
	}
	env2 := read("etc/websonic/websonic.env")
	if !strings.Contains(env2, "\nWEBSONIC_LOG_LEVEL=debug\n") || !strings.Contains(env2, "\nWEBSONIC_ADDR=:9443\n") || strings.Contains(env2, ":8443") {
		t.Errorf("websonic.env after an edit and --addr :9443:\n%s", env2)
	}

	// Older targets metadata than a run saw before: refused.
	older := makeRepo(t, repoSpec{rootKeys: []fakeKey{k}, threshold: 1, signers: []fakeKey{k}, version: 4,
		releases: []fakeRelease{{"1.0.0", arch, "stable", bin, false}}})
	f.targets, f.canonical = older.targets, older.canonical
	before := tree(t, root)
	out, err = runScript(t, script, nil, args...)
	if err == nil || !strings.Contains(out, "rollback") {
		t.Fatalf("older targets: %v\n%s", err, out)
	}
	if after := tree(t, root); !maps.Equal(before, after) {
		t.Fatal("a refused run changed files")
	}

	// --uninstall keeps the data and the settings; --purge removes them.
	os.WriteFile(filepath.Join(root, "var/lib/websonic/data/site"), []byte("data"), 0o600)
	if out, err := runScript(t, script, nil, "--uninstall", "--root", root); err != nil {
		t.Fatalf("--uninstall: %v\n%s", err, out)
	}
	left := tree(t, root)
	for _, p := range []string{"var/lib/websonic/bin", "usr/local/bin/websonic", "etc/systemd/system/websonic.service"} {
		if _, ok := left[p]; ok {
			t.Errorf("--uninstall left %s", p)
		}
	}
	for _, p := range []string{"var/lib/websonic/data/site", "etc/websonic/websonic.env", "etc/websonic/root.json"} {
		if _, ok := left[p]; !ok {
			t.Errorf("--uninstall removed %s", p)
		}
	}
	if out, err := runScript(t, script, nil, "--uninstall", "--purge", "--root", root); err == nil || !strings.Contains(out, "--yes") {
		t.Fatalf("--purge without --yes and no terminal: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "var/lib/websonic/data/site")); err != nil {
		t.Fatal("--purge without confirmation removed data")
	}
	if out, err := runScript(t, script, nil, "--uninstall", "--purge", "--yes", "--root", root); err != nil {
		t.Fatalf("--purge: %v\n%s", err, out)
	}
	for _, p := range []string{"var/lib/websonic", "etc/websonic"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			t.Errorf("--purge left %s", p)
		}
	}
	if got := read("etc/passwd"); strings.Contains(got, "websonic") || !strings.Contains(got, "svc:x:999") {
		t.Errorf("passwd after --purge:\n%s", got)
	}
}

// TestDownloadPageCommand: every flag of the install command on the
// registry's download page (registry/server/download.html) is one that
// install.sh's usage lists, and the page passes the pin explicitly.
func TestDownloadPageCommand(t *testing.T) {
	page, err := os.ReadFile("../registry/server/download.html")
	if err != nil {
		t.Fatal(err)
	}
	var cmd string
	for line := range strings.Lines(string(page)) {
		if strings.Contains(line, "sh install.sh ") && strings.Contains(line, "--registry ") {
			cmd = line
		}
	}
	if cmd == "" {
		t.Fatal("no `sh install.sh` command on the download page")
	}
	s := string(InstallScript)
	usage := s[strings.Index(s, "usage: install.sh"):strings.Index(s, "\nEOF\n")]
	var flags []string
	for _, w := range strings.Fields(cmd) {
		if strings.HasPrefix(w, "--") {
			flags = append(flags, w)
			if !strings.Contains(usage, "  "+w+" ") {
				t.Errorf("the download page passes %s, which install.sh's usage does not list", w)
			}
		}
	}
	for _, want := range []string{"--registry", "--root-sha256", "--admin-user"} {
		if !slices.Contains(flags, want) {
			t.Errorf("the download page's command lacks %s: %s", want, cmd)
		}
	}
}

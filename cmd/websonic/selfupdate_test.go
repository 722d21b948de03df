package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/publish"
	"github.com/websonic/websonic/internal/tlsserve/tlstest"
	"github.com/websonic/websonic/internal/tufrepo"
)

// runtimeRegistry is a real `registry serve` (on its own pgtest
// database) with a signed root, and the publisher of runtime releases on
// it.
type runtimeRegistry struct {
	url, data, root string // root: the pinned root.json's path
	ca              string // the file of the CA its certificate is from
	pub             *publish.Publisher
	cli             []string // environment of the publisher's CLI commands
}

// startRuntimeRegistry starts a registry, makes keys and signs its first
// root, as TestReleasePublish does.
func startRuntimeRegistry(t testing.TB, ctx context.Context, bin string) *runtimeRegistry {
	t.Helper()
	db := pgtest.NewDB(t)
	r := &runtimeRegistry{data: dataDir(t)}
	ca, tlsDir := tlstest.NewCA(t, "private CA"), t.TempDir()
	r.ca = ca.WritePEM(t, tlsDir)
	certFile, keyFile := ca.Issue(t, "127.0.0.1").WriteFiles(t, tlsDir)
	env := []string{"WEBSONIC_REGISTRY_CA=" + r.ca, "WEBSONIC_DATABASE_URL=", "WEBSONIC_REGISTRY_DATABASE_URL=" + db.URL, "WEBSONIC_ONLINE_KEY_PASSWORD=online-secret",
		"WEBSONIC_KEY_PASSWORD=offline-secret", "WEBSONIC_CACHE_DIR=" + t.TempDir()}
	addr := launchTB(t, ctx, bin, env, regexp.MustCompile(`registry listening: addr=(\S+)`),
		"registry", "serve", "--data-dir", r.data, "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	r.url = "https://" + addr
	keys := t.TempDir()
	token := strings.TrimSpace(runCLI(t, ctx, bin, env, "registry", "token", "--data-dir", r.data, "--publisher", "websonic", "--modules", "*", "--admin", "--log-level", "error"))
	for _, n := range []string{"root", "targets"} {
		runCLI(t, ctx, bin, env, "keys", "generate", "--out", keys, "--name", n)
	}
	r.cli = append(env, "WEBSONIC_REGISTRY="+r.url, "WEBSONIC_REGISTRY_TOKEN="+token, "WEBSONIC_KEY_DIR="+keys)
	runCLI(t, ctx, bin, r.cli, "keys", "init")
	r.root = filepath.Join(keys, rootFile)
	root, err := os.ReadFile(r.root)
	if err != nil {
		t.Fatal(err)
	}
	k, err := loadOfflineKeys(keys, "offline-secret", "test")
	if err != nil {
		t.Fatal(err)
	}
	r.pub = &publish.Publisher{Registry: r.url, Token: token, Keys: k, Root: root, CacheDir: t.TempDir(),
		HTTPClient: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}}
	return r
}

// publish signs binary as runtime release version for this platform on
// the stable channel.
func (r *runtimeRegistry) publish(t testing.TB, ctx context.Context, version string, binary []byte) *tufrepo.Release {
	t.Helper()
	rels, err := r.pub.PublishRuntime(ctx, version, tufrepo.ChannelStable, map[string][]byte{runtime.GOOS + "/" + runtime.GOARCH: binary})
	if err != nil {
		t.Fatalf("publish runtime %s: %v", version, err)
	}
	return rels[0]
}

// blob is the file holding the registry's blob of digest d.
func (r *runtimeRegistry) blob(t testing.TB, d string) string {
	t.Helper()
	hex := strings.TrimPrefix(d, "sha256:")
	m, err := filepath.Glob(filepath.Join(r.data, "*", "blobs", "sha256", hex[:2], hex))
	if err == nil && len(m) == 0 {
		m, err = filepath.Glob(filepath.Join(r.data, "*", "*", "blobs", "sha256", hex[:2], hex))
	}
	if err != nil || len(m) != 1 {
		t.Fatalf("the registry's blob %s: %v %v", d, m, err)
	}
	return m[0]
}

// launchTB runs bin with args until the test ends, and returns the
// first group of the first log line that ready matches (its address).
func launchTB(t testing.TB, ctx context.Context, bin string, env []string, ready *regexp.Regexp, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	log := &syncBuffer{}
	cmd.Stderr, cmd.Stdout = log, io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	for {
		if m := ready.FindStringSubmatch(log.String()); m != nil {
			return m[1]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s never got ready:\n%s", args[0], log.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// brokenRuntime builds, into dir, a release that cannot start: it
// answers `version` as websonic version does (so it passes the
// self-updater's checks before the restart) and dies at once on `serve`
// with a panic message. That is the commonest broken release: a binary
// that crashes while starting (a nil map, a bad embedded file, a missing
// migration); a real websonic cannot be made to do so without a flag the
// new process would not be given.
func brokenRuntime(t testing.TB, dir, version string) string {
	t.Helper()
	src := t.TempDir()
	for name, body := range map[string]string{
		"go.mod": "module broken\n\ngo 1.26\n",
		"main.go": `package main

import (
	"fmt"
	"os"
	"runtime"
)

var version = "0.0.0-dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Printf("websonic %s %s/%s %s\n", version, runtime.GOOS, runtime.GOARCH, runtime.Version())
		return
	}
	fmt.Fprintln(os.Stderr, "panic: a broken release: it dies while starting")
	os.Exit(2)
}
`,
	} {
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(dir, "broken-"+version)
	cmd := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version="+version, ".")
	cmd.Dir, cmd.Env = src, append(os.Environ(), "GOWORK=off", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runtimeEvent is a row of update_events of kind 'runtime'.
type runtimeEvent struct{ from, to, outcome, reason string }

// runtimeEvents are the site's runtime update events, oldest first.
func (s *site) runtimeEvents(t testing.TB, ctx context.Context) []runtimeEvent {
	t.Helper()
	conn, err := pgx.Connect(ctx, s.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, `SELECT coalesce(from_version, ''), coalesce(to_version, ''), outcome, reason
		FROM websonic.update_events WHERE kind = 'runtime' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (runtimeEvent, error) {
		var e runtimeEvent
		return e, r.Scan(&e.from, &e.to, &e.outcome, &e.reason)
	})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// refused are the versions the site's runtime never installs again by
// itself.
func (s *site) refused(t testing.TB, ctx context.Context) []string {
	t.Helper()
	conn, err := pgx.Connect(ctx, s.db.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v []string
	if err := conn.QueryRow(ctx, `SELECT refused_versions FROM websonic.runtime_update`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// waitEvent waits until the site recorded a runtime event with outcome
// to version to (after the first n events) and returns it.
func (s *site) waitEvent(t testing.TB, ctx context.Context, n int, outcome, to string) runtimeEvent {
	t.Helper()
	for {
		evs := s.runtimeEvents(t, ctx)
		for _, e := range evs[min(n, len(evs)):] {
			switch {
			case e.outcome == outcome && e.to == to:
				return e
			case e.to == to && e.outcome != "alert": // another outcome: fail now rather than at the deadline
				t.Fatalf("runtime event %+v, want %s →%s", e, outcome, to)
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no runtime event %s →%s; events: %+v", outcome, to, evs)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitLog waits until the site's log has a line matching re, while the
// site records no runtime event after its first n.
func (s *site) waitLog(t testing.TB, ctx context.Context, re *regexp.Regexp, n int) {
	t.Helper()
	for !re.MatchString(s.log.String()) {
		if evs := s.runtimeEvents(t, ctx); len(evs) != n {
			t.Fatalf("while waiting for %q the runtime recorded %+v", re, evs[min(n, len(evs)):])
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the runtime never logged %q", re)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// siteCLI runs a websonic command on the site s and returns its result.
func (s *site) cli(t *testing.T, ctx context.Context, bin string, args ...string) result {
	t.Helper()
	return cliRun(t, ctx, bin, "", []string{"WEBSONIC_DATABASE_URL=" + s.db.URL, "WEBSONIC_ROLE_PREFIX=" + s.db.Prefix(), "WEBSONIC_DATA_DIR=" + s.data}, "", args...)
}

// selfUpdateSite builds websonic 1.0.0 and 1.1.0, starts a registry and
// 1.0.0 serving under systemd's eye with --self-update policy, from a
// copy of the binary it may replace.
func selfUpdateSite(t *testing.T, ctx context.Context, policy string) (s *site, sd *systemd, reg *runtimeRegistry, exe string, v100, v110 []byte) {
	t.Helper()
	dir := t.TempDir()
	exe = buildVersion(t, dir, "1.0.0")
	next := buildVersion(t, t.TempDir(), "1.1.0")
	v100, v110 = readFile(t, exe), readFile(t, next)
	reg = startRuntimeRegistry(t, ctx, next)
	sd = newSystemd(t)
	s = startRestartable(t, ctx, exe, sd, nil, "--registry", reg.url, "--trusted-root", reg.root,
		"--registry-ca", reg.ca, "--self-update", policy)
	return s, sd, reg, exe, v100, v110
}

// TestSelfUpdateAuto is the runtime following its own releases on auto,
// under load on new and kept-alive connections, against a real registry:
//   - 1.1.0 published: the runtime downloads, verifies and replaces
//     itself; no request fails, 1.1.0 serves from the same path, 1.0.0
//     is kept as websonic.previous, 'updated' 1.0.0→1.1.0 is recorded;
//   - 1.2.0, signed but dying at start: the old binary is put back and
//     serves on (no request fails), 'rolled_back' with the reason, and
//     the next check does not try it again;
//   - 0.9.0 published after (a replayed older release): never installed,
//     and asked for by the owner it is refused and recorded;
//   - 1.3.0 whose binary the registry changed after signing: failed,
//     nothing replaced, but not refused for good (a transfer says nothing
//     against the signed release): once the registry serves the signed
//     bytes again the next check tries it (it dies at start: rolled back);
//   - 1.4.0 revoked by its publisher: never installed, refused when asked.
func TestSelfUpdateAuto(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, sd, reg, exe, v100, v110 := selfUpdateSite(t, ctx, "auto")
	if v := s.version(t); v != "1.0.0" {
		t.Fatalf("serving %s", v)
	}
	l := startLoad(s.url + "/healthz")
	flowing := func() {
		for n := l.ok.Load(); l.ok.Load() < n+50; {
			time.Sleep(5 * time.Millisecond)
		}
	}
	flowing()

	// 1.1.0: replaced under load.
	reg.publish(t, ctx, "1.1.0", v110)
	s.restarted(t, ctx, sd)
	flowing()
	if v := s.version(t); v != "1.1.0" {
		t.Fatalf("serving %s after the self-update to 1.1.0", v)
	}
	if !bytes.Equal(readFile(t, exe), v110) || !bytes.Equal(readFile(t, exe+".previous"), v100) {
		t.Fatal("after the self-update the executable is not 1.1.0's binary or websonic.previous not 1.0.0's")
	}
	e := s.waitEvent(t, ctx, 0, "updated", "1.1.0")
	if e.from != "1.0.0" {
		t.Fatalf("updated event %+v", e)
	}

	// 1.2.0 dies at start: rolled back, serving on.
	pid := s.pid.Load()
	broken := brokenRuntime(t, t.TempDir(), "1.2.0")
	reg.publish(t, ctx, "1.2.0", readFile(t, broken))
	e = s.waitEvent(t, ctx, 0, "rolled_back", "1.2.0")
	if e.from != "1.1.0" || !strings.Contains(e.reason, "did not become ready") {
		t.Fatalf("rolled_back event %+v", e)
	}
	flowing()
	l.stop(t)
	if v := s.version(t); v != "1.1.0" || s.pid.Load() != pid || !alive(int(pid)) {
		t.Fatalf("after the rollback: serving %s, pid %d (was %d)", v, s.pid.Load(), pid)
	}
	if !bytes.Equal(readFile(t, exe), v110) {
		t.Fatal("after the rollback the executable is not 1.1.0's binary")
	}
	if !slices.Contains(s.refused(t, ctx), "1.2.0") {
		t.Fatalf("1.2.0 not refused: %v", s.refused(t, ctx))
	}

	// 0.9.0 published later: the next check (its watch notice) leaves it,
	// and 1.2.0, alone.
	n := len(s.runtimeEvents(t, ctx))
	reg.publish(t, ctx, "0.9.0", readFile(t, brokenRuntime(t, t.TempDir(), "0.9.0")))
	s.waitLog(t, ctx, regexp.MustCompile(`a newer runtime release is not installed: .*release=1\.2\.0 why="it failed before`), n)
	if evs := s.runtimeEvents(t, ctx); len(evs) != n {
		t.Fatalf("the check after the rollback recorded %+v", evs[n:])
	}
	r := s.cli(t, ctx, exe, "runtime", "update", "0.9.0")
	if r.code != 1 || !strings.Contains(r.stderr, "not newer") {
		t.Fatalf("runtime update 0.9.0: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if e := s.waitEvent(t, ctx, n, "alert", "0.9.0"); !strings.Contains(e.reason, "0.9.0 is not newer than 1.1.0") {
		t.Fatalf("alert %+v", e)
	}

	// 1.3.0, its binary changed in the registry after signing: failed, not refused.
	if r := s.cli(t, ctx, exe, "runtime", "policy", "--policy", "pinned"); r.code != 0 {
		t.Fatalf("runtime policy pinned: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	n = len(s.runtimeEvents(t, ctx))
	rel := reg.publish(t, ctx, "1.3.0", readFile(t, brokenRuntime(t, t.TempDir(), "1.3.0")))
	s.waitLog(t, ctx, regexp.MustCompile(`a newer runtime release is not installed: .*release=1\.3\.0 why="the runtime policy is pinned"`), n)
	blob := reg.blob(t, "sha256:"+rel.BinarySHA256)
	signed := readFile(t, blob)
	tampered := bytes.Clone(signed)
	tampered[len(tampered)/2] ^= 0xff
	if err := os.WriteFile(blob, tampered, 0o644); err != nil {
		t.Fatal(err)
	}
	n = len(s.runtimeEvents(t, ctx))
	if r := s.cli(t, ctx, exe, "runtime", "policy", "--policy", "auto"); r.code != 0 {
		t.Fatalf("runtime policy auto: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	e = s.waitEvent(t, ctx, n, "failed", "1.3.0")
	if !strings.Contains(e.reason, "digest") || slices.Contains(s.refused(t, ctx), "1.3.0") {
		t.Fatalf("failed event %+v, refused %v: bytes changed on their way must not refuse the signed release", e, s.refused(t, ctx))
	}
	if !bytes.Equal(readFile(t, exe), v110) || s.version(t) != "1.1.0" || s.pid.Load() != pid {
		t.Fatal("a tampered release replaced the runtime")
	}
	// The registry serves the signed bytes again: the next check tries
	// 1.3.0 again (it dies at start: rolled back, and only now refused).
	if err := os.WriteFile(blob, signed, 0o644); err != nil {
		t.Fatal(err)
	}
	n = len(s.runtimeEvents(t, ctx))
	if r := s.cli(t, ctx, exe, "runtime", "policy", "--policy", "auto"); r.code != 0 {
		t.Fatalf("runtime policy auto: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.waitEvent(t, ctx, n, "rolled_back", "1.3.0")
	if !slices.Contains(s.refused(t, ctx), "1.3.0") {
		t.Fatalf("1.3.0 not refused after its rollback: %v", s.refused(t, ctx))
	}

	// 1.4.0, revoked: never installed, refused when asked for.
	if r := s.cli(t, ctx, exe, "runtime", "policy", "--policy", "pinned"); r.code != 0 {
		t.Fatalf("runtime policy pinned: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	reg.publish(t, ctx, "1.4.0", readFile(t, brokenRuntime(t, t.TempDir(), "1.4.0")))
	if err := reg.pub.RevokeRuntime(ctx, "1.4.0"); err != nil {
		t.Fatal(err)
	}
	n = len(s.runtimeEvents(t, ctx))
	if r := s.cli(t, ctx, exe, "runtime", "policy", "--policy", "auto"); r.code != 0 {
		t.Fatalf("runtime policy auto: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = s.cli(t, ctx, exe, "runtime", "update", "1.4.0")
	if r.code != 1 || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("runtime update 1.4.0 (revoked): exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, e := range s.runtimeEvents(t, ctx)[n:] {
		if e.to == "1.4.0" && e.outcome != "failed" && e.outcome != "alert" {
			t.Fatalf("revoked 1.4.0: %+v", e)
		}
	}
	if !bytes.Equal(readFile(t, exe), v110) || s.version(t) != "1.1.0" || s.pid.Load() != pid {
		t.Fatal("a revoked release replaced the runtime")
	}
}

// TestSelfUpdateNotifyAndPinned: on notify a newer release is recorded as
// available and nothing is replaced, `websonic runtime status` shows it
// and `websonic runtime update` installs it; on pinned nothing happens.
func TestSelfUpdateNotifyAndPinned(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	s, sd, reg, exe, v100, v110 := selfUpdateSite(t, ctx, "notify")
	pid := s.pid.Load()
	reg.publish(t, ctx, "1.1.0", v110)
	if e := s.waitEvent(t, ctx, 0, "available", "1.1.0"); e.from != "1.0.0" {
		t.Fatalf("available event %+v", e)
	}
	if !bytes.Equal(readFile(t, exe), v100) || s.version(t) != "1.0.0" || s.pid.Load() != pid {
		t.Fatal("notify replaced the runtime")
	}
	r := s.cli(t, ctx, exe, "runtime", "status")
	if r.code != 0 || !regexp.MustCompile(`available:\s+1\.1\.0`).MatchString(r.stdout) || !regexp.MustCompile(`available\s+1\.0\.0→1\.1\.0`).MatchString(r.stdout) {
		t.Fatalf("runtime status: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	n := len(s.runtimeEvents(t, ctx))
	r = s.cli(t, ctx, exe, "runtime", "update")
	if r.code != 0 || !strings.Contains(r.stdout, "1.0.0 → 1.1.0") {
		t.Fatalf("runtime update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	s.restarted(t, ctx, sd)
	if v := s.version(t); v != "1.1.0" || !bytes.Equal(readFile(t, exe), v110) || !bytes.Equal(readFile(t, exe+".previous"), v100) {
		t.Fatalf("after runtime update: serving %s", v)
	}
	if e := s.waitEvent(t, ctx, n, "updated", "1.1.0"); e.from != "1.0.0" {
		t.Fatalf("updated event %+v", e)
	}
	r = s.cli(t, ctx, exe, "runtime", "status")
	if r.code != 0 || !regexp.MustCompile(`updated to:\s+1\.1\.0`).MatchString(r.stdout) || strings.Contains(r.stdout, "available:") {
		t.Fatalf("runtime status after the update: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// Pinned: a newer release changes nothing and records nothing.
	if r := s.cli(t, ctx, exe, "runtime", "policy", "--policy", "pinned"); r.code != 0 || !strings.Contains(r.stdout, "policy pinned") {
		t.Fatalf("runtime policy pinned: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	n = len(s.runtimeEvents(t, ctx))
	pid = s.pid.Load()
	reg.publish(t, ctx, "1.2.0", readFile(t, brokenRuntime(t, t.TempDir(), "1.2.0")))
	s.waitLog(t, ctx, regexp.MustCompile(`a newer runtime release is not installed: .*release=1\.2\.0 why="the runtime policy is pinned"`), n)
	if evs := s.runtimeEvents(t, ctx); len(evs) != n {
		t.Fatalf("pinned recorded %+v", evs[n:])
	}
	if !bytes.Equal(readFile(t, exe), v110) || s.version(t) != "1.1.0" || s.pid.Load() != pid {
		t.Fatal("pinned replaced the runtime")
	}
}

package server

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// logLines is a site log a test can read and wait on, line by line; every
// line also goes to the test's log.
type logLines struct {
	t       testing.TB
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced at each line
}

func newLogLines(t testing.TB) *logLines { return &logLines{t: t, changed: make(chan struct{})} }

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for line := range strings.SplitSeq(strings.TrimRight(string(p), "\n"), "\n") {
		l.t.Log(line)
		l.lines = append(l.lines, line)
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// find returns the first line at or after index from that contains every
// one of parts, and the index after it; ok is false when there is none yet.
func (l *logLines) find(from int, parts ...string) (line string, next int, ok bool, changed <-chan struct{}) {
	l.mu.Lock()
	defer l.mu.Unlock()
next:
	for i := from; i < len(l.lines); i++ {
		for _, p := range parts {
			if !strings.Contains(l.lines[i], p) {
				continue next
			}
		}
		return l.lines[i], i + 1, true, l.changed
	}
	return "", len(l.lines), false, l.changed
}

// waitFor blocks until a line at or after index from contains every one of
// parts, and returns it and the index after it. It fails the test shortly
// before the test binary's -timeout would (or when the test ends).
func (l *logLines) waitFor(t *testing.T, from int, parts ...string) (string, int) {
	t.Helper()
	ctx := t.Context()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-10*time.Second))
		defer cancel()
	}
	for {
		line, next, ok, changed := l.find(from, parts...)
		if ok {
			return line, next
		}
		from = next
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatalf("no log line with %q", parts)
		}
	}
}

// serveLocal opens a runtime on a fresh database serving the module
// folders in dir (Config.ModulesDir), logging at Info into log.
func serveLocal(t testing.TB, dir string, log *logLines) *testSite {
	t.Helper()
	return newSiteWith(t, dir, hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: log}))
}

// buildCommand builds the Go module in src the wrong way, as a WASI
// command (no -buildmode=c-shared), to out.
func buildCommand(t testing.TB, src, out string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
}

// writeFile writes a file, making its folder.
func writeFile(t testing.TB, name, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestModulesDirKeepsServing loads a modules folder in which one module is
// good (hello), one was built as a command (it fails at the compile stage)
// and one has a manifest that does not decode (it fails to load): the site
// opens, serves hello, names each failing module with its stage and cause
// in its log and on /readyz.
func TestModulesDirKeepsServing(t *testing.T) {
	built, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "hello"), os.DirFS(filepath.Join(built, "hello"))); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "broken", "module.json"), `{"manifest_version": 1, "name": "broken", "version": "1.0.0", "abi_version": 1,
		"capabilities": {"routes": [{"path": "/broken", "access": "public"}]}}`)
	buildCommand(t, "../../examples/hello", filepath.Join(dir, "broken", "module.wasm"))
	writeFile(t, filepath.Join(dir, "typo", "module.json"), `{"manifest_version": 1, "name": "typo", "version": "1.0.0", "abi_version": 1, "capabilites": {}}`)

	log := newLogLines(t)
	s := serveLocal(t, dir, log)

	if status, b := get(t, http.DefaultClient, s.URL+"/guestbook"); status != 200 || !strings.Contains(b, "No entries yet") {
		t.Fatalf("GET /guestbook = %d %s", status, b)
	}
	if status, _ := get(t, http.DefaultClient, s.URL+"/broken"); status != http.StatusNotFound {
		t.Fatalf("GET /broken = %d, want 404: the module is not serving", status)
	}
	status, ready := get(t, http.DefaultClient, s.URL+"/readyz")
	if status != 200 || !strings.HasPrefix(ready, "ready\n") {
		t.Fatalf("/readyz = %d %q", status, ready)
	}
	for _, want := range []struct {
		what  string
		parts []string
	}{
		{"the command build", []string{"module broken", "not serving", "compile", "built as a command (it exports _start, not _initialize)", "-buildmode=c-shared"}},
		{"the bad manifest", []string{"typo", "not serving", "load", `unknown field "capabilites"`}},
	} {
		t.Run(want.what, func(t *testing.T) {
			found := false
			for line := range strings.SplitSeq(ready, "\n") {
				ok := true
				for _, p := range want.parts {
					ok = ok && strings.Contains(line, p)
				}
				found = found || ok
			}
			if !found {
				t.Errorf("/readyz does not report %s with %q:\n%s", want.what, want.parts, ready)
			}
		})
	}
	log.waitFor(t, 0, "[ERROR]", "a local module did not start", "module=broken", "stage=compile", "built as a command")
	log.waitFor(t, 0, "[ERROR]", "a local module did not start", "folder="+filepath.Join(dir, "typo"), "stage=load", `unknown field \"capabilites\"`)
}

// TestModulesDirFolders follows folders that move and copy: a second
// folder with a module already served is refused (and the first keeps
// serving), a moved folder takes its module over, and a removed folder's
// problem goes away. It drives the scan the watcher runs, without waiting
// for the watcher.
func TestModulesDirFolders(t *testing.T) {
	built, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	first := filepath.Join(dir, "hello")
	if err := os.CopyFS(first, os.DirFS(filepath.Join(built, "hello"))); err != nil {
		t.Fatal(err)
	}
	s := serveLocal(t, dir, newLogLines(t))
	ctx := t.Context()
	problems := func() string {
		var out []string
		for _, p := range s.srv.ModuleProblems() {
			out = append(out, p.String())
		}
		return strings.Join(out, "\n")
	}
	serving := func() {
		t.Helper()
		if status, _ := get(t, http.DefaultClient, s.URL+"/guestbook"); status != 200 {
			t.Fatalf("GET /guestbook = %d", status)
		}
	}

	copied := filepath.Join(dir, "hello-copy")
	if err := os.CopyFS(copied, os.DirFS(first)); err != nil {
		t.Fatal(err)
	}
	s.srv.local.scan(ctx, false)
	if want := "module hello (" + copied + "): not serving: failed at stage load: server: module hello is already served from " + first; problems() != want {
		t.Fatalf("problems:\n%s\nwant:\n%s", problems(), want)
	}
	serving()

	if err := os.RemoveAll(copied); err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(dir, "guestbook")
	if err := os.Rename(first, moved); err != nil {
		t.Fatal(err)
	}
	s.srv.local.scan(ctx, false)
	if p := problems(); p != "" {
		t.Fatalf("after the move: problems:\n%s", p)
	}
	serving()
	if got := s.srv.local.folders[moved]; got == nil || got.module != "hello" {
		t.Fatalf("the moved folder does not serve hello: %+v", got)
	}
}

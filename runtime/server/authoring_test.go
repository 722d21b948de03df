package server

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/scaffold"
	"github.com/websonic/websonic/sdk/abi"
)

// repoRoot is this checkout's root.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// runLine runs a documented shell command line of the form
// "NAME=value … program args…" in dir, with the Go proxy usable
// (GOFLAGS=-mod=mod lets go fill in go.sum as a module author's go would
// after go mod tidy).
func runLine(t testing.TB, dir, line string) {
	t.Helper()
	fields := strings.Fields(line)
	env := append(os.Environ(), "GOFLAGS=-mod=mod")
	for len(fields) > 0 && strings.Contains(fields[0], "=") {
		env = append(env, fields[0])
		fields = fields[1:]
	}
	cmd := exec.Command(fields[0], fields[1:]...)
	cmd.Dir, cmd.Env = dir, env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s (in %s): %v\n%s", line, dir, err, out)
	}
}

// goModBlock returns the go.mod that examples/hello/README.md gives for a
// module in its own repository.
func goModBlock(t testing.TB, readme string) string {
	t.Helper()
	m := regexp.MustCompile("(?s)```go-mod\n(module .*?)```").FindStringSubmatch(readme)
	if m == nil {
		t.Fatal("examples/hello/README.md has no ```go-mod block")
	}
	return m[1]
}

// TestModuleInOwnRepository follows examples/hello/README.md's "In a
// repository of its own": the tutorial module, copied to a folder outside
// this repository with the go.mod the README gives (its replace directive
// pointed at this checkout), builds with the README's commands and, linked
// into a folder of modules, serves its page in a real runtime.
func TestModuleInOwnRepository(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module to wasm")
	}
	raw, err := os.ReadFile("../../examples/hello/README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	goMod := goModBlock(t, readme)
	const placeholder = "=> ../websonic\n"
	if !strings.Contains(goMod, placeholder) {
		t.Fatalf("the README's go.mod does not replace the SDK with ../websonic:\n%s", goMod)
	}
	// The go line must be the SDK's (go refuses an older one).
	sdkMod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go \S+$`)
	if want := goLine.FindString(string(sdkMod)); goLine.FindString(goMod) != want {
		t.Errorf("the README's go.mod says %q; the SDK's go.mod says %q", goLine.FindString(goMod), want)
	}
	for _, line := range []string{"go mod tidy", abi.GoBuildCommand} {
		if !strings.Contains(readme, "\n"+line) {
			t.Fatalf("the README does not give the command %q", line)
		}
	}

	dir := filepath.Join(t.TempDir(), "hello")
	if err := os.CopyFS(dir, os.DirFS("../../examples/hello")); err != nil {
		t.Fatal(err)
	}
	if _, ok := scaffold.FindRepo(dir); ok {
		t.Fatalf("%s is inside this repository", dir)
	}
	writeFile(t, filepath.Join(dir, "go.mod"), strings.Replace(goMod, placeholder, "=> "+repoRoot(t)+"\n", 1))
	runLine(t, dir, "go mod tidy")
	runLine(t, dir, abi.GoBuildCommand)

	// Served as the README says: linked into a folder of modules.
	mods := t.TempDir()
	if err := os.Symlink(dir, filepath.Join(mods, "hello")); err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	if status, b := get(t, http.DefaultClient, s.URL+"/guestbook"); status != 200 || !strings.Contains(b, "No entries yet") {
		t.Fatalf("GET /guestbook = %d %s", status, b)
	}
	if problems := s.srv.ModuleProblems(); len(problems) > 0 {
		t.Fatalf("problems: %v", problems)
	}
}

// newModule writes the module name with `websonic module new`'s scaffold
// in a folder outside this repository, builds it with the commands its
// README gives, and returns the folder.
func newModule(t testing.TB, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if _, err := scaffold.Write(scaffold.Options{Name: name, Dir: dir, SDKDir: repoRoot(t)}); err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{"go mod tidy", abi.GoBuildCommand} {
		if !strings.Contains(string(readme), "\n"+line) {
			t.Fatalf("the module's README does not give the command %q:\n%s", line, readme)
		}
		runLine(t, dir, line)
	}
	return dir
}

// TestNewModuleServes writes a module with `websonic module new`'s
// scaffold outside this repository, builds it with the commands its README
// gives, and serves it in a real runtime: the page renders in the site's
// frame from the module's own table, and a signed-in user adds a note.
func TestNewModuleServes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module to wasm")
	}
	dir := newModule(t, "shop")

	s := newSiteWith(t, filepath.Dir(dir), hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	c := s.client(t)
	if status, b := get(t, c, s.URL+"/shop"); status != 200 || !strings.Contains(b, "<h1>Shop</h1>") ||
		!strings.Contains(b, "No notes yet.") || !strings.Contains(b, "<title>Shop · Web Sonic</title>") {
		t.Fatalf("GET /shop = %d %s", status, b)
	}
	resp := postForm(t, c, s.URL+"/register", url.Values{
		"username": {"ada"}, "display_name": {"Ada"}, "password": {"analytical-engine-1843"},
	})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d %s", resp.StatusCode, body(t, resp))
	}
	resp = postForm(t, c, s.URL+"/shop", url.Values{"text": {"first <note>"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add a note: %d %s", resp.StatusCode, body(t, resp))
	}
	if status, b := get(t, c, s.URL+"/shop"); status != 200 || !strings.Contains(b, "first &lt;note&gt;") {
		t.Fatalf("GET /shop after a note = %d %s", status, b)
	}
}

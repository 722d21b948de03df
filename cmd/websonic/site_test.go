package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// result is what a websonic process printed and how it exited.
type result struct {
	stdout, stderr string
	code           int
}

// cliRun runs bin with args in dir ("" for the test's folder), with env
// added to the environment and stdin as its input; it fails the test only
// when the process cannot run at all.
func cliRun(t *testing.T, ctx context.Context, bin, dir string, env []string, stdin string, args ...string) result {
	t.Helper()
	c := exec.CommandContext(ctx, bin, args...)
	c.Dir = dir
	c.Env = append(os.Environ(), env...)
	c.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("websonic %s: %v", strings.Join(args, " "), err)
	}
	return result{stdout.String(), stderr.String(), c.ProcessState.ExitCode()}
}

// TestCommandsNeedAnExistingSite: every command that only acts on a site
// refuses a folder with no site, naming the folder and the flag to fix
// it, and creates nothing there.
func TestCommandsNeedAnExistingSite(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env := []string{"WEBSONIC_DATABASE_URL=", "WEBSONIC_DATA_DIR=", "WEBSONIC_ADMIN_PASSWORD=a-long-enough-password"}
	commands := [][]string{
		{"admin", "create", "--username", "owner"},
		{"module", "install", "hello", "--yes", "--wait", "2s"},
		{"module", "rollback", "hello", "--wait", "2s"},
		{"module", "approve", "hello", "--yes", "--wait", "2s"},
		{"module", "policy", "hello", "--policy", "pinned", "--wait", "2s"},
		{"module", "list"},
	}
	for _, args := range commands {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			empty := dataDir(t)
			r := cliRun(t, ctx, bin, "", env, "", append(args, "--data-dir", empty)...)
			if r.code != 1 || !strings.Contains(r.stderr, "no site in "+empty) || !strings.Contains(r.stderr, "--data-dir") {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 and a message naming %s and --data-dir", r.code, r.stderr, empty)
			}
			if entries, _ := os.ReadDir(empty); len(entries) != 0 {
				t.Errorf("the command created %v in a folder with no site", entries)
			}
		})
	}
	// Pointed at `make run`'s data folder instead of its site, it names
	// the site's folder.
	root := dataDir(t)
	pgData := filepath.Join(root, "site", "postgres", "data")
	if err := os.MkdirAll(pgData, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pgData, "PG_VERSION"), []byte("15\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := cliRun(t, ctx, bin, "", env, "", "admin", "create", "--username", "owner", "--data-dir", root)
	if r.code != 1 || !strings.Contains(r.stderr, "--data-dir "+filepath.Join(root, "site")) {
		t.Errorf("exit %d, stderr:\n%s\nwant a hint naming %s", r.code, r.stderr, filepath.Join(root, "site"))
	}
}

// TestNewcomerPath is the README's quick start with every default: `make
// run` (websonic dev), then `admin create` in another terminal, whose
// admin can log in to the site `make run` serves.
func TestNewcomerPath(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	work, mods := dataDir(t), helloPackages(t, ctx)
	env := []string{"WEBSONIC_DATABASE_URL=", "WEBSONIC_DATA_DIR="}
	site := startSite(t, ctx, bin, work, env, "dev", "--addr", "127.0.0.1:0", "--registry-addr", "127.0.0.1:0", "--modules", mods)

	r := cliRun(t, ctx, bin, work, append(env, "WEBSONIC_ADMIN_PASSWORD=a-long-enough-password"), "",
		"admin", "create", "--username", "owner", "--log-level", "error")
	if r.code != 0 {
		t.Fatalf("admin create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.PostForm(site.url+"/login", url.Values{"username": {"owner"}, "password": {"a-long-enough-password"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the admin `admin create` made cannot log in to the site `make run` serves: POST /login = %d", resp.StatusCode)
	}
	// The module commands find the same site.
	r = cliRun(t, ctx, bin, work, env, "", "module", "list")
	if r.code != 0 || !regexp.MustCompile(`hello\s+1\.0\.0`).MatchString(r.stdout) {
		t.Fatalf("module list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	site.stop(t)
}

package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary returns the websonic binary of this package's code, built
// once per test process (a link costs seconds and some twenty tests ask):
// tests run it and never change it; one that needs a binary of its own
// builds it (buildVersion).
func buildBinary(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		shared.dir, shared.err = os.MkdirTemp("", "websonic-cmd-test-")
		if shared.err != nil {
			return
		}
		shared.bin = filepath.Join(shared.dir, "websonic")
		shared.out, shared.err = exec.Command("go", "build", "-o", shared.bin, ".").CombinedOutput()
	})
	if shared.err != nil {
		t.Fatalf("go build: %v\n%s", shared.err, shared.out)
	}
	return shared.bin
}

// shared is buildBinary's build, removed by TestMain.
var shared struct {
	once     sync.Once
	dir, bin string
	out      []byte
	err      error
}

// dataDir is a data directory the unprivileged PostgreSQL user can reach
// when the tests run as root.
func dataDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "websonic-cli-test")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestServeLifecycle starts `websonic serve` on the embedded PostgreSQL,
// waits until it is ready, creates an admin while it runs, stops it with
// SIGTERM and checks that the database stopped with it; then `admin create`
// starts the database itself.
func TestServeLifecycle(t *testing.T) {
	bin := buildBinary(t)
	data := dataDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	cmd := exec.CommandContext(ctx, bin, "serve", "--data-dir", data, "--addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "WEBSONIC_DATABASE_URL=")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urlRE := regexp.MustCompile(`serving: url=(http://\S+)`)
	lines := bufio.NewScanner(stderr)
	var base string
	var log strings.Builder
	for lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if m := urlRE.FindStringSubmatch(lines.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatalf("no serving line:\n%s", log.String())
	}
	go io.Copy(io.Discard, stderr)
	resp, err := http.Get(base + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz: %v %v", err, resp)
	}
	resp.Body.Close()

	// An admin can be created while the site runs (on its embedded
	// PostgreSQL).
	c := exec.CommandContext(ctx, bin, "admin", "create", "--data-dir", data, "--username", "owner", "--log-level", "error")
	c.Env = append(os.Environ(), "WEBSONIC_DATABASE_URL=", "WEBSONIC_ADMIN_PASSWORD=a-long-enough-password")
	if out, err := c.CombinedOutput(); err != nil || !strings.Contains(string(out), `created admin "owner"`) {
		t.Fatalf("admin create while serving: %v\n%s", err, out)
	}

	pidFile := filepath.Join(data, "postgres", "data", "postmaster.pid")
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("embedded PostgreSQL not running: %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("PostgreSQL still running after SIGTERM (postmaster.pid: %v)", err)
	}

	tests := []struct {
		name     string
		args     []string
		password string
		wantErr  string
		wantOut  string
	}{
		{"weak password", []string{"--username", "boss"}, "short", "password", ""},
		{"bad username", []string{"--username", "No Spaces"}, "a-long-enough-password", "username", ""},
		{"missing username", nil, "a-long-enough-password", "--username is required", ""},
		{"creates the admin", []string{"--username", "boss"}, "a-long-enough-password", "", `created admin "boss"`},
		{"taken", []string{"--username", "boss"}, "a-long-enough-password", "taken", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := exec.CommandContext(ctx, bin, append([]string{"admin", "create", "--data-dir", data, "--log-level", "error"}, tt.args...)...)
			c.Env = append(os.Environ(), "WEBSONIC_DATABASE_URL=", "WEBSONIC_ADMIN_PASSWORD="+tt.password)
			out, err := c.CombinedOutput()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(string(out), tt.wantErr) {
					t.Fatalf("err = %v, output:\n%s\nwant an error mentioning %q", err, out, tt.wantErr)
				}
				return
			}
			if err != nil || !strings.Contains(string(out), tt.wantOut) {
				t.Fatalf("err = %v, output:\n%s", err, out)
			}
		})
	}
}

func TestUsage(t *testing.T) {
	var out, errOut strings.Builder
	if err := run(nil, strings.NewReader(""), &out, &errOut); err == nil || !strings.Contains(errOut.String(), "websonic serve") {
		t.Fatalf("no command: %v %q", err, errOut.String())
	}
	if err := run([]string{"frobnicate"}, strings.NewReader(""), &out, &errOut); err == nil || !strings.Contains(err.Error(), `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %v", err)
	}
}

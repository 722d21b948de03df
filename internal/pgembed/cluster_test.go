package pgembed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
)

// testDir returns a fresh 0755 directory in os.TempDir() (t.TempDir's
// parents are 0700, which the unprivileged server user cannot traverse).
func testDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pgembed-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

// testWriter sends log output to t.Log until the test's cleanup has run.
type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t testing.TB) hclog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug, Output: w})
}

// start starts a cluster in dir and stops it at the end of the test.
func start(t testing.TB, dir string) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Config{Dir: dir, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(context.Background()); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return c
}

func stop(t testing.TB, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

func connect(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec1(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func queryString(t testing.TB, conn *pgx.Conn, sql string, args ...any) string {
	t.Helper()
	var s string
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// abandon simulates the death of the process that owned c, without stopping
// its server: the directory lock is dropped as the kernel would.
func abandon(c *Cluster) { c.lock.Close() }

func TestRestartKeepsData(t *testing.T) {
	t.Parallel()
	dir := testDir(t)

	c := start(t, dir)
	conn := connect(t, c.SuperuserURL("postgres"))
	exec1(t, conn, "CREATE TABLE kept (v text)")
	exec1(t, conn, "INSERT INTO kept VALUES ('hello')")
	if got := queryString(t, conn, "SHOW listen_addresses"); got != "" {
		t.Errorf("listen_addresses = %q, want empty", got)
	}
	if got := queryString(t, conn, "SHOW unix_socket_permissions"); got != "0700" {
		t.Errorf("unix_socket_permissions = %q, want 0700", got)
	}
	fi, err := os.Stat(c.SocketDir())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("socket dir mode = %v, want 0700", fi.Mode().Perm())
	}
	if os.Geteuid() == 0 {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid == 0 {
			t.Errorf("socket dir owned by root; the server should run unprivileged")
		}
		if u := queryString(t, conn, "SELECT current_setting('data_directory')"); u != filepath.Join(dir, "data") {
			t.Errorf("data_directory = %q", u)
		}
	}
	conn.Close(context.Background())

	stop(t, c)
	stop(t, c) // idempotent
	select {
	case <-c.Done():
	default:
		t.Fatal("Done not closed after Stop")
	}

	c2 := start(t, dir)
	conn2 := connect(t, c2.SuperuserURL("postgres"))
	if got := queryString(t, conn2, "SELECT v FROM kept"); got != "hello" {
		t.Errorf("after restart got %q, want hello", got)
	}
	// The second start must not have re-run initdb.
	if _, err := os.Stat(filepath.Join(dir, "data.initdb")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("data.initdb left behind: %v", err)
	}
}

func TestStaleLockFiles(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	stop(t, start(t, dir)) // initdb once

	deadPID := func() int {
		cmd := exec.Command("true")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		return cmd.Process.Pid
	}
	pidFile := filepath.Join(dir, "data", pidFileName)
	sockLock := filepath.Join(dir, "run", ".s.PGSQL.5432.lock")
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"garbage pid file", map[string]string{pidFile: "garbage\n\x00\x01"}},
		{"dead pid", map[string]string{pidFile: fmt.Sprintf("%d\n%s/data\n0\n5432\n\n\n", deadPID(), dir)}},
		{"live pid of another program", map[string]string{pidFile: fmt.Sprintf("%d\n%s/data\n", os.Getpid(), dir)}},
		{"stale socket lock", map[string]string{
			sockLock:                              fmt.Sprintf("%d\n%s/data\n", os.Getpid(), dir),
			strings.TrimSuffix(sockLock, ".lock"): "",
		}},
		{"both", map[string]string{
			pidFile:  fmt.Sprintf("%d\n", 1),
			sockLock: fmt.Sprintf("%d\n", deadPID()),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for path, content := range tt.files {
				if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			c := start(t, dir)
			conn := connect(t, c.SuperuserURL("postgres"))
			if got := queryString(t, conn, "SELECT 'ok'"); got != "ok" {
				t.Fatalf("got %q", got)
			}
			conn.Close(context.Background())
			stop(t, c)
		})
	}
}

func TestRecoverAfterOwnerDied(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// crash simulates how the previous owner went away.
		crash func(t *testing.T, c *Cluster)
	}{
		{
			// The postmaster was SIGKILLed (say by the OOM killer) and our Cluster forgotten.
			name: "server killed",
			crash: func(t *testing.T, c *Cluster) {
				if err := syscall.Kill(c.cmd.Process.Pid, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				<-c.Done()
				abandon(c)
			},
		},
		{
			// We died but the server kept running (its parent-death signal failed).
			name:  "server orphaned",
			crash: func(t *testing.T, c *Cluster) { abandon(c) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := testDir(t)
			c := start(t, dir)
			conn := connect(t, c.SuperuserURL("postgres"))
			exec1(t, conn, "CREATE TABLE survived AS SELECT 42 AS v")
			// An open session, as a real runtime would have.
			tt.crash(t, c)

			c2 := start(t, dir)
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("old server still running after a new Start")
			}
			conn2 := connect(t, c2.SuperuserURL("postgres"))
			if got := queryString(t, conn2, "SELECT v::text FROM survived"); got != "42" {
				t.Errorf("got %q, want 42", got)
			}
			if err := c.Stop(context.Background()); err != nil {
				t.Errorf("Stop of the dead cluster: %v", err)
			}
		})
	}
}

func TestSecondClusterOnSameDir(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	c := start(t, dir)
	_, err := Start(context.Background(), Config{Dir: dir})
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Start: err = %v, want ErrInUse", err)
	}
	// The first one is unharmed.
	conn := connect(t, c.SuperuserURL("postgres"))
	queryString(t, conn, "SELECT 'ok'")
}

func TestServerExitsEarly(t *testing.T) {
	t.Parallel()
	dir := testDir(t)
	stop(t, start(t, dir))
	conf := filepath.Join(dir, "data", "postgresql.conf")
	f, err := os.OpenFile(conf, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "\nthis is = not valid = config\n")
	f.Close()

	_, err = Start(context.Background(), Config{Dir: dir, Logger: testLogger(t)})
	if !errors.Is(err, ErrServerExited) {
		t.Fatalf("err = %v, want ErrServerExited", err)
	}
	if !strings.Contains(err.Error(), "postgresql.conf") {
		t.Errorf("error lacks the server log tail: %v", err)
	}
	// The lock was released: a fixed config starts again.
	b, _ := os.ReadFile(conf)
	os.WriteFile(conf, []byte(strings.ReplaceAll(string(b), "this is = not valid = config", "")), 0o600)
	start(t, dir)
}

func TestLongDirUsesTemporarySocketDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(testDir(t), strings.Repeat("d", 60), strings.Repeat("e", 60))
	c := start(t, dir)
	sock := c.SocketDir()
	if !strings.HasPrefix(sock, os.TempDir()) || strings.HasPrefix(sock, dir) {
		t.Errorf("socket dir = %s, want a temporary directory", sock)
	}
	if len(socketFile(sock)) >= maxSocketPath {
		t.Errorf("socket path too long: %s", socketFile(sock))
	}
	connect(t, c.SuperuserURL("postgres")).Close(context.Background())
	stop(t, c)
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary socket dir not removed: %v", err)
	}
}

func TestNotAccessibleParent(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root drops privileges")
	}
	t.Parallel()
	private := t.TempDir() // its parent is 0700
	dir := filepath.Join(private, "cluster")
	_, err := Start(context.Background(), Config{Dir: dir})
	if !errors.Is(err, ErrNotAccessible) {
		t.Fatalf("err = %v, want ErrNotAccessible", err)
	}
	if !strings.Contains(err.Error(), filepath.Dir(private)) {
		t.Errorf("error does not name the directory: %v", err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("Dir should be created 0755: %v %v", fi, err)
	}
	if fi, _ := os.Stat(filepath.Dir(private)); fi.Mode().Perm() != 0o700 {
		t.Errorf("a parent's mode was changed to %v", fi.Mode().Perm())
	}
}

func TestNoBinaries(t *testing.T) {
	empty := t.TempDir()
	tests := []struct {
		name string
		run  func(t *testing.T) error
	}{
		{"BinDir without binaries", func(t *testing.T) error {
			_, err := Start(context.Background(), Config{Dir: testDir(t), BinDir: empty})
			return err
		}},
		{"nothing to find", func(t *testing.T) error {
			t.Setenv("PATH", empty)
			_, err := findBinDir("", filepath.Join(empty, "nonexistent"))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.run(t)
			if !errors.Is(err, ErrNoBinaries) {
				t.Fatalf("err = %v, want ErrNoBinaries", err)
			}
			for _, want := range []string{"apt-get install postgresql", "WEBSONIC_DATABASE_URL", "--database-url"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
		})
	}
}

func TestFindBinDir(t *testing.T) {
	dir, err := FindBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := checkBinDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := serverMajor(dir); err != nil {
		t.Fatal(err)
	}
}

func TestVersionDirs(t *testing.T) {
	root := t.TempDir()
	for _, v := range []string{"9.6", "15", "10", "16", "x"} {
		os.MkdirAll(filepath.Join(root, v, "bin"), 0o755)
	}
	var got []string
	for _, d := range versionDirs(root) {
		got = append(got, filepath.Base(filepath.Dir(d)))
	}
	if want := "16 15 10 9.6 x"; strings.Join(got, " ") != want {
		t.Errorf("order = %v, want %s", got, want)
	}
}

func TestParseMajor(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  bool
	}{
		{"postgres (PostgreSQL) 15.13 (Debian 15.13-0+deb12u1)\n", "15", false},
		{"postgres (PostgreSQL) 17beta2\n", "17", false},
		{"postgres (PostgreSQL) 9.6.24\n", "9.6", false},
		{"something else", "", true},
	}
	for _, tt := range tests {
		got, err := parseMajor(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("parseMajor(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		line  string
		level hclog.Level
		msg   string
	}{
		{"LOG:  database system is ready to accept connections", hclog.Info, "database system is ready to accept connections"},
		{"WARNING:  out of luck", hclog.Warn, "out of luck"},
		{"FATAL:  role \"x\" does not exist", hclog.Error, "role \"x\" does not exist"},
		{"DEBUG2:  detail", hclog.Debug, "detail"},
		{"DETAIL:  more", hclog.NoLevel, "DETAIL: more"},
		{"\tcontinued statement", hclog.NoLevel, "\tcontinued statement"},
		{"http://not-a-severity", hclog.NoLevel, "http://not-a-severity"},
	}
	for _, tt := range tests {
		level, msg := classify(tt.line)
		if level != tt.level || msg != tt.msg {
			t.Errorf("classify(%q) = %v %q; want %v %q", tt.line, level, msg, tt.level, tt.msg)
		}
	}
}

func TestPidFileReady(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pid")
	tests := []struct {
		content string
		want    bool
	}{
		{"123\n/d\n1\n5432\n/s\n/s\n  0 0\nready   \n", true},
		{"123\n/d\n1\n5432\n/s\n/s\n  0 0\nstarting\n", false},
		{"124\n/d\n1\n5432\n/s\n/s\n  0 0\nready   \n", false},
		{"123\n/d\n", false},
	}
	for _, tt := range tests {
		os.WriteFile(path, []byte(tt.content), 0o600)
		if got := pidFileReady(path, 123); got != tt.want {
			t.Errorf("pidFileReady(%q) = %v", tt.content, got)
		}
	}
}

// TestParentDeath runs a cluster in a child process (this test binary again),
// SIGKILLs the child, and expects the server to shut itself down through its
// parent-death signal, leaving a clean data directory.
func TestParentDeath(t *testing.T) {
	if dir := os.Getenv("PGEMBED_HELPER_DIR"); dir != "" {
		c, err := Start(context.Background(), Config{Dir: dir})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("ready", c.cmd.Process.Pid)
		select {} // until killed
	}
	t.Parallel()
	dir := testDir(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestParentDeath$")
	cmd.Env = append(os.Environ(), "PGEMBED_HELPER_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var word string
	var pid int
	if _, err := fmt.Fscan(out, &word, &pid); err != nil || word != "ready" {
		cmd.Process.Kill()
		t.Fatalf("helper: %s %d %v", word, pid, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	deadline := time.Now().Add(15 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGQUIT)
			t.Fatal("server still running 15 s after its parent was killed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", pidFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("server did not shut down cleanly (pid file left): %v", err)
	}
	start(t, dir)
}

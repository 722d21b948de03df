package restart

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// childEnv makes the test binary, started again by an upgrade, act as
// the new process: "die" exits before it is ready, "ready" listens, says
// it is ready and serves until killed.
const childEnv = "RESTART_TEST_CHILD"

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		os.Exit(child(mode))
	}
	os.Exit(m.Run())
}

func child(mode string) int {
	r, err := New(Config{})
	if err != nil || !r.Upgraded() {
		return 4
	}
	if _, err := r.Listen("tcp", "127.0.0.1:0"); err != nil { // the parent's, by the same strings
		return 5
	}
	if mode == "die" {
		return 3
	}
	if err := r.Ready(); err != nil {
		return 2
	}
	time.Sleep(time.Minute)
	return 0
}

// notifySocket is a NOTIFY_SOCKET; messages returns what was sent so far.
type notifySocket struct {
	conn *net.UnixConn
}

func newNotifySocket(t *testing.T) *notifySocket {
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &notifySocket{conn: conn}
}

// next returns the next message, waiting for it.
func (s *notifySocket) next(t *testing.T) string {
	t.Helper()
	buf := make([]byte, 4096)
	s.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	n, err := s.conn.Read(buf)
	if err != nil {
		t.Fatalf("no message to systemd: %v", err)
	}
	return string(buf[:n])
}

func mainPID(msg string) int {
	for _, l := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(l, "MAINPID="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}

// TestUpgradeTellsSystemd: a new process that dies before it is ready
// leaves systemd following this process (MAINPID=<this pid>, READY=1 after
// RELOADING=1) and undo runs; a new process that is ready is named to
// systemd (MAINPID=<its pid>) by this process before Upgrade returns.
func TestUpgradeTellsSystemd(t *testing.T) {
	sd := newNotifySocket(t)
	r, err := New(Config{ReadyTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	if ok, why := r.Supported(); !ok {
		t.Fatalf("unsupported: %s", why)
	}
	if _, err := r.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if os.Args[0] != r.Executable() {
		t.Fatalf("os.Args[0] is %q, not the executable %q", os.Args[0], r.Executable())
	}

	if err := r.Ready(); err != nil {
		t.Fatal(err)
	}
	if m := sd.next(t); m != "READY=1" {
		t.Fatalf("a first process said %q", m)
	}

	t.Setenv(childEnv, "die")
	// A graceful restart (SIGHUP) while a self-update swaps the binary
	// waits for the lock: with its wait cut short, it fails at once.
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	var during error
	prepared, undone := false, false
	err = r.UpgradeWith(context.Background(), func() error {
		prepared, during = true, r.Upgrade(gone)
		return nil
	}, func() error { undone = true; return r.Upgrade(gone) })
	if !errors.Is(err, ErrFailed) || !prepared || !undone {
		t.Fatalf("upgrade into a dying process: %v (prepared %v, undone %v)", err, prepared, undone)
	}
	if !errors.Is(during, context.Canceled) || !errors.Is(err, context.Canceled) {
		t.Fatalf("an Upgrade during prepare returned %v, during undo %v: want both waiting for the lock", during, err)
	}
	if m := sd.next(t); m != "RELOADING=1" {
		t.Fatalf("first message %q", m)
	}
	if m := sd.next(t); mainPID(m) != os.Getpid() || !strings.Contains(m, "READY=1") {
		t.Fatalf("after the failed upgrade systemd heard %q, want MAINPID=%d and READY=1", m, os.Getpid())
	}

	t.Setenv(childEnv, "ready")
	if err := r.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m := sd.next(t); m != "RELOADING=1" {
		t.Fatalf("first message %q", m)
	}
	m := sd.next(t)
	pid := mainPID(m)
	if pid != 0 {
		defer syscall.Kill(pid, syscall.SIGKILL)
	}
	if pid == 0 || pid == os.Getpid() || !strings.Contains(m, "READY=1") {
		t.Fatalf("after the upgrade systemd heard %q first, want the new process's MAINPID and READY=1", m)
	}
	select {
	case <-r.Exit():
	default:
		t.Fatal("Exit is not closed after a successful upgrade")
	}
}

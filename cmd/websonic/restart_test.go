package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/pgtest"
)

func TestMain(m *testing.M) {
	code := pgtest.Run(m)
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// buildVersion builds websonic reporting version v into dir/websonic.
func buildVersion(t testing.TB, dir, v string) string {
	t.Helper()
	bin := filepath.Join(dir, "websonic")
	out, err := exec.Command("go", "build", "-o", bin, "-ldflags", "-X github.com/websonic/websonic/internal/buildinfo.version="+v, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// systemd is a NOTIFY_SOCKET that receives what the runtime tells systemd.
type systemd struct {
	path string
	msgs chan string
}

func newSystemd(t testing.TB) *systemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &systemd{path: path, msgs: make(chan string, 64)}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := conn.Read(b)
			if err != nil {
				return
			}
			s.msgs <- string(b[:n])
		}
	}()
	return s
}

// ready waits for a READY=1 message and returns the MAINPID it names (0
// for none).
func (s *systemd) ready(t testing.TB, ctx context.Context) int {
	t.Helper()
	for {
		select {
		case <-ctx.Done():
			t.Fatal("no READY=1 from the runtime")
		case m := <-s.msgs:
			if !strings.Contains(m, "READY=1") {
				continue
			}
			pid := 0
			for _, l := range strings.Split(m, "\n") {
				if v, ok := strings.CutPrefix(l, "MAINPID="); ok {
					pid, _ = strconv.Atoi(v)
				}
			}
			return pid
		}
	}
}

// reloading waits for RELOADING=1: an upgrade began. What came before it
// (the previous upgrade's new process repeating its MAINPID) is skipped.
func (s *systemd) reloading(t testing.TB, ctx context.Context) {
	t.Helper()
	for {
		select {
		case <-ctx.Done():
			t.Fatal("no RELOADING=1 from the runtime")
		case m := <-s.msgs:
			if m == "RELOADING=1" {
				return
			}
		}
	}
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

func waitGone(t testing.TB, ctx context.Context, pid int) {
	t.Helper()
	for alive(pid) {
		select {
		case <-ctx.Done():
			t.Fatalf("process %d did not exit", pid)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// site is a `websonic serve` whose processes replace each other.
type site struct {
	url, metrics string
	db           *pgtest.DB
	data         string       // --data-dir
	pid          atomic.Int64 // the serving main process
	log          *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRestartable runs bin serve on a pgtest database under sd, and
// waits until it told systemd it is ready. The processes it becomes are
// stopped at cleanup.
func startRestartable(t testing.TB, ctx context.Context, bin string, sd *systemd, env []string, args ...string) *site {
	t.Helper()
	db := pgtest.NewDB(t)
	s := &site{url: "http://" + freeAddr(t), metrics: freeAddr(t), db: db, data: dataDir(t), log: &syncBuffer{}}
	cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--data-dir", s.data, "--addr", strings.TrimPrefix(s.url, "http://"),
		"--admin-addr", "", "--metrics-addr", s.metrics, "--log-level", "info"}, args...)...)
	cmd.Env = append(os.Environ(), append([]string{"WEBSONIC_DATABASE_URL=" + db.URL, "WEBSONIC_ROLE_PREFIX=" + db.Prefix(),
		"NOTIFY_SOCKET=" + sd.path}, env...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, s.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }() // reaps the first process; its successors are not ours
	s.pid.Store(int64(cmd.Process.Pid))
	t.Cleanup(func() {
		pid := int(s.pid.Load())
		syscall.Kill(pid, syscall.SIGTERM)
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		waitGone(t, cctx, pid)
		if t.Failed() {
			t.Logf("the runtime's log:\n%s", s.log.String())
		}
	})
	rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-exited:
			cancel() // it failed to start: say so now
		case <-rctx.Done():
		}
	}()
	if pid := sd.ready(t, rctx); pid != 0 {
		t.Fatalf("the first process sent MAINPID=%d", pid)
	}
	return s
}

// version is the version the site's metrics report.
func (s *site) version(t testing.TB) string {
	t.Helper()
	resp, err := http.Get("http://" + s.metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	re := regexp.MustCompile(`^websonic_build_info\{version="([^"]+)"\} 1$`)
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			return m[1]
		}
	}
	t.Fatal("no websonic_build_info in /metrics")
	return ""
}

// load sends requests to url until stopped, on fresh connections and on
// kept-alive ones, and counts what failed.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	errs       []string
	cancel     context.CancelFunc
	wg         sync.WaitGroup
}

func startLoad(url string) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel}
	clients := []*http.Client{
		{Transport: &http.Transport{DisableKeepAlives: true}}, {Transport: &http.Transport{DisableKeepAlives: true}},
		{Transport: &http.Transport{}}, {Transport: &http.Transport{}},
	}
	for i, c := range clients {
		kind := "a new connection"
		if i >= 2 {
			kind = "a kept-alive connection"
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for ctx.Err() == nil {
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				resp, err := c.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					l.failed.Add(1)
					l.mu.Lock()
					l.errs = append(l.errs, fmt.Sprintf("%s %s on %s", time.Now().UTC().Format("15:04:05.000"), err, kind))
					l.mu.Unlock()
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

// stop ends the load and fails t if a request failed or none succeeded.
func (l *load) stop(t testing.TB) {
	t.Helper()
	l.cancel()
	l.wg.Wait()
	t.Logf("load: %d requests, %d failed", l.ok.Load(), l.failed.Load())
	if l.failed.Load() > 0 || l.ok.Load() == 0 {
		t.Errorf("%d of %d requests failed: %v", l.failed.Load(), l.ok.Load()+l.failed.Load(), l.errs[:min(len(l.errs), 5)])
	}
}

// restarted waits for the new process's MAINPID+READY and the old one's
// exit, and records the new main process.
func (s *site) restarted(t testing.TB, ctx context.Context, sd *systemd) int {
	t.Helper()
	old := int(s.pid.Load())
	sd.reloading(t, ctx)
	pid := sd.ready(t, ctx)
	if pid == 0 || pid == old {
		t.Fatalf("after a restart systemd was told MAINPID=%d (the old process is %d)", pid, old)
	}
	s.pid.Store(int64(pid))
	waitGone(t, ctx, old)
	return pid
}

// TestGracefulRestartUnderLoad: SIGHUP, as systemd's reload sends it,
// replaces the process with a new one of the same binary, twice, while
// clients send requests on new and kept-alive connections: none fails,
// the new process tells systemd its MAINPID before the old one exits, and
// the metrics listener is handed over too.
// restarts is how many SIGHUPs TestGracefulRestartUnderLoad sends.
var restarts = 3

func TestGracefulRestartUnderLoad(t *testing.T) {
	bin := buildVersion(t, t.TempDir(), "1.0.0")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sd := newSystemd(t)
	s := startRestartable(t, ctx, bin, sd, nil)
	l := startLoad(s.url + "/healthz")
	for range restarts {
		for n := l.ok.Load(); l.ok.Load() < n+50; { // requests flow before each restart
			time.Sleep(5 * time.Millisecond)
		}
		if err := syscall.Kill(int(s.pid.Load()), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		s.restarted(t, ctx, sd)
	}
	for n := l.ok.Load(); l.ok.Load() < n+50; {
		time.Sleep(5 * time.Millisecond)
	}
	l.stop(t)
	if v := s.version(t); v != "1.0.0" {
		t.Fatalf("serving version %s after restarts of 1.0.0", v)
	}
}

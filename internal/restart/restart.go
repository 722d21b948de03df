package restart

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cloudflare/tableflip"
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
)

// ErrUnsupported is Upgrade on a Restarter that cannot restart (another
// OS, Config.Disabled, an executable it cannot name); the error says why.
var ErrUnsupported = errors.New("restart: graceful restart unsupported")

// ErrFailed is an Upgrade whose new process exited or was not ready in
// time; the old process keeps serving.
var ErrFailed = errors.New("restart: the new process did not become ready")

// Config configures New.
type Config struct {
	// ReadyTimeout is how long a new process has to call Ready before it
	// is killed and the upgrade fails (60 s).
	ReadyTimeout time.Duration
	// Disabled hands out plain listeners and refuses upgrades, with this
	// reason (e.g. "the embedded PostgreSQL stops with this process").
	// Empty: enabled where the OS allows.
	Disabled string
	// Logger receives the restarts' logs (discarded).
	Logger hclog.Logger
}

// Restarter hands out the process's listeners and replaces the process.
// It is safe for concurrent use. There is at most one per process.
type Restarter struct {
	upg    *tableflip.Upgrader // nil: plain listeners
	why    string              // why upg is nil
	exe    string              // the file a restart runs (resolved)
	log    hclog.Logger
	notify func(state string) error

	mu        sync.Mutex // one Upgrade at a time
	readyOnce sync.Once
	readyErr  error
}

// New returns the process's Restarter. It must be called once, before
// any listener is opened; Stop releases it.
func New(cfg Config) (*Restarter, error) {
	if cfg.ReadyTimeout <= 0 {
		cfg.ReadyTimeout = 60 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	r := &Restarter{log: cfg.Logger, notify: sdNotify}
	exe, exeErr := executable()
	r.exe = exe
	switch {
	case runtime.GOOS != "linux":
		r.why = "only on Linux"
	case cfg.Disabled != "":
		r.why = cfg.Disabled
	case exeErr != nil:
		r.why = exeErr.Error()
	}
	if r.why != "" {
		return r, nil
	}
	upg, err := tableflip.New(tableflip.Options{UpgradeTimeout: cfg.ReadyTimeout})
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	// tableflip starts os.Args[0], looked up in PATH at each upgrade: it
	// must name the resolved executable, the file a self-update replaces,
	// whatever PATH or a symbolic link says later.
	os.Args[0] = exe
	r.upg = upg
	return r, nil
}

// executable is the running executable, symbolic links resolved.
func executable() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("restart: the running executable: %w", err)
	}
	if self, err = filepath.EvalSymlinks(self); err != nil {
		return "", fmt.Errorf("restart: the running executable: %w", err)
	}
	return self, nil
}

// Supported reports whether Upgrade can work, and if not why.
func (r *Restarter) Supported() (bool, string) { return r.upg != nil, r.why }

// Executable is the file Upgrade starts: the running executable,
// symbolic links resolved. A self-update replaces this file.
func (r *Restarter) Executable() string { return r.exe }

// Upgraded reports whether this process was started by an Upgrade.
func (r *Restarter) Upgraded() bool { return r.upg != nil && r.upg.HasParent() }

// Listen returns the listener on network and addr that the parent
// process handed over, or a new one. Every listener must be opened
// before Ready.
func (r *Restarter) Listen(network, addr string) (net.Listener, error) {
	if r.upg == nil {
		return net.Listen(network, addr)
	}
	ln, err := r.upg.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("restart: %w", err)
	}
	return ln, nil
}

// Ready says that the process serves: to the parent process first, when
// an upgrade started this one (its Upgrade then tells systemd this
// process's PID: see Upgrade), then to systemd (MAINPID=<this pid> again
// when an upgrade started it, and READY=1). systemd is so told of a new
// main process only once the handover is certain: a new process dying
// before its parent knows it ready never becomes systemd's main process.
// Later calls return the first one's result.
func (r *Restarter) Ready() error {
	r.readyOnce.Do(func() {
		if r.upg != nil {
			if err := r.upg.Ready(); err != nil {
				r.readyErr = fmt.Errorf("restart: %w", err)
			}
		}
		state := daemon.SdNotifyReady
		if r.Upgraded() && r.readyErr == nil {
			state = "MAINPID=" + strconv.Itoa(os.Getpid()) + "\n" + state
		}
		if err := r.notify(state); err != nil {
			r.log.Warn("could not tell systemd the runtime is ready", "error", err)
		}
	})
	return r.readyErr
}

// Upgrade starts the executable again with the listeners and waits until
// it is ready (nil: this process must now stop serving and exit; Exit is
// closed) or has failed (ErrFailed, naming why; this process serves on).
// ctx bounds only the waits for a concurrent upgrade and for the previous
// process (of a process an upgrade started) to exit.
//
// systemd hears RELOADING=1; then, once the new process is ready,
// MAINPID=<its pid> and READY=1 from this process, before it may exit;
// if the upgrade failed, MAINPID=<this pid> and READY=1 (whatever the new
// process may have said).
func (r *Restarter) Upgrade(ctx context.Context) error {
	return r.UpgradeWith(ctx, nil, nil)
}

// UpgradeWith is Upgrade with prepare run first and undo after a failed
// upgrade, both under the lock that serialises upgrades: a SIGHUP's
// Upgrade waits until a self-update has replaced the executable, started
// it and (if it failed) put the old one back. An error of prepare is
// returned as it is, with no upgrade; one of undo is joined to ErrFailed.
func (r *Restarter) UpgradeWith(ctx context.Context, prepare, undo func() error) error {
	if r.upg == nil {
		return fmt.Errorf("%w: %s", ErrUnsupported, r.why)
	}
	if err := r.lock(ctx); err != nil {
		return err
	}
	defer r.mu.Unlock()
	if err := r.upg.WaitForParent(ctx); err != nil { // a new process's parent may still be draining
		return fmt.Errorf("restart: waiting for the previous process to exit: %w", err)
	}
	if prepare != nil {
		if err := prepare(); err != nil {
			return err
		}
	}
	r.notifyQuiet(daemon.SdNotifyReloading)
	start := time.Now()
	if err := r.upg.Upgrade(); err != nil {
		r.notifyQuiet("MAINPID=" + strconv.Itoa(os.Getpid()) + "\n" + daemon.SdNotifyReady)
		err = fmt.Errorf("%w: %v", ErrFailed, err)
		if undo != nil {
			err = errors.Join(err, undo())
		}
		return err
	}
	if pid, err := r.child(); err != nil {
		r.log.Warn("the new process tells systemd its PID itself", "error", err)
	} else {
		r.notifyQuiet("MAINPID=" + strconv.Itoa(pid) + "\n" + daemon.SdNotifyReady)
	}
	r.log.Info("the new process is ready; this one drains and exits", "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// child finds the process Upgrade started: this process's one child that
// runs the executable (tableflip does not name it). The threads' children
// lists are read first (quick: this process drains meanwhile); a kernel
// without them has every process looked at.
func (r *Restarter) child() (int, error) {
	var pids []string
	lists, _ := filepath.Glob("/proc/self/task/*/children")
	for _, l := range lists {
		if b, err := os.ReadFile(l); err == nil {
			pids = append(pids, strings.Fields(string(b))...)
		}
	}
	if pid, err := r.childAmong(pids); err == nil {
		return pid, nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("restart: the new process: %w", err)
	}
	pids = pids[:0]
	for _, e := range ents {
		pids = append(pids, e.Name())
	}
	return r.childAmong(pids)
}

// childAmong is child among the processes pids.
func (r *Restarter) childAmong(pids []string) (int, error) {
	self, found := os.Getpid(), []int{}
	for _, name := range pids {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", name, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold anything but ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(self) {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", name, "exe")); err == nil && exe == r.exe {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		return 0, fmt.Errorf("restart: %d child processes run %s, want 1", len(found), r.exe)
	}
	return found[0], nil
}

func (r *Restarter) lock(ctx context.Context) error {
	for !r.mu.TryLock() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("restart: waiting for another upgrade: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func (r *Restarter) notifyQuiet(state string) {
	if err := r.notify(state); err != nil {
		r.log.Warn("could not notify systemd", "state", state, "error", err)
	}
}

// Exit is closed once an Upgrade succeeded (or Stop was called): the
// process then stops accepting, drains and exits. Nil for a Restarter
// that cannot upgrade (it never closes).
func (r *Restarter) Exit() <-chan struct{} {
	if r.upg == nil {
		return nil
	}
	return r.upg.Exit()
}

// Stop refuses further upgrades; call it when the process stops.
func (r *Restarter) Stop() {
	if r.upg != nil {
		r.upg.Stop()
	}
}

// sdNotify sends state to systemd's NOTIFY_SOCKET, if any. It keeps the
// variable: a new process started by an upgrade needs it.
func sdNotify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

package pgembed

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
)

// pidFileName is the postmaster's lock file in the data directory.
const pidFileName = "postmaster.pid"

// processAlive reports whether pid names a process that has not exited
// (zombies count as exited).
func processAlive(pid int) bool {
	if pid <= 0 {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesized command name, which may itself hold ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return false
	}
	switch b[i+2] {
	case 'Z', 'X', 'x':
		return false
	}
	return true
}

// isServerOf reports whether pid is a live postgres process (postmaster or
// backend) working in dataDir: postgres processes chdir to their data directory.
func isServerOf(pid int, dataDir string) bool {
	if !processAlive(pid) {
		return false
	}
	comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return false
	}
	if c := strings.TrimSpace(string(comm)); c != "postgres" && c != "postmaster" {
		return false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	if err != nil {
		return false
	}
	return cwd == dataDir
}

// serverProcesses lists the live postgres processes working in dataDir.
func serverProcesses(dataDir string) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if isServerOf(pid, dataDir) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// readLockPID returns the pid on the first line of a postgres lock file
// (postmaster.pid or a socket's .lock); 0 when the file holds no valid pid.
func readLockPID(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	pid, err := strconv.Atoi(strings.TrimSpace(string(line)))
	if err != nil || pid <= 0 {
		return 0, nil
	}
	return pid, nil
}

// recoverStale prepares dataDir and sockDir after a run that did not end with
// a clean shutdown. The caller holds the directory's flock, so any postgres
// still serving dataDir was left behind by a dead owner and may be stopped.
func recoverStale(ctx context.Context, log hclog.Logger, dataDir, sockDir string) error {
	realData, err := filepath.EvalSymlinks(dataDir)
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}

	pidFile := filepath.Join(dataDir, pidFileName)
	pid, err := readLockPID(pidFile)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// Clean shutdown last time, or never started.
	case err != nil:
		return fmt.Errorf("pgembed: %w", err)
	default:
		if pid > 0 && isServerOf(pid, realData) {
			log.Warn("stopping a postgres left running on the data directory by a previous run", "pid", pid, "data", dataDir)
			if err := stopPIDs(ctx, func() []int {
				if isServerOf(pid, realData) {
					return []int{pid}
				}
				return nil
			}, []step{{syscall.SIGINT, 15 * time.Second}, {syscall.SIGQUIT, 5 * time.Second}, {syscall.SIGKILL, 5 * time.Second}}); err != nil {
				return fmt.Errorf("pgembed: stopping leftover postgres (pid %d): %w", pid, err)
			}
		}
		if err := os.Remove(pidFile); err == nil {
			log.Info("removed stale pid file", "path", pidFile, "pid", pid)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pgembed: removing stale pid file: %w", err)
		}
		// Backends of a postmaster that died (SIGKILL) notice it quickly and
		// exit, but while one holds the old shared memory the new server refuses
		// to start, so wait for them, then push.
		if err := stopPIDs(ctx, func() []int { return serverProcesses(realData) },
			[]step{{0, 5 * time.Second}, {syscall.SIGQUIT, 3 * time.Second}, {syscall.SIGKILL, 3 * time.Second}}); err != nil {
			return fmt.Errorf("pgembed: waiting for orphaned postgres processes: %w", err)
		}
	}

	// A socket lock names the postmaster that created it; ours are all gone now.
	lock := filepath.Join(sockDir, fmt.Sprintf(".s.PGSQL.%d.lock", port))
	if _, err := os.Stat(lock); err == nil {
		lpid, _ := readLockPID(lock)
		if lpid > 0 && isServerOf(lpid, realData) {
			return fmt.Errorf("%w: postgres pid %d still holds %s", ErrInUse, lpid, lock)
		}
		for _, p := range []string{lock, strings.TrimSuffix(lock, ".lock")} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("pgembed: removing stale socket: %w", err)
			}
		}
		log.Info("removed stale socket lock file", "path", lock, "pid", lpid)
	}
	return nil
}

// step is one escalation step: send sig (0: none) to every listed process,
// then wait up to wait for the list to empty.
type step struct {
	sig  syscall.Signal
	wait time.Duration
}

// stopPIDs escalates through steps until list returns no process, bounded by ctx.
func stopPIDs(ctx context.Context, list func() []int, steps []step) error {
	for _, s := range steps {
		pids := list()
		if len(pids) == 0 {
			return nil
		}
		if s.sig != 0 {
			for _, pid := range pids {
				_ = syscall.Kill(pid, s.sig)
			}
		}
		deadline := time.Now().Add(s.wait)
		for time.Now().Before(deadline) {
			if len(list()) == 0 {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	if pids := list(); len(pids) > 0 {
		return fmt.Errorf("processes %v did not exit", pids)
	}
	return nil
}

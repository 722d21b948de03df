package pgembed

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
)

const (
	// Superuser is the bootstrap superuser that initdb creates.
	Superuser = "websonic_admin"
	// port only names the socket file (.s.PGSQL.5432): the server has no TCP listener.
	port = 5432
	// maxSocketPath bounds the socket path (sun_path is 108 bytes on Linux).
	maxSocketPath = 100
)

// Config is the input of Start. It is read once; Start keeps no reference to it.
type Config struct {
	// Dir is the cluster directory, created (mode 0755) when missing. The data
	// lives in Dir/data; see the package doc for the full layout.
	Dir string
	// Logger receives the package's messages; server log lines go to
	// Logger.Named("postgres"). Nil discards everything.
	Logger hclog.Logger
	// BinDir, when set, is the directory holding initdb and postgres;
	// otherwise Start searches like FindBinDir, preferring the major version
	// of an existing data directory.
	BinDir string
	// Limits bound what the server may take from the machine; zero fields
	// take the defaults documented on Limits.
	Limits Limits
}

// Limits are the resource bounds of an embedded cluster: what PostgreSQL
// cannot bound per role, the install bounds per server process (see the
// package doc, "Resource bounds").
type Limits struct {
	// BackendMemory caps the private memory of every server process (the
	// data segment and private mappings: RLIMIT_DATA), so that one query
	// building a huge value fails with "out of memory" (SQLSTATE 53200)
	// instead of taking the machine's memory. Shared buffers are shared
	// mappings and do not count. At most MaxConnections such processes
	// serve sessions, beside the server's own (autovacuum, and the parallel
	// query workers a session may ask for: max_worker_processes, 8): the
	// server's memory stays under about (MaxConnections + 12) ×
	// BackendMemory plus shared buffers (256 MiB).
	BackendMemory int64
	// TempFileLimit caps the temporary files of one session (the
	// temp_file_limit setting, which only a superuser may change; 1 GiB).
	TempFileLimit int64
	// MaxConnections is the server's max_connections (100).
	MaxConnections int
}

// DefaultLimits are the limits a zero Limits takes.
var DefaultLimits = Limits{BackendMemory: 256 << 20, TempFileLimit: 1 << 30, MaxConnections: 100}

func (l Limits) withDefaults() Limits {
	if l.BackendMemory <= 0 {
		l.BackendMemory = DefaultLimits.BackendMemory
	}
	if l.TempFileLimit <= 0 {
		l.TempFileLimit = DefaultLimits.TempFileLimit
	}
	if l.MaxConnections <= 0 {
		l.MaxConnections = DefaultLimits.MaxConnections
	}
	return l
}

// Cluster is a running private PostgreSQL server started by Start. Its
// methods are safe for concurrent use.
type Cluster struct {
	log     hclog.Logger
	dir     string
	dataDir string
	sockDir string
	tmpSock bool     // sockDir is a temporary directory that Stop removes
	lock    *os.File // flock on Dir/.lock, held until Stop

	cmd     *exec.Cmd
	exited  chan struct{} // closed once the server process has been reaped
	waitErr error         // the server's exit status; read after exited is closed
	srvLog  *serverLog

	stopOnce sync.Once
	stopErr  error
}

// Start starts the cluster in cfg.Dir, running initdb first when Dir/data
// holds no cluster yet, and returns once the server accepts connections
// (measured here: about 1 s with initdb, 50 ms without, plus crash recovery).
// ctx bounds the whole start, including crash recovery of a previous run; it
// is not used after Start returns. On failure nothing keeps running.
func Start(ctx context.Context, cfg Config) (_ *Cluster, err error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	if cfg.Dir == "" {
		return nil, errors.New("pgembed: Config.Dir is empty")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	su, err := lookupServerUser()
	if err != nil {
		return nil, err
	}

	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("pgembed: %w", err)
		}
		if err := os.Chmod(dir, 0o755); err != nil {
			return nil, fmt.Errorf("pgembed: %w", err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("pgembed: %w", err)
	}
	if err := su.checkTraversable(dir); err != nil {
		return nil, err
	}

	c := &Cluster{
		log:     log,
		dir:     dir,
		dataDir: filepath.Join(dir, "data"),
		exited:  make(chan struct{}),
		srvLog:  newServerLog(log.Named("postgres")),
	}
	if err := c.acquireLock(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			c.release()
		}
	}()

	pgVersion, err := readPGVersion(c.dataDir)
	if err != nil {
		return nil, err
	}
	binDir := cfg.BinDir
	if binDir != "" {
		if err := checkBinDir(binDir); err != nil {
			return nil, err
		}
	} else if binDir, err = findBinDir(pgVersion, debianRoot); err != nil {
		return nil, err
	}
	major, err := serverMajor(binDir)
	if err != nil {
		return nil, err
	}
	if pgVersion != "" && pgVersion != major {
		return nil, fmt.Errorf("%w: %s was created by PostgreSQL %s but %s holds PostgreSQL %s; "+
			"install PostgreSQL %s (or set Config.BinDir to its bin directory), or upgrade the data with pg_upgrade",
			ErrVersionMismatch, c.dataDir, pgVersion, binDir, major, pgVersion)
	}

	if err := c.prepareSocketDir(su); err != nil {
		return nil, err
	}

	if pgVersion == "" {
		if err := c.initdb(ctx, binDir, su); err != nil {
			return nil, err
		}
	} else {
		if err := su.chownTree(c.dataDir); err != nil {
			return nil, err
		}
		if err := fixDataDirMode(c.dataDir); err != nil {
			return nil, err
		}
		if err := recoverStale(ctx, log, c.dataDir, c.sockDir); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	if err := c.spawn(binDir, su, cfg.Limits.withDefaults()); err != nil {
		return nil, err
	}
	if err := c.waitReady(ctx); err != nil {
		c.kill()
		return nil, err
	}
	log.Info("postgres ready", "version", major, "data", c.dataDir, "socket_dir", c.sockDir,
		"pid", c.cmd.Process.Pid, "user", su.String(), "startup", time.Since(start).Round(time.Millisecond))
	return c, nil
}

// acquireLock takes the exclusive flock on Dir/.lock that marks this Cluster
// as the directory's owner. The kernel drops it when the process dies.
func (c *Cluster) acquireLock() error {
	f, err := os.OpenFile(filepath.Join(c.dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	// A process this one forks holds the lock's open file description for
	// a moment, until it execs (the descriptor is close-on-exec): a lock
	// just released by a Cluster of this process may still look held.
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	for i := 0; errors.Is(err, syscall.EWOULDBLOCK) && i < 25; i++ {
		time.Sleep(20 * time.Millisecond)
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("%w: another process (or Cluster) is running the cluster in %s", ErrInUse, c.dir)
		}
		return fmt.Errorf("pgembed: locking %s: %w", f.Name(), err)
	}
	c.lock = f
	return nil
}

// release drops what Start acquired besides the process: the temporary
// socket directory and the directory lock.
func (c *Cluster) release() {
	if c.tmpSock {
		if err := os.RemoveAll(c.sockDir); err != nil {
			c.log.Warn("removing socket directory", "path", c.sockDir, "error", err)
		}
	}
	if c.lock != nil {
		c.lock.Close()
	}
}

// socketFile is the path of the server's socket in sockDir.
func socketFile(sockDir string) string {
	return filepath.Join(sockDir, ".s.PGSQL."+strconv.Itoa(port))
}

// prepareSocketDir picks Dir/run, or a temporary directory when Dir/run would
// make the socket path too long, and gives it to the server user, mode 0700.
func (c *Cluster) prepareSocketDir(su *serverUser) error {
	dir := filepath.Join(c.dir, "run")
	if len(socketFile(dir)) >= maxSocketPath {
		tmp, err := os.MkdirTemp("", "wspg-")
		if err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
		if len(socketFile(tmp)) >= maxSocketPath {
			os.RemoveAll(tmp)
			return fmt.Errorf("pgembed: socket path %s is too long (limit %d bytes): use a shorter Dir or TMPDIR",
				socketFile(tmp), maxSocketPath)
		}
		c.tmpSock = true
		dir = tmp
	} else if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("pgembed: %w", err)
	}
	c.sockDir = dir
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if err := su.chown(dir); err != nil {
		return err
	}
	return su.checkTraversable(dir)
}

// fixDataDirMode sets the data directory to 0700 unless it is 0700 or 0750,
// the only modes postgres accepts.
func fixDataDirMode(dataDir string) error {
	fi, err := os.Stat(dataDir)
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if p := fi.Mode().Perm(); p != 0o700 && p != 0o750 {
		if err := os.Chmod(dataDir, 0o700); err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
	}
	return nil
}

// serverEnv is the environment for initdb and postgres: ours without PG*
// variables (which would redirect them) and with the C locale for messages.
func serverEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "PG") || strings.HasPrefix(name, "LC_") || name == "LANG" || name == "LANGUAGE" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

// initdb creates the cluster in Dir/data.initdb and renames it to Dir/data,
// so that an interrupted initdb never leaves a half-made Dir/data behind.
func (c *Cluster) initdb(ctx context.Context, binDir string, su *serverUser) error {
	if entries, err := os.ReadDir(c.dataDir); err == nil && len(entries) > 0 {
		return fmt.Errorf("%w: %s is not empty but holds no PG_VERSION; move it away to let a new cluster be created",
			ErrBadDataDir, c.dataDir)
	}
	tmp := c.dataDir + ".initdb"
	var out []byte
	var err error
	for _, locale := range []string{"--locale=C.UTF-8", "--no-locale"} {
		if err := os.RemoveAll(tmp); err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
		if err := os.Mkdir(tmp, 0o700); err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
		if err := su.chown(tmp); err != nil {
			return err
		}
		cmd := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
			"-D", tmp, "-U", Superuser, "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", locale)
		cmd.Dir = c.dir
		cmd.Env = serverEnv()
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: su.credential(), Setpgid: true, Pdeathsig: syscall.SIGKILL}
		start := time.Now()
		out, err = cmd.CombinedOutput()
		c.log.Debug("initdb", "locale", locale, "took", time.Since(start).Round(time.Millisecond), "output", string(out))
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("%w: %w\n%s", ErrInitdb, err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmp, c.dataDir); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	c.log.Info("initialized new cluster", "data", c.dataDir)
	return nil
}

// spawn starts postgres as a direct child. The child is started from a
// goroutine locked to its OS thread, which stays alive until the child is
// reaped, because the parent-death signal fires when the creating thread
// (not process) exits.
func (c *Cluster) spawn(binDir string, su *serverUser, lim Limits) error {
	sockSetting := c.sockDir
	if strings.ContainsAny(sockSetting, `, "'\`) {
		if strings.Contains(sockSetting, `"`) {
			return fmt.Errorf("pgembed: socket directory %q may not contain a double quote", sockSetting)
		}
		sockSetting = `"` + sockSetting + `"`
	}
	args := []string{
		"-D", c.dataDir,
		"-c", "listen_addresses=",
		"-c", "port=" + strconv.Itoa(port),
		"-c", "unix_socket_directories=" + sockSetting,
		"-c", "unix_socket_permissions=0700",
		"-c", "logging_collector=off",
		"-c", "log_destination=stderr",
		"-c", "log_line_prefix=",
		"-c", "cluster_name=websonic",
		"-c", "max_connections=" + strconv.Itoa(lim.MaxConnections),
		"-c", "temp_file_limit=" + strconv.FormatInt(max(lim.TempFileLimit>>10, 1), 10) + "kB",
		"-c", "max_prepared_transactions=0",
	}
	// Go cannot set a child's resource limits between fork and exec, so the
	// shell does it and then becomes the server (same process, so the
	// parent-death signal and the pid stay). Lowering one's own limit needs
	// no privilege; a hard limit already lower is kept.
	kib := lim.BackendMemory >> 10
	var cur syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_DATA, &cur); err == nil && cur.Max != ^uint64(0) && int64(cur.Max>>10) < kib {
		kib = int64(cur.Max >> 10)
	}
	cmd := exec.Command("/bin/sh", append([]string{"-c", `ulimit -d "$1" && shift && exec "$@"`,
		"websonic-postgres", strconv.FormatInt(kib, 10), filepath.Join(binDir, "postgres")}, args...)...)
	cmd.Dir = c.dataDir
	cmd.Env = serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: su.credential(),
		Setpgid:    true,           // a terminal's Ctrl-C goes to us, not to the server
		Pdeathsig:  syscall.SIGINT, // fast shutdown when we die
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	cmd.Stdout = w
	cmd.Stderr = w
	c.cmd = cmd

	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()
	err = <-started
	w.Close()
	if err != nil {
		r.Close()
		return fmt.Errorf("pgembed: starting postgres: %w", err)
	}
	go c.srvLog.consume(r)
	return nil
}

// waitReady polls until the server accepts connections, exits, or ctx ends.
func (c *Cluster) waitReady(ctx context.Context) error {
	pidFile := filepath.Join(c.dataDir, pidFileName)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("%w (%v); server log:\n%s", ErrServerExited, c.waitErr, c.logTail())
		case <-ctx.Done():
			return fmt.Errorf("%w: %w; server log:\n%s", ErrStartTimeout, ctx.Err(), c.logTail())
		case <-tick.C:
		}
		if !pidFileReady(pidFile, c.cmd.Process.Pid) {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		conn, err := pgx.Connect(cctx, c.SuperuserURL("postgres"))
		if err == nil {
			conn.Close(cctx)
			cancel()
			return nil
		}
		cancel()
		c.log.Trace("server not accepting connections yet", "error", err)
	}
}

// pidFileReady reports whether postmaster.pid names pid and, where the
// server writes a status line (PostgreSQL 10 and later), says "ready".
func pidFileReady(path string, pid int) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	lines := strings.Split(string(b), "\n")
	if strings.TrimSpace(lines[0]) != strconv.Itoa(pid) {
		return false
	}
	if len(lines) < 8 || strings.TrimSpace(lines[7]) == "" {
		// No status line (yet): the server writes the socket line first.
		return len(lines) >= 6 && strings.TrimSpace(lines[5]) != ""
	}
	return strings.TrimSpace(lines[7]) == "ready"
}

// logTail returns the last server log lines, waiting briefly for the log
// stream to drain once the server is gone.
func (c *Cluster) logTail() string {
	select {
	case <-c.exited:
		select {
		case <-c.srvLog.done:
		case <-time.After(time.Second):
		}
	default:
	}
	return c.srvLog.Tail()
}

// kill stops the server the hard way: immediate shutdown (SIGQUIT), then SIGKILL.
func (c *Cluster) kill() {
	for _, s := range []step{{syscall.SIGQUIT, 10 * time.Second}, {syscall.SIGKILL, 10 * time.Second}} {
		_ = c.cmd.Process.Signal(s.sig)
		select {
		case <-c.exited:
			return
		case <-time.After(s.wait):
			c.log.Warn("postgres did not exit", "signal", s.sig.String())
		}
	}
}

// SuperuserURL returns a URL connecting to database dbname as the bootstrap
// superuser over the unix socket. Hand it to nobody but trusted setup code.
func (c *Cluster) SuperuserURL(dbname string) string {
	return socketURL(Superuser, dbname, c.sockDir)
}

// SocketDir returns the directory holding the server's unix socket.
func (c *Cluster) SocketDir() string { return c.sockDir }

// DataDir returns the server's data directory (Dir/data).
func (c *Cluster) DataDir() string { return c.dataDir }

// Done returns a channel closed when the server process has exited, whether
// through Stop or not; a runtime watches it to notice a crashed database.
func (c *Cluster) Done() <-chan struct{} { return c.exited }

// Stop shuts the server down with a fast shutdown (SIGINT: sessions are
// ended, open transactions rolled back, a checkpoint is written) and waits for
// it to exit. If ctx ends first, Stop falls back to an immediate shutdown
// (SIGQUIT, then SIGKILL) and returns an error wrapping ErrStopTimeout; the
// data stays safe either way, but pass a fresh context (say 30 s), not the
// one whose cancellation triggered the shutdown. Stop is idempotent: later
// calls return the first call's result. It returns nil when the server had
// already exited. Stop releases Dir for the next Start.
func (c *Cluster) Stop(ctx context.Context) error {
	c.stopOnce.Do(func() { c.stopErr = c.stop(ctx) })
	return c.stopErr
}

func (c *Cluster) stop(ctx context.Context) error {
	var err error
	select {
	case <-c.exited:
		if c.waitErr != nil {
			c.log.Warn("postgres had already exited", "status", c.waitErr)
		}
	default:
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.exited:
		case <-ctx.Done():
			c.log.Warn("fast shutdown timed out; forcing an immediate shutdown", "error", ctx.Err())
			c.kill()
			err = fmt.Errorf("%w: %w", ErrStopTimeout, ctx.Err())
		}
	}
	select {
	case <-c.srvLog.done:
	case <-time.After(time.Second):
	}
	c.release()
	c.log.Info("postgres stopped", "data", c.dataDir)
	return err
}

// socketURL builds a postgres URL for user and dbname over the socket in sockDir.
func socketURL(user, dbname, sockDir string) string {
	q := url.Values{"host": {sockDir}, "port": {strconv.Itoa(port)}, "sslmode": {"disable"}}
	u := url.URL{Scheme: "postgres", User: url.User(user), Path: "/" + dbname, RawQuery: q.Encode()}
	return u.String()
}

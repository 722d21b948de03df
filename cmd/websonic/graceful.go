package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/restart"
	"github.com/websonic/websonic/runtime/server"
)

// graceful are serve's flags of graceful restarts and self-updates.
type graceful struct {
	selfUpdate   string
	readyTimeout time.Duration
}

func (g *graceful) register(fs *flagSet) {
	fs.StringVar(&g.selfUpdate, "self-update", env("WEBSONIC_SELF_UPDATE", "notify"), "the runtime's own updates from --registry unless the owner set a policy (websonic runtime policy): auto (install, restart into them), notify (record them), pinned, or off (no checks, whatever the owner set) (WEBSONIC_SELF_UPDATE)")
	fs.DurationVar(&g.readyTimeout, "restart-timeout", 60*time.Second, "how long a new process (SIGHUP, a self-update) has to serve before it is killed and this one serves on (WEBSONIC_RESTART_TIMEOUT)")
	fs.fromEnv("restart-timeout", "WEBSONIC_RESTART_TIMEOUT")
}

// restarter opens the process's Restarter: disabled on an embedded
// PostgreSQL, which stops with the process that started it.
func (g *graceful) restarter(databaseURL string, log hclog.Logger) (*restart.Restarter, error) {
	cfg := restart.Config{ReadyTimeout: g.readyTimeout, Logger: log.Named("restart")}
	if databaseURL == "" {
		cfg.Disabled = "the embedded PostgreSQL stops with the process that started it: pass --database-url"
	}
	return restart.New(cfg)
}

// apply fills cfg's listeners, readiness and self-update from r.
func (g *graceful) apply(cfg *server.Config, r *restart.Restarter, version string, ready func()) error {
	cfg.Listen, cfg.Serving = r.Listen, ready
	policy := server.UpdatePolicy(g.selfUpdate)
	cfg.SelfUpdate = server.SelfUpdate{Policy: policy, Version: version, OS: runtime.GOOS, Arch: runtime.GOARCH, Executable: r.Executable(), Upgraded: r.Upgraded()}
	if ok, why := r.Supported(); ok {
		cfg.SelfUpdate.Restart = r.UpgradeWith
	} else {
		cfg.SelfUpdate.CannotRestart = why
	}
	if policy != "" && policy != server.PolicyOff && policy != server.PolicyAuto && policy != server.PolicyNotify && policy != server.PolicyPinned {
		return fmt.Errorf("serve: --self-update %q: want auto, notify, pinned or off", g.selfUpdate)
	}
	return nil
}

// followRestarts restarts on SIGHUP (the same binary; systemd's reload)
// until ctx ends, and cancels stop when the process must exit: a restart
// succeeded, and the new process serves.
func followRestarts(ctx context.Context, r *restart.Restarter, stop context.CancelFunc, log hclog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-r.Exit():
				log.Info("a new process serves; draining and exiting")
				stop()
				return
			case <-hup:
				log.Info("SIGHUP: restarting gracefully")
				if err := r.Upgrade(ctx); err != nil {
					log.Error("graceful restart failed; this process serves on", "error", err)
				}
			}
		}
	}()
}

// whenReady returns serve's Config.Serving: once the server answers
// /readyz, it tells the restarter (and systemd), then the self-updater,
// which records a self-update that this process completes.
func whenReady(ctx context.Context, r *restart.Restarter, srv func() *server.Server, log hclog.Logger) func() {
	return func() {
		go func() {
			for ctx.Err() == nil {
				s := srv()
				if err := s.Ready(ctx); err != nil {
					log.Warn("not ready yet", "error", err)
					select {
					case <-ctx.Done():
					case <-time.After(500 * time.Millisecond):
					}
					continue
				}
				if err := r.Ready(); err != nil {
					log.Error("telling the previous process that this one serves", "error", err)
				}
				s.RuntimeStarted(ctx)
				return
			}
		}()
	}
}

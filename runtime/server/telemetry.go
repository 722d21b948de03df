package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/logstore"
	"github.com/websonic/websonic/runtime/internal/telemetry"
)

// openTelemetry sets up what the admin area shows of the runtime itself:
// a store of recent log entries, fed by a tee of the server's logger (its
// output stays exactly as it was), and a sampler of the server's own
// metrics registry, which Serve runs. Both are in memory, per process.
func (s *Server) openTelemetry() error {
	lc := s.cfg.Logs
	if lc.Skip == nil {
		lc.Skip = accessLogEntry
	}
	s.logs = logstore.New(lc)
	s.log = logstore.Tee(s.log, s.logs)
	s.cfg.Logger = s.log
	tc := s.cfg.Telemetry
	tc.Gatherer, tc.Logger = s.reg, s.log.Named("telemetry")
	var err error
	if s.telemetry, err = telemetry.New(tc); err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// accessLogEntry picks the access log's line per request (logger "http"
// and its sub-loggers, below Warn) out of the log store: the request
// figures are the sampler's, and the lines would crowd every other entry
// out. Its warnings and errors (a panic serving a request) are kept.
func accessLogEntry(name string, level hclog.Level, _ string) bool {
	if level >= hclog.Warn {
		return false
	}
	return strings.Contains("."+name+".", ".http.")
}

// serveTelemetry runs the sampler until ctx ends or the returned stop is
// called.
func (s *Server) serveTelemetry(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.telemetry.Run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

// Telemetry is the runtime's metrics history for the admin area: per
// module calls, errors, latency, memory and instances, and the site's
// requests (package telemetry). It fills while Serve runs; tests may call
// its Sample.
func (s *Server) Telemetry() *telemetry.Sampler { return s.telemetry }

// Logs is the store of the runtime's and its modules' recent log entries
// (package logstore), for the admin area's system logs.
func (s *Server) Logs() *logstore.Store { return s.logs }

// adminRuntime is what the admin area's dashboard and system logs read of
// the server (admin.Runtime).
type adminRuntime struct{ s *Server }

func (r adminRuntime) Ping(ctx context.Context) error { return r.s.db.Pool.Ping(ctx) }

func (r adminRuntime) Running() []admin.RunningModule {
	var out []admin.RunningModule
	for _, m := range r.s.Modules() {
		out = append(out, admin.RunningModule{Name: m.Manifest().Name, Version: m.Manifest().Version})
	}
	return out
}

func (r adminRuntime) Problems() []admin.ModuleProblem {
	var out []admin.ModuleProblem
	for _, p := range r.s.ModuleProblems() {
		out = append(out, admin.ModuleProblem{Module: p.Module, Detail: p.String()})
	}
	return out
}

func (r adminRuntime) Telemetry() *telemetry.Sampler { return r.s.telemetry }
func (r adminRuntime) Logs() *logstore.Store         { return r.s.logs }

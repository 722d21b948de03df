package admin

import (
	"context"

	"github.com/websonic/websonic/runtime/internal/logstore"
	"github.com/websonic/websonic/runtime/internal/telemetry"
)

// Runtime is what the dashboard and the system logs page read of the
// running runtime (package server implements it).
type Runtime interface {
	// Ping says whether the database answers.
	Ping(ctx context.Context) error
	// Running lists the modules that serve, with their versions.
	Running() []RunningModule
	// Problems lists the modules that did not start.
	Problems() []ModuleProblem
	// Telemetry is the runtime's metrics history.
	Telemetry() *telemetry.Sampler
	// Logs is the store of recent log entries.
	Logs() *logstore.Store
}

// RunningModule is a module that serves.
type RunningModule struct{ Name, Version string }

// ModuleProblem is a module that did not start: Module ("" when its
// manifest did not load), and what happened, for the owner.
type ModuleProblem struct{ Module, Detail string }

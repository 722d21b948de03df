package server

import (
	"context"

	"github.com/websonic/websonic/runtime/internal/updater"
)

// The runtime's self-update (package updater's runtime.go; the graceful
// restart is package internal/restart), as `websonic serve` and
// `websonic runtime` use it.
type (
	// SelfUpdate is Config.SelfUpdate.
	SelfUpdate = updater.RuntimeConfig
	// UpdatePolicy is a policy: auto, notify, pinned (or off, a runtime's).
	UpdatePolicy = updater.Policy
	// RuntimeState is the site's runtime update record.
	RuntimeState = updater.RuntimeState
)

// The self-update policies.
const (
	PolicyAuto   = updater.PolicyAuto
	PolicyNotify = updater.PolicyNotify
	PolicyPinned = updater.PolicyPinned
	PolicyOff    = updater.PolicyOff
)

// The runtime requests (`websonic runtime update|policy`).
const (
	RuntimeUpdate = updater.ActionRuntimeUpdate
	RuntimePolicy = updater.ActionRuntimePolicy
)

// RuntimeStarted tells the self-updater that this process serves (it
// records a self-update this process completes); nothing without a
// registry.
func (s *Server) RuntimeStarted(ctx context.Context) {
	if s.updater != nil {
		s.updater.RuntimeStarted(ctx)
	}
}

// Runtime returns the site's runtime update record and its newest
// runtime update events (at most events).
func (c *Console) Runtime(ctx context.Context, events int) (*RuntimeState, []UpdateEvent, error) {
	st, err := updater.RuntimeStateFrom(ctx, c.db.Pool)
	if err != nil {
		return nil, nil, err
	}
	evs, err := updater.RuntimeEventsFrom(ctx, c.db.Pool, events)
	return st, evs, err
}

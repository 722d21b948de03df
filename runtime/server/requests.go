package server

import (
	"context"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/updater"
)

// ModuleRequest asks the running runtime to install, roll back or approve
// a module, or to change its update policy.
type ModuleRequest = updater.Request

// InstalledModule is a module installed from the registry.
type InstalledModule = updater.Installed

// UpdateEvent is a recorded install, update, rollback, refusal or alert.
type UpdateEvent = updater.Event

// openCore opens the runtime's database (sharing a running runtime's
// embedded PostgreSQL) without starting anything else.
func openCore(ctx context.Context, cfg Config) (*database, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return openDatabase(ctx, cfg, "websonic cli", log)
}

// Request sends r to the runtime serving cfg's database and waits up to
// wait for its answer. Any replica may answer; with none running, the
// request stays queued and runs when a runtime starts.
func Request(ctx context.Context, cfg Config, r ModuleRequest, wait time.Duration) (string, error) {
	db, err := openCore(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer db.Close()
	id, err := updater.Enqueue(ctx, db.Pool, r)
	if err != nil {
		return "", err
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return updater.Wait(wctx, db.Pool, id)
}

// Installed lists the modules installed from the registry and the newest
// update events (at most events).
func Installed(ctx context.Context, cfg Config, events int) ([]InstalledModule, []UpdateEvent, error) {
	db, err := openCore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	ins, err := updater.ListFrom(ctx, db.Pool)
	if err != nil {
		return nil, nil, err
	}
	evs, err := updater.EventsFrom(ctx, db.Pool, events)
	return ins, evs, err
}

package server

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/sandboxdb"
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

// ModuleStorage is what a module stores against its quota.
type ModuleStorage struct {
	Module string
	Used   int64  // bytes, at the last check
	Quota  int64  // bytes: the module's own, else the site's default
	Own    bool   // the owner set this module's quota
	State  string // ok, near (90% or more), exceeded (database access suspended)
}

// Storage lists every module's storage as last measured by a running
// runtime (sandboxdb.Broker.CheckStorage).
func Storage(ctx context.Context, cfg Config) ([]ModuleStorage, error) {
	db, err := openCore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	def := cfg.ModuleStorageQuota
	if def <= 0 {
		def = sandboxdb.DefaultStorageQuota
	}
	rows, err := db.Pool.Query(ctx, `SELECT name, storage_used, coalesce(storage_quota, $1), storage_quota IS NOT NULL, storage_state
		FROM websonic.modules ORDER BY name`, def)
	if err != nil {
		return nil, fmt.Errorf("server: storage: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ModuleStorage])
	if err != nil {
		return nil, fmt.Errorf("server: storage: %w", err)
	}
	return out, nil
}

// SetStorageQuota sets a module's own storage quota (0: back to the site's
// default); running runtimes apply it at their next check, lifting a
// suspension the new quota covers.
func SetStorageQuota(ctx context.Context, cfg Config, module string, bytes int64) error {
	db, err := openCore(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	b := sandboxdb.New(sandboxdb.Config{DB: db.Pool, Roles: db.Roles})
	return b.SetQuota(ctx, module, bytes)
}

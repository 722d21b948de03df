package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// ModuleRequest asks the running runtime to install, roll back or approve
// a module, or to change its update policy.
type ModuleRequest = updater.Request

// InstalledModule is a module installed from the registry.
type InstalledModule = updater.Installed

// UpdateEvent is a recorded install, update, rollback, refusal or alert.
type UpdateEvent = updater.Event

// RequestState is what became of a module request so far.
type RequestState = updater.RequestState

// ModulePreview is what an install or approve would do.
type ModulePreview = updater.Preview

// Errors of the owner's commands.
var (
	// ErrNoSite: the data directory or database holds no site.
	ErrNoSite = errors.New("server: no site")
	// ErrNoRuntime: no runtime answers module requests on the site (none
	// runs); nothing was queued.
	ErrNoRuntime = updater.ErrNoRuntime
)

// Console is an existing site as the owner's commands see it (admin
// create, module install…): its database, and the runtimes serving it
// through the request queue. It never creates a site: OpenConsole fails
// with ErrNoSite where there is none.
type Console struct {
	db *database
}

// OpenConsole opens the site whose data directory or database cfg names
// (sharing a running runtime's embedded PostgreSQL, or starting it for the
// command's duration), without starting anything else. Only DataDir,
// DatabaseURL and Logger are read.
func OpenConsole(ctx context.Context, cfg Config) (*Console, error) {
	log := cfg.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	db, err := openDatabase(ctx, cfg, "websonic cli", true, log)
	if err != nil {
		return nil, err
	}
	return &Console{db: db}, nil
}

// Close closes the connections, and stops the embedded PostgreSQL if the
// console started it.
func (c *Console) Close() error { return c.db.Close() }

// CreateAdmin creates an admin account on the site; errors are the site's
// (invalid or taken username, weak password…), fit for the user.
func (c *Console) CreateAdmin(ctx context.Context, username, displayName, email, password string) (int64, error) {
	u, err := site.NewStore(c.db.Pool).CreateUser(ctx, site.NewUser{
		Username: username, DisplayName: displayName, Email: email, Password: password, Role: site.RoleAdmin,
	})
	if err != nil {
		return 0, err
	}
	return u.ID, nil
}

// Listeners counts the runtimes answering module requests on the site.
func (c *Console) Listeners(ctx context.Context) (int, error) {
	return updater.Listeners(ctx, c.db.Pool)
}

// RequestOptions tune Console.Request.
type RequestOptions struct {
	// Wait bounds the wait for the answer (5 minutes).
	Wait time.Duration
	// Progress, when not nil, sees the request's state when it is queued,
	// on every change and every 15 s.
	Progress func(RequestState)
	// Actor says who sends the request, for the audit log ("terminal"
	// when empty).
	Actor string
}

func (o RequestOptions) actor() string {
	if o.Actor == "" {
		return "terminal"
	}
	return o.Actor
}

// Request sends r to the runtimes serving the site and waits for the
// answer; any replica may take it. With no runtime answering it queues
// nothing and fails with ErrNoRuntime. When the wait ends first, a
// request no runtime took is cancelled, and the error (an
// *updater.RequestError) says exactly what became of it: never taken,
// taken and still running, or taken by a runtime that stopped.
func (c *Console) Request(ctx context.Context, r ModuleRequest, opts RequestOptions) (string, error) {
	_, res, err := c.request(ctx, r, opts)
	return res, err
}

// request is Request, and the request's id (0: none queued).
func (c *Console) request(ctx context.Context, r ModuleRequest, opts RequestOptions) (int64, string, error) {
	if opts.Wait <= 0 {
		opts.Wait = 5 * time.Minute
	}
	n, err := c.Listeners(ctx)
	if err != nil {
		return 0, "", err
	}
	if n == 0 {
		return 0, "", ErrNoRuntime
	}
	id, err := updater.Enqueue(ctx, c.db.Pool, r)
	if err != nil {
		return 0, "", err
	}
	wctx, cancel := context.WithTimeout(ctx, opts.Wait)
	defer cancel()
	res, err := updater.Wait(wctx, c.db.Pool, id, opts.Progress)
	return id, res, err
}

// Preview asks a runtime what the install or approve r would do, without
// doing it. Sending r again with Digest set to the preview's installs
// exactly that release, or fails.
func (c *Console) Preview(ctx context.Context, r ModuleRequest, opts RequestOptions) (*ModulePreview, error) {
	r.DryRun = true
	res, err := c.Request(ctx, r, opts)
	if err != nil {
		return nil, err
	}
	var p ModulePreview
	if err := json.Unmarshal([]byte(res), &p); err != nil {
		return nil, fmt.Errorf("server: the runtime's preview: %w", err)
	}
	return &p, nil
}

// Installed lists the modules installed from the registry and the newest
// update events (at most events).
func (c *Console) Installed(ctx context.Context, events int) ([]InstalledModule, []UpdateEvent, error) {
	ins, err := updater.ListFrom(ctx, c.db.Pool)
	if err != nil {
		return nil, nil, err
	}
	evs, err := updater.EventsFrom(ctx, c.db.Pool, events)
	return ins, evs, err
}

// Request opens the site's console, sends r and waits up to wait (see
// Console.Request).
func Request(ctx context.Context, cfg Config, r ModuleRequest, wait time.Duration) (string, error) {
	c, err := OpenConsole(ctx, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.Request(ctx, r, RequestOptions{Wait: wait})
}

// Installed opens the site's console and lists its modules and newest
// update events (see Console.Installed).
func Installed(ctx context.Context, cfg Config, events int) ([]InstalledModule, []UpdateEvent, error) {
	c, err := OpenConsole(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	return c.Installed(ctx, events)
}

// ModuleStorage is what a module stores against its quota.
type ModuleStorage struct {
	Module  string
	Used    int64     // bytes, at the last check
	Quota   int64     // bytes, as applied at the last check (0: not checked yet)
	Own     int64     // the module's own quota set by the owner (0: the site's default)
	State   string    // ok, near (90% or more), exceeded (database access suspended)
	Checked time.Time // the last check (zero: none yet)
}

// Storage lists every module's storage as a running runtime last measured
// it (sandboxdb.Broker.CheckStorage).
func (c *Console) Storage(ctx context.Context) ([]ModuleStorage, error) {
	rows, err := c.db.Pool.Query(ctx, `SELECT name, storage_used, coalesce(storage_limit, 0), coalesce(storage_quota, 0), storage_state,
		coalesce(storage_checked_at, 'epoch') FROM websonic.modules ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("server: storage: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ModuleStorage])
	if err != nil {
		return nil, fmt.Errorf("server: storage: %w", err)
	}
	for i := range out {
		if out[i].Checked.Unix() == 0 {
			out[i].Checked = time.Time{}
		}
	}
	return out, nil
}

// SetStorageQuota sets a module's own storage quota (0: back to the site's
// default); running runtimes apply it at their next check, lifting a
// suspension the new quota covers.
func (c *Console) SetStorageQuota(ctx context.Context, module string, bytes int64) error {
	b := sandboxdb.New(sandboxdb.Config{DB: c.db.Pool, Roles: c.db.Roles})
	return b.SetQuota(ctx, module, bytes)
}

// Storage opens the site's console and lists its modules' storage (see
// Console.Storage).
func Storage(ctx context.Context, cfg Config) ([]ModuleStorage, error) {
	c, err := OpenConsole(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Storage(ctx)
}

// SetStorageQuota opens the site's console and sets a module's quota (see
// Console.SetStorageQuota).
func SetStorageQuota(ctx context.Context, cfg Config, module string, bytes int64) error {
	c, err := OpenConsole(ctx, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.SetStorageQuota(ctx, module, bytes)
}

var _ updater.DB = (*pgxpool.Pool)(nil)

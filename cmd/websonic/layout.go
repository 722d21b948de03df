package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/server"
)

// The data layout, in this one place, so that `make run` and the commands
// a site owner types next agree on where the site is:
//
//	data/          the site's data folder, every site command's --data-dir
//	               (serve, admin create, module install…, and dev's site):
//	               postgres/ (embedded PostgreSQL), cache/, updates/
//	data/dev/      what `websonic dev` (make run) adds: registry/ (the local
//	               registry and its PostgreSQL), keys/ (development keys,
//	               token, root.json), publisher/ (the publisher's metadata),
//	               dev.json (the running dev's addresses) and dev.lock
const defaultDataDir = "data"

// devDir is where `websonic dev` keeps its registry and keys, inside the
// site's data folder.
func devDir(dataDir string) string { return filepath.Join(dataDir, "dev") }

// config is the server configuration of the site the flags name.
func (c *common) config(log hclog.Logger) server.Config {
	return server.Config{DataDir: c.dataDir, DatabaseURL: c.databaseURL, Logger: log}
}

// where names the site for messages: its database, or its data folder.
func (c *common) where() string {
	if c.databaseURL != "" {
		if pc, err := pgx.ParseConfig(c.databaseURL); err == nil {
			return fmt.Sprintf("database %q on %s", pc.Database, pc.Host) // never the password
		}
		return "the database of --database-url"
	}
	return c.dataDir
}

// openSite is what a site command starts with: its logger, a context that
// ends on SIGINT or SIGTERM, and the site's console (see console). done
// closes the console and stops listening for signals.
func (c *common) openSite(cmd string, stderr io.Writer) (ctx context.Context, console *server.Console, done func(), err error) {
	log, err := c.logger(stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, stop := signalContext()
	if console, err = c.console(ctx, cmd, log); err != nil {
		stop()
		return nil, nil, nil, err
	}
	return ctx, console, func() { console.Close(); stop() }, nil
}

// console opens the existing site the flags name, for command cmd; with no
// site there, the error names the folder or database and the flag to fix.
func (c *common) console(ctx context.Context, cmd string, log hclog.Logger) (*server.Console, error) {
	console, err := server.OpenConsole(ctx, c.config(log.Named("cli")))
	if errors.Is(err, server.ErrNoSite) {
		return nil, fmt.Errorf("%s: no site in %s: %s", cmd, c.where(), c.noSiteHint())
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd, err)
	}
	return console, nil
}

// noSiteHint says how to point a command at the right site.
func (c *common) noSiteHint() string {
	if c.databaseURL != "" {
		return "it holds no Web Sonic site; pass the database `websonic serve` uses with --database-url (or WEBSONIC_DATABASE_URL)"
	}
	// A folder holding a site one level down (an older `make run` kept it
	// in data/site).
	if entries, err := os.ReadDir(c.dataDir); err == nil {
		for _, e := range entries {
			sub := filepath.Join(c.dataDir, e.Name())
			if _, err := os.Stat(filepath.Join(sub, "postgres", "data", "PG_VERSION")); err == nil && e.Name() != "dev" {
				return fmt.Sprintf("it holds no site, but %s does: pass --data-dir %s", sub, sub)
			}
		}
	}
	return fmt.Sprintf("it holds no site; pass the data folder `websonic serve` uses with --data-dir (or WEBSONIC_DATA_DIR; `make run` uses %s), "+
		"or its database with --database-url", defaultDataDir)
}

// openListing parses the flags of a command that lists the site's state
// with its recent events (the common ones and --events, about what:
// "update", "theme update", "runtime update") and opens the site.
func openListing(cmd, what string, args []string, stdout, stderr io.Writer) (ctx context.Context, console *server.Console, events int, done func(), err error) {
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	n := fs.Int("events", 10, "how many recent "+what+" events to show")
	if err := fs.parse(args); err != nil {
		return nil, nil, 0, nil, err
	}
	ctx, console, done, err = c.openSite(cmd, stderr)
	return ctx, console, *n, done, err
}

// sendRequest opens the site, sends r through its request queue, waits
// (at most wait) for the runtime that takes it, and prints its answer:
// theme install|rollback|policy|uninstall and runtime update|policy.
func (c *common) sendRequest(cmd string, r server.ModuleRequest, wait time.Duration, stdout, stderr io.Writer) error {
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	result, err := console.Request(ctx, r, server.RequestOptions{Wait: wait, Progress: progress(stderr)})
	if err != nil {
		return c.requestError(cmd, err)
	}
	fmt.Fprintln(stdout, result)
	return nil
}

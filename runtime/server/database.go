package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/pgembed"
	"github.com/websonic/websonic/runtime/internal/coredb"
)

// Names of the database and role the runtime makes on its embedded cluster.
const (
	embeddedDB   = "websonic"
	embeddedRole = "websonic_runtime"
)

// openDatabase connects to url, or with url == "" starts (or shares) the
// embedded cluster under dataDir, then applies the core migrations.
func openDatabase(ctx context.Context, url, dataDir, app string, log hclog.Logger) (*pgembed.DB, error) {
	return openSiteDatabase(ctx, url, dataDir, app, false, log)
}

// openSiteDatabase is openDatabase that, with existing, only opens a site
// that exists (ErrNoSite otherwise).
func openSiteDatabase(ctx context.Context, url, dataDir, app string, existing bool, log hclog.Logger) (*pgembed.DB, error) {
	if dataDir == "" {
		dataDir = "data"
	}
	migrate := coredb.Migrate
	if existing {
		migrate = siteMigrate
	}
	db, err := pgembed.Open(ctx, pgembed.OpenConfig{
		URL: url, DataDir: dataDir, Database: embeddedDB, Role: embeddedRole,
		AppName: app, Logger: log, Migrate: migrate, MustExist: existing,
	})
	switch {
	case errors.Is(err, pgembed.ErrNotFound):
		return nil, fmt.Errorf("%w in %s: %w", ErrNoSite, dataDir, err)
	case errors.Is(err, ErrNoSite):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("server: %w", err)
	}
	return db, nil
}

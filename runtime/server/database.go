package server

import (
	"context"
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
	if dataDir == "" {
		dataDir = "data"
	}
	db, err := pgembed.Open(ctx, pgembed.OpenConfig{
		URL: url, DataDir: dataDir, Database: embeddedDB, Role: embeddedRole,
		AppName: app, Logger: log, Migrate: coredb.Migrate,
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return db, nil
}

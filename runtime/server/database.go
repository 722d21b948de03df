package server

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgembed"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/dbroles"
	"github.com/websonic/websonic/runtime/internal/sitedump"
)

// Names of the database and role the runtime makes on its embedded cluster.
const (
	embeddedDB   = "websonic"
	embeddedRole = "websonic_runtime"
)

// database is the runtime's database: the serving role's pool, which
// everything but role changes uses; the narrow path to roles (package
// dbroles) over the provisioning role's own small pool; and the embedded
// cluster when this process runs it.
type database struct {
	Pool    *pgxpool.Pool
	Roles   *dbroles.Roles
	Cluster *pgembed.Cluster // nil with an external URL or a shared cluster
	prov    *pgembed.DB
}

// openDatabase connects to cfg.DatabaseURL, or with none starts (or
// shares) the embedded cluster under cfg.DataDir; makes sure the serving
// role exists, and connects as it and applies the core migrations. With
// existing (the owner's commands), it only opens a site that exists:
// nothing is made where there is none (ErrNoSite).
func openDatabase(ctx context.Context, cfg Config, app string, existing bool, log hclog.Logger) (*database, error) {
	dataDir := cfg.DataDir
	if dataDir == "" {
		dataDir = "data"
	}
	prov, err := pgembed.Open(ctx, pgembed.OpenConfig{
		URL: cfg.DatabaseURL, DataDir: dataDir, Database: embeddedDB, Role: embeddedRole,
		AppName: app + " (roles)", MaxConns: 2, Logger: log, Limits: cfg.DatabaseLimits, MustExist: existing,
	})
	switch {
	case errors.Is(err, pgembed.ErrNotFound):
		return nil, fmt.Errorf("%w in %s: %w", ErrNoSite, dataDir, err)
	case err != nil:
		return nil, fmt.Errorf("server: %w", err)
	}
	if existing {
		// Before any role or schema is made: a database without the core
		// schema holds no site.
		var exists bool
		if err := prov.Pool.QueryRow(ctx, `SELECT pg_catalog.to_regclass('websonic.users') IS NOT NULL`).Scan(&exists); err != nil {
			return nil, errors.Join(fmt.Errorf("server: %w", err), prov.Close())
		}
		if !exists {
			pc := prov.Pool.Config().ConnConfig
			return nil, errors.Join(fmt.Errorf("%w in database %q on %s: it has no websonic schema (`websonic serve` makes it on its first start)",
				ErrNoSite, pc.Database, pc.Host), prov.Close())
		}
	}
	cdb, err := coredb.Open(ctx, coredb.OpenConfig{
		Provisioning: prov.Pool, RolePrefix: cfg.RolePrefix, AppName: app, Logger: log.Named("dbroles"),
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("server: %w", err), prov.Close())
	}
	d := &database{Pool: cdb.Pool, Roles: cdb.Roles, Cluster: prov.Cluster, prov: prov}
	if missing, err := d.Roles.Hardening(ctx); err != nil {
		log.Warn("could not check the database's bounds", "error", err)
	} else {
		for _, m := range missing {
			log.Warn("database bound missing: ask its administrator (see runtime/internal/dbroles)", "missing", m)
		}
	}
	return d, nil
}

// Close closes both pools and stops the cluster this process started.
func (d *database) Close() error {
	d.Pool.Close()
	return d.prov.Close()
}

// dumpConfig is the dump engine's configuration for the site (backups and
// site moves). Scratch databases are made by the provisioning role, which
// pgembed.Provision, install.sh and the Kubernetes Job give CREATEDB
// (Hardening names the statement on an external server without it): one
// path whether the cluster is this process's, another process's, or a
// server's.
func (d *database) dumpConfig(log hclog.Logger) sitedump.Config {
	return sitedump.Config{Serving: d.Pool, Roles: d.Roles, Scratch: sitedump.ProvisioningScratch(d.prov.Pool), Logger: log.Named("sitedump")}
}

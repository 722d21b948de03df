package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgembed"
	"github.com/websonic/websonic/runtime/internal/coredb"
)

// Names of the database and role the runtime makes on its embedded cluster.
const (
	embeddedDB   = "websonic"
	embeddedRole = "websonic_runtime"
)

// database is the runtime's PostgreSQL: a pool, and the embedded cluster
// behind it when there is one.
type database struct {
	pool    *pgxpool.Pool
	cluster *pgembed.Cluster // nil with an external URL
}

// openDatabase connects to url, or with url == "" starts the embedded
// cluster under dataDir, then applies the core migrations.
func openDatabase(ctx context.Context, url, dataDir string, log hclog.Logger) (_ *database, err error) {
	db := &database{}
	defer func() {
		if err != nil {
			db.close()
		}
	}()
	if url == "" {
		dir := filepath.Join(dataDir, "postgres")
		var superuser string
		c, err := pgembed.Start(ctx, pgembed.Config{Dir: dir, Logger: log.Named("postgres")})
		switch {
		case err == nil:
			db.cluster = c
			superuser = c.SuperuserURL("postgres")
		case errors.Is(err, pgembed.ErrInUse):
			// A running runtime owns the cluster: share it.
			if superuser, err = pgembed.Attach(ctx, dir, "postgres"); err != nil {
				return nil, fmt.Errorf("server: embedded PostgreSQL is in use by another process and could not be reached: %w", err)
			}
			log.Info("using the embedded PostgreSQL of the runtime already running on this data directory")
		case errors.Is(err, pgembed.ErrNoBinaries):
			return nil, fmt.Errorf("server: no database: %w (or pass --database-url / set WEBSONIC_DATABASE_URL)", err)
		default:
			return nil, fmt.Errorf("server: embedded PostgreSQL: %w", err)
		}
		if url, err = pgembed.Provision(ctx, superuser, embeddedDB, embeddedRole); err != nil {
			return nil, fmt.Errorf("server: embedded PostgreSQL: %w", err)
		}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("server: database URL: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "websonic runtime"
	if db.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return nil, fmt.Errorf("server: database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.pool.Ping(pctx); err != nil {
		return nil, fmt.Errorf("server: database %s: %w", cfg.ConnConfig.Host, err)
	}
	if err := coredb.Migrate(ctx, db.pool); err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return db, nil
}

func (db *database) close() error {
	if db.pool != nil {
		db.pool.Close()
	}
	if db.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return db.cluster.Stop(ctx)
	}
	return nil
}

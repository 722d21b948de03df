package pgembed

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"
)

// OpenConfig configures Open.
type OpenConfig struct {
	// URL names an external PostgreSQL; "" starts (or shares) the
	// embedded cluster under DataDir/postgres.
	URL string
	// DataDir holds the embedded cluster.
	DataDir string
	// Database and Role are what Provision creates on the embedded
	// cluster for the application.
	Database, Role string
	// AppName is the connections' application_name.
	AppName string
	// MaxConns bounds the pool; 0 keeps pgxpool's default (the larger of
	// 4 and the number of CPUs).
	MaxConns int32
	// Limits bound the embedded cluster (DefaultLimits); unused with URL.
	Limits Limits
	// MustExist is for commands that only act on an existing application:
	// the embedded cluster under DataDir and its Database must already
	// exist. Open then never runs initdb, never creates the folder, the
	// role or the database, and fails with ErrNotFound instead. With a URL
	// it changes nothing (the server exists; the caller checks its schema).
	MustExist bool
	// Migrate brings the database's schema up to date; nil for none.
	Migrate func(context.Context, *pgxpool.Pool) error
	Logger  hclog.Logger
}

// ErrNotFound is Open with MustExist finding no cluster under DataDir, or
// no Database in it; the error names the folder or the database.
var ErrNotFound = errors.New("pgembed: no such database")

// DB is an application's PostgreSQL: a pool, and the embedded cluster
// behind it when this process started one.
type DB struct {
	Pool    *pgxpool.Pool
	Cluster *Cluster // nil with an external URL or a shared cluster
}

// Open connects to cfg.URL or, with no URL, starts the embedded cluster
// (sharing it when another process on the same data dir runs it),
// provisions a non-superuser role owning the database, connects as that
// role and runs cfg.Migrate. With cfg.MustExist it only opens what exists
// (ErrNotFound otherwise). On error nothing is left running.
func Open(ctx context.Context, cfg OpenConfig) (_ *DB, err error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	db := &DB{}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	url := cfg.URL
	if url == "" {
		dir := filepath.Join(cfg.DataDir, "postgres")
		if cfg.MustExist {
			if v, err := readPGVersion(filepath.Join(dir, "data")); err != nil {
				return nil, err
			} else if v == "" {
				return nil, fmt.Errorf("%w: %s holds no embedded PostgreSQL (no %s)", ErrNotFound, cfg.DataDir, filepath.Join(dir, "data"))
			}
		}
		var superuser string
		c, err := Start(ctx, Config{Dir: dir, Logger: cfg.Logger.Named("postgres"), Limits: cfg.Limits})
		switch {
		case err == nil:
			db.Cluster = c
			superuser = c.SuperuserURL("postgres")
		case errors.Is(err, ErrInUse):
			if superuser, err = Attach(ctx, dir, "postgres"); err != nil {
				return nil, fmt.Errorf("embedded PostgreSQL is in use by another process and could not be reached: %w", err)
			}
			cfg.Logger.Info("using the embedded PostgreSQL of the process already running on this data directory")
		case errors.Is(err, ErrNoBinaries):
			return nil, fmt.Errorf("no database: %w (or pass --database-url / set WEBSONIC_DATABASE_URL)", err)
		default:
			return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
		}
		if cfg.MustExist {
			if err := databaseExists(ctx, superuser, cfg.Database, cfg.DataDir); err != nil {
				return nil, err
			}
		}
		if url, err = Provision(ctx, superuser, cfg.Database, cfg.Role); err != nil {
			return nil, fmt.Errorf("embedded PostgreSQL: %w", err)
		}
	}
	pc, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("database URL: %w", err)
	}
	if cfg.MaxConns > 0 {
		pc.MaxConns = cfg.MaxConns
	}
	if cfg.AppName != "" {
		pc.ConnConfig.RuntimeParams["application_name"] = cfg.AppName
	}
	if db.Pool, err = pgxpool.NewWithConfig(ctx, pc); err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.Pool.Ping(pctx); err != nil {
		return nil, fmt.Errorf("database %s: %w", pc.ConnConfig.Host, err)
	}
	if cfg.Migrate != nil {
		if err := cfg.Migrate(ctx, db.Pool); err != nil {
			return nil, err
		}
	}
	return db, nil
}

// databaseExists returns ErrNotFound unless the cluster of superuserURL
// (under dataDir) has a database named dbname.
func databaseExists(ctx context.Context, superuserURL, dbname, dataDir string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := connectSuperuser(ctx, superuserURL)
	if err != nil {
		return fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, dbname).Scan(&exists); err != nil {
		return fmt.Errorf("embedded PostgreSQL: %w", err)
	}
	if !exists {
		return fmt.Errorf("%w: the embedded PostgreSQL in %s has no database %q", ErrNotFound, dataDir, dbname)
	}
	return nil
}

// Close closes the pool and stops the cluster this process started.
func (db *DB) Close() error {
	if db.Pool != nil {
		db.Pool.Close()
	}
	if db.Cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return db.Cluster.Stop(ctx)
	}
	return nil
}

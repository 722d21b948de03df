// Package coredb owns the runtime's core schema: users, sessions, the audit
// log, installed modules, and the websonic_api views that modules may be
// granted. Migrate brings a database up to date; it is safe to call from
// several runtime replicas at once (a table lock serialises them).
//
// The runtime is given one role, with CREATEROLE and ownership of the
// database (never SUPERUSER); Open uses it only through package dbroles, to
// make the serving role that owns the core schema and serves requests.
package coredb

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/migrate"
	"github.com/websonic/websonic/runtime/internal/dbroles"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrMigrate wraps migration failures.
var ErrMigrate = errors.New("coredb: migrate")

// Migrate applies the core migrations that the database has not seen yet,
// all in one transaction (see package migrate).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := migrate.Apply(ctx, pool, migrations, "migrations", "websonic_schema_migrations"); err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	return nil
}

// Execer is the part of pgx's pool, conn and tx that Audit needs.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Audit appends an event to the audit log. actorID 0 means the system;
// detail is marshalled to JSON (nil for none).
func Audit(ctx context.Context, db Execer, actorID int64, action, subject string, detail any) error {
	if detail == nil {
		detail = struct{}{}
	}
	var actor *int64
	if actorID != 0 {
		actor = &actorID
	}
	if _, err := db.Exec(ctx, `INSERT INTO websonic.audit_log (actor_id, action, subject, detail) VALUES ($1, $2, $3, $4)`,
		actor, action, subject, detail); err != nil {
		return fmt.Errorf("coredb: audit %s: %w", action, err)
	}
	return nil
}

// OpenConfig configures Open.
type OpenConfig struct {
	// Provisioning is the pool of the role the runtime was given (the
	// database URL's; pgembed.Provision makes it on the embedded cluster):
	// CREATEROLE and owner of the database. Only package dbroles uses it.
	Provisioning *pgxpool.Pool
	// RolePrefix starts the names of the roles the runtime makes (see
	// dbroles.Config.Prefix: "" takes the site's).
	RolePrefix string
	// AppName is the serving pool's application_name.
	AppName string
	// MaxConns bounds the serving pool (pgxpool's default).
	MaxConns int32
	Logger   hclog.Logger
}

// DB is the runtime's database: the serving role's pool, which serves
// requests and owns the core schema, and the narrow path to roles.
type DB struct {
	Pool  *pgxpool.Pool
	Roles *dbroles.Roles
}

// Open makes sure the serving role exists (package dbroles), connects as
// it and applies the core migrations. The caller closes DB.Pool; the
// provisioning pool stays the caller's.
func Open(ctx context.Context, cfg OpenConfig) (*DB, error) {
	roles, err := dbroles.New(ctx, dbroles.Config{Pool: cfg.Provisioning, Prefix: cfg.RolePrefix, Logger: cfg.Logger})
	if err != nil {
		return nil, err
	}
	pool, err := roles.OpenServing(ctx, dbroles.ServingConfig{AppName: cfg.AppName, MaxConns: cfg.MaxConns})
	if err != nil {
		return nil, err
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{Pool: pool, Roles: roles}, nil
}

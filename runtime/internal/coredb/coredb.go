// Package coredb owns the runtime's core schema: users, sessions, the audit
// log, installed modules, and the websonic_api views that modules may be
// granted. Migrate brings a database up to date; it is safe to call from
// several runtime replicas at once (a table lock serialises them).
//
// The runtime's own database role needs: ownership of the database (or
// CREATE on it) to create the websonic and module schemas, and CREATEROLE to
// create one LOGIN role per module. It never needs SUPERUSER.
package coredb

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/migrate"
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

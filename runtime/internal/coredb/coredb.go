// Package coredb owns the runtime's core schema: users, sessions, the audit
// log, installed modules, and the websonic_api views that modules may be
// granted. Migrate brings a database up to date; it is safe to call from
// several runtime replicas at once (an advisory lock serialises them).
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
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// lockKey is the advisory lock that serialises migrations ("websonic" in
// ASCII, truncated to fit an int64).
const lockKey int64 = 0x77656273_6f6e6963

// ErrMigrate wraps migration failures.
var ErrMigrate = errors.New("coredb: migrate")

// Migrate applies the core migrations that the database has not seen yet,
// each in its own transaction.
func Migrate(ctx context.Context, pool *pgxpool.Pool) (err error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, lockKey); err != nil {
		return fmt.Errorf("%w: lock: %w", ErrMigrate, err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockKey) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS public.websonic_schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	sort.Strings(names)
	for _, name := range names {
		var done bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.websonic_schema_migrations WHERE name = $1)`, name).Scan(&done); err != nil {
			return fmt.Errorf("%w: %w", ErrMigrate, err)
		}
		if done {
			continue
		}
		sql, err := migrations.ReadFile(name)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrMigrate, err)
		}
		if err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO public.websonic_schema_migrations (name) VALUES ($1)`, name)
			return err
		}); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMigrate, name, err)
		}
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

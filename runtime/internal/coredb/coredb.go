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
	"io/fs"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrMigrate wraps migration failures.
var ErrMigrate = errors.New("coredb: migrate")

// Migrate applies the core migrations that the database has not seen yet,
// all in one transaction. Runtime replicas starting together serialise on
// a lock of the migrations table, which module roles cannot take (an
// advisory lock they could).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	create := `CREATE TABLE IF NOT EXISTS public.websonic_schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`
	if _, err := pool.Exec(ctx, create); err != nil {
		// Two replicas creating it at once: one loses the race; try again.
		if _, err := pool.Exec(ctx, create); err != nil {
			return fmt.Errorf("%w: %w", ErrMigrate, err)
		}
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	sort.Strings(names)
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE public.websonic_schema_migrations IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("%w: lock: %w", ErrMigrate, err)
		}
		for _, name := range names {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM public.websonic_schema_migrations WHERE name = $1)`, name).Scan(&done); err != nil {
				return fmt.Errorf("%w: %w", ErrMigrate, err)
			}
			if done {
				continue
			}
			sql, err := migrations.ReadFile(name)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrMigrate, err)
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrMigrate, name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO public.websonic_schema_migrations (name) VALUES ($1)`, name); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrMigrate, name, err)
			}
		}
		return nil
	})
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

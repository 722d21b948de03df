// Package migrate applies embedded SQL migrations to PostgreSQL: forward
// only, each file once, all pending ones in one transaction. Runtime and
// registry replicas starting together serialise on a lock of the tracking
// table — a lock no other role can take, unlike an advisory lock, which any
// role (a module's, say) could hold to block the start.
package migrate

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ErrMigrate wraps every migration failure.
var ErrMigrate = errors.New("migrate")

var tableRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Apply runs the files matching dir/*.sql in fsys, in name order, that the
// tracking table public.<table> has not recorded yet.
func Apply(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS, dir, table string) error {
	if !tableRE.MatchString(table) {
		return fmt.Errorf("%w: bad tracking table name %q", ErrMigrate, table)
	}
	t := pgx.Identifier{"public", table}.Sanitize()
	create := `CREATE TABLE IF NOT EXISTS ` + t + ` (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`
	if _, err := pool.Exec(ctx, create); err != nil {
		// Two replicas creating it at once: one loses the race; try again.
		if _, err := pool.Exec(ctx, create); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrMigrate, table, err)
		}
	}
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	sort.Strings(names)
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE `+t+` IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("%w: lock %s: %w", ErrMigrate, table, err)
		}
		for _, name := range names {
			var done bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+t+` WHERE name = $1)`, name).Scan(&done); err != nil {
				return fmt.Errorf("%w: %w", ErrMigrate, err)
			}
			if done {
				continue
			}
			sql, err := fs.ReadFile(fsys, name)
			if err != nil {
				return fmt.Errorf("%w: %w", ErrMigrate, err)
			}
			if _, err := tx.Exec(ctx, string(sql)); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrMigrate, name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+t+` (name) VALUES ($1)`, name); err != nil {
				return fmt.Errorf("%w: %s: %w", ErrMigrate, name, err)
			}
		}
		return nil
	})
}

package sandboxdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/coredb"
)

// Storage states of a module (websonic.modules.storage_state).
const (
	stateOK       = "ok"
	stateNear     = "near"     // at least nearFraction of the quota
	stateExceeded = "exceeded" // database access suspended
)

const nearFraction = 0.9

// ErrSuspended is returned by Open for a module whose database access is
// suspended because it used more than its storage quota.
var ErrSuspended = errors.New("sandboxdb: database access suspended")

func exceededReason(used, quota int64) string {
	return fmt.Sprintf("storage quota exceeded: %s used of %s; the site owner must raise the module's quota (websonic module quota)",
		FormatBytes(used), FormatBytes(quota))
}

// FormatBytes writes n in binary units, for people.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

// Usage is one module's storage.
type Usage struct {
	Module string
	Used   int64 // bytes
	Quota  int64 // bytes
	State  string
}

// StorageUsed measures what a module's schema holds: every table,
// materialized view and sequence with its indexes and TOAST data, plus
// the source of its functions and the comments on its objects (both live in
// the shared catalogs but are the module's to fill). It reads only sizes
// and catalogs, as the serving role, and runs nothing the module made.
// Sizing a relation waits for the module's locks on it (at most one call's
// deadline: transactions never outlive a call).
func (b *Broker) StorageUsed(ctx context.Context, module string) (int64, error) {
	var used int64
	err := pgx.BeginFunc(ctx, b.cfg.DB, func(tx pgx.Tx) error {
		if err := checkSafe(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '60s'`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `WITH n AS (SELECT oid FROM pg_catalog.pg_namespace WHERE nspname = $1)
			SELECT coalesce((SELECT sum(CASE WHEN c.relkind IN ('r', 'm') THEN pg_catalog.pg_total_relation_size(c.oid)
			                                 ELSE pg_catalog.pg_relation_size(c.oid) END)
			                 FROM pg_catalog.pg_class c, n WHERE c.relnamespace = n.oid AND c.relkind IN ('r', 'm', 'S')), 0)
			     + coalesce((SELECT sum(pg_catalog.octet_length(p.prosrc)) FROM pg_catalog.pg_proc p, n WHERE p.pronamespace = n.oid), 0)
			     + coalesce((SELECT sum(pg_catalog.octet_length(d.description)) FROM pg_catalog.pg_description d
			                 JOIN pg_catalog.pg_class c ON d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objoid = c.oid, n
			                 WHERE c.relnamespace = n.oid), 0)`, Schema(module)).Scan(&used)
	})
	if err != nil {
		return 0, fmt.Errorf("sandboxdb: storage of %s: %w", module, err)
	}
	return used, nil
}

// CheckStorage measures every provisioned module's storage, records it
// (websonic.modules: storage_used, storage_state) and applies its quota
// (websonic.modules.storage_quota, else Config.StorageQuota):
//
//   - reaching 90% records an alert for the owner;
//   - exceeding it suspends the module's database access: its role may no
//     longer connect (PostgreSQL enforces it), its pools close their
//     connections, and every database call of the module answers an error
//     naming the quota, while its routes keep serving. PostgreSQL cannot
//     stop a table's owner from writing its own table, and the module must
//     own its tables to migrate them, so the connection is the boundary.
//   - going back under it (the owner raised the quota) restores access.
//
// Every change is recorded in websonic.update_events (outcome 'alert') and
// the audit log. Replicas agree through the recorded state: each applies
// it to its own pools.
func (b *Broker) CheckStorage(ctx context.Context) ([]Usage, error) {
	rows, err := b.cfg.DB.Query(ctx, `SELECT name, coalesce(storage_quota, $1), storage_state FROM websonic.modules ORDER BY name`, b.cfg.StorageQuota)
	if err != nil {
		return nil, fmt.Errorf("sandboxdb: check storage: %w", err)
	}
	type mod struct {
		Name  string
		Quota int64
		State string
	}
	mods, err := pgx.CollectRows(rows, pgx.RowToStructByPos[mod])
	if err != nil {
		return nil, fmt.Errorf("sandboxdb: check storage: %w", err)
	}
	var out []Usage
	var errs []error
	for _, m := range mods {
		used, err := b.StorageUsed(ctx, m.Name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		u := Usage{Module: m.Name, Used: used, Quota: m.Quota, State: stateOK}
		switch {
		case used > m.Quota:
			u.State = stateExceeded
		case float64(used) >= nearFraction*float64(m.Quota):
			u.State = stateNear
		}
		if err := b.applyStorage(ctx, u, m.State); err != nil {
			errs = append(errs, err)
		}
		out = append(out, u)
	}
	return out, errors.Join(errs...)
}

// applyStorage records u and, on a change of state, tells the owner and
// suspends or restores the module.
func (b *Broker) applyStorage(ctx context.Context, u Usage, was string) error {
	err := pgx.BeginFunc(ctx, b.cfg.DB, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE websonic.modules SET storage_used = $2, storage_state = $3, storage_limit = $4, storage_checked_at = now() WHERE name = $1`,
			u.Module, u.Used, u.State, u.Quota); err != nil {
			return err
		}
		if u.State == was {
			return nil
		}
		var reason, action string
		switch u.State {
		case stateExceeded:
			reason, action = exceededReason(u.Used, u.Quota)+"; its database access is suspended", "module.storage_suspended"
		case stateNear:
			reason, action = fmt.Sprintf("storage nearly full: %s used of %s", FormatBytes(u.Used), FormatBytes(u.Quota)), "module.storage_near"
		default:
			reason, action = fmt.Sprintf("storage back under quota: %s used of %s", FormatBytes(u.Used), FormatBytes(u.Quota)), "module.storage_ok"
		}
		if was == stateExceeded {
			reason += "; database access restored"
		}
		if _, err := tx.Exec(ctx, `INSERT INTO websonic.update_events (module, outcome, reason) VALUES ($1, 'alert', $2)`, u.Module, reason); err != nil {
			return err
		}
		b.log.Warn("module storage", "module", u.Module, "state", u.State, "used", u.Used, "quota", u.Quota)
		return coredb.Audit(ctx, tx, 0, action, u.Module, map[string]any{"used": u.Used, "quota": u.Quota})
	})
	if err != nil {
		return fmt.Errorf("sandboxdb: storage of %s: %w", u.Module, err)
	}
	return b.suspend(ctx, u.Module, u.State == stateExceeded, exceededReason(u.Used, u.Quota))
}

// suspend applies the module's storage state to its role and to the pools
// this runtime holds. It is idempotent.
func (b *Broker) suspend(ctx context.Context, module string, on bool, reason string) error {
	b.mu.Lock()
	var dbs []*ModuleDB
	for d := range b.open[module] {
		dbs = append(dbs, d)
	}
	b.mu.Unlock()
	limit := 2 * b.cfg.ConnLimit
	if on {
		limit = 0
	}
	if err := b.cfg.Roles.SetConnLimit(ctx, b.Role(module), limit); err != nil {
		return err
	}
	for _, d := range dbs {
		if on {
			if d.suspended.Swap(&reason) == nil {
				d.pool.Reset()
			}
		} else {
			d.suspended.Store(nil)
		}
	}
	return nil
}

// WatchStorage runs CheckStorage every interval until ctx ends.
func (b *Broker) WatchStorage(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := b.CheckStorage(ctx); err != nil && ctx.Err() == nil {
			b.log.Warn("checking module storage", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// SetQuota sets a module's own storage quota (0: the runtime's default).
// The next CheckStorage applies it.
func (b *Broker) SetQuota(ctx context.Context, module string, bytes int64) error {
	var q *int64
	if bytes > 0 {
		q = &bytes
	}
	tag, err := b.cfg.DB.Exec(ctx, `UPDATE websonic.modules SET storage_quota = $2 WHERE name = $1`, module, q)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("no module %q", module)
	}
	if err != nil {
		return fmt.Errorf("sandboxdb: quota of %s: %w", module, err)
	}
	return nil
}

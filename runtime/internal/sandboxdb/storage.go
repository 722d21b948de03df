package sandboxdb

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/bytesize"
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
		bytesize.Format(used), bytesize.Format(quota))
}

// Usage is one module's storage.
type Usage struct {
	Module string
	Used   int64 // bytes
	Quota  int64 // bytes
	State  string
}

// StorageUsed measures what a module holds: the relations it has (tables,
// materialized views and sequences, with their indexes and TOAST data) and
// every catalog row that defines one of its objects. A module keeps data
// in the catalogs too, by defining objects: the queries of its views, its
// defaults, constraints, policies, rules, index expressions, trigger
// arguments, function bodies and argument defaults, aggregate states,
// comments (each up to a gigabyte); all of it is counted.
//
// Its objects are found the way PostgreSQL tracks them, so no kind of
// object is left out: everything in its schema (pg_depend), everything its
// role owns in the database, wherever it is (pg_shdepend: a public schema
// everyone may write, on PostgreSQL 14), and what depends on those
// (pg_depend again: rules, defaults, constraints, triggers, policies,
// indexes, TOAST tables, row and array types); then the rows that hang on
// an object without a dependency of their own (columns, comments,
// aggregate, index and partition details, enum labels, ranges) and the
// role's own settings. Catalog rows count at their stored size: the sum of
// pg_column_size over their columns, which reads a TOASTed value's size
// without fetching it (pg_column_size of a whole row would detoast every
// value into the checker's memory). Catalogs the serving role may not read
// whole (none of which a module can add to) are left out.
//
// It reads only sizes and catalogs, as the serving role, and runs nothing
// the module made. Sizing a relation waits for the module's locks on it
// (at most one call's deadline: transactions never outlive a call).
func (b *Broker) StorageUsed(ctx context.Context, module string) (int64, error) {
	var used int64
	err := pgx.BeginFunc(ctx, b.cfg.DB, func(tx pgx.Tx) error {
		if err := checkSafe(ctx, tx); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SET LOCAL lock_timeout = '60s'`); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, moduleObjects, Schema(module), b.Role(module))
		if err != nil {
			return err
		}
		type catalog struct {
			Name string
			Oids []uint32
		}
		cats, err := pgx.CollectRows(rows, pgx.RowToStructByPos[catalog])
		if err != nil {
			return err
		}
		cols, err := b.catalogColumns(ctx, tx)
		if err != nil {
			return err
		}
		q, args := storageQuery(b.Role(module))
		for _, c := range cats {
			sub, ok := catalogSize[c.Name]
			if !ok {
				sub = genericCatalogSize
			}
			args = append(args, c.Oids)
			q += " + " + strings.NewReplacer("$CAT", "pg_catalog."+c.Name, "$OIDS", fmt.Sprintf("$%d::pg_catalog.oid[]", len(args))).Replace(sub)
		}
		q, err = expandRowSizes(q, cols)
		if err != nil {
			return err
		}
		return tx.QueryRow(ctx, q, args...).Scan(&used)
	})
	if err != nil {
		return 0, fmt.Errorf("sandboxdb: storage of %s: %w", module, err)
	}
	return used, nil
}

// moduleObjects lists the objects of a module ($1 its schema, $2 its
// role) by catalog: see StorageUsed. Catalog names are those of
// pg_catalog's own tables, which contain no character to quote.
const moduleObjects = `WITH RECURSIVE objs(classid, objid) AS (
		SELECT d.classid, d.objid FROM pg_catalog.pg_depend d JOIN pg_catalog.pg_namespace n
		    ON d.refclassid = 'pg_catalog.pg_namespace'::pg_catalog.regclass AND d.refobjid = n.oid
		 WHERE n.nspname = $1
		UNION
		SELECT s.classid, s.objid FROM pg_catalog.pg_shdepend s JOIN pg_catalog.pg_roles r
		    ON s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass AND s.refobjid = r.oid
		 WHERE r.rolname = $2 AND s.deptype = 'o'
		   AND s.dbid = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
		UNION
		SELECT d.classid, d.objid FROM pg_catalog.pg_depend d JOIN objs o ON d.refclassid = o.classid AND d.refobjid = o.objid)
	SELECT c.relname::pg_catalog.text, pg_catalog.array_agg(DISTINCT o.objid)
	  FROM objs o JOIN pg_catalog.pg_class c ON c.oid = o.classid
	  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'pg_catalog'
	 WHERE pg_catalog.starts_with(c.relname, 'pg_') AND c.relname !~ '[^a-z_]' AND pg_catalog.has_table_privilege(c.oid, 'SELECT')
	 GROUP BY c.relname`

// storageQuery starts the size query with what belongs to the module's
// role besides its objects: its settings.
func storageQuery(role string) (string, []any) {
	return `SELECT coalesce((SELECT pg_catalog.sum(ROWSIZE(s pg_db_role_setting)) FROM pg_catalog.pg_db_role_setting s
		JOIN pg_catalog.pg_roles r ON r.oid = s.setrole WHERE r.rolname = $1), 0)::pg_catalog.int8`, []any{role}
}

// genericCatalogSize is the stored size of the rows of $CAT with oids
// $OIDS, and of the comments on them. ROWSIZE(alias catalog) stands for
// the stored size of a row (expandRowSizes).
const genericCatalogSize = `coalesce((SELECT pg_catalog.sum(ROWSIZE(x $CAT)) FROM $CAT x WHERE x.oid = ANY($OIDS)), 0)
	+ coalesce((SELECT pg_catalog.sum(ROWSIZE(d pg_description)) FROM pg_catalog.pg_description d
	            WHERE d.classoid = '$CAT'::pg_catalog.regclass AND d.objoid = ANY($OIDS)), 0)`

// rowSizeRE matches ROWSIZE(alias catalog), the catalog with or without
// its schema.
var rowSizeRE = regexp.MustCompile(`ROWSIZE\((\w+) (?:pg_catalog\.)?(\w+)\)`)

// expandRowSizes writes out every ROWSIZE(alias catalog) of q as the sum of
// pg_column_size over the catalog's columns (cols).
func expandRowSizes(q string, cols map[string][]string) (string, error) {
	var missing error
	q = rowSizeRE.ReplaceAllStringFunc(q, func(m string) string {
		sm := rowSizeRE.FindStringSubmatch(m)
		alias, names := sm[1], cols[sm[2]]
		if len(names) == 0 {
			missing = fmt.Errorf("no columns known for catalog %s", sm[2])
			return "0"
		}
		terms := make([]string, len(names))
		for i, n := range names {
			terms[i] = "coalesce(pg_catalog.pg_column_size(" + alias + "." + pgx.Identifier{n}.Sanitize() + "), 0)"
		}
		return "(" + strings.Join(terms, " + ") + ")::pg_catalog.int8"
	})
	return q, missing
}

// catalogColumns returns the columns of pg_catalog's tables by table,
// read once: they are the server's and do not change while it runs.
func (b *Broker) catalogColumns(ctx context.Context, tx pgx.Tx) (map[string][]string, error) {
	b.mu.Lock()
	cols := b.catCols
	b.mu.Unlock()
	if cols != nil {
		return cols, nil
	}
	rows, err := tx.Query(ctx, `SELECT c.relname::pg_catalog.text, pg_catalog.array_agg(a.attname::pg_catalog.text ORDER BY a.attnum)
		FROM pg_catalog.pg_class c JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid
		WHERE c.relnamespace = 'pg_catalog'::pg_catalog.regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
		GROUP BY c.relname`)
	if err != nil {
		return nil, err
	}
	type table struct {
		Name string
		Cols []string
	}
	tables, err := pgx.CollectRows(rows, pgx.RowToStructByPos[table])
	if err != nil {
		return nil, err
	}
	cols = make(map[string][]string, len(tables))
	for _, t := range tables {
		cols[t.Name] = t.Cols
	}
	b.mu.Lock()
	b.catCols = cols
	b.mu.Unlock()
	return cols, nil
}

// catalogSize adds, for the catalogs whose objects own rows elsewhere, those
// rows (keyed by the object's oid, with no dependency of their own), and
// for relations their storage.
var catalogSize = map[string]string{
	"pg_class": genericCatalogSize + `
		+ coalesce((SELECT pg_catalog.sum(CASE WHEN c.relkind IN ('r', 'm') THEN pg_catalog.pg_total_relation_size(c.oid)
		                                       WHEN c.relkind = 'S' THEN pg_catalog.pg_relation_size(c.oid) ELSE 0 END)
		            FROM pg_catalog.pg_class c WHERE c.oid = ANY($OIDS)), 0)
		+ coalesce((SELECT pg_catalog.sum(ROWSIZE(a pg_attribute)) FROM pg_catalog.pg_attribute a WHERE a.attrelid = ANY($OIDS)), 0)
		+ coalesce((SELECT pg_catalog.sum(ROWSIZE(i pg_index)) FROM pg_catalog.pg_index i WHERE i.indexrelid = ANY($OIDS)), 0)
		+ coalesce((SELECT pg_catalog.sum(ROWSIZE(p pg_partitioned_table)) FROM pg_catalog.pg_partitioned_table p WHERE p.partrelid = ANY($OIDS)), 0)
		+ coalesce((SELECT pg_catalog.sum(ROWSIZE(s pg_sequence)) FROM pg_catalog.pg_sequence s WHERE s.seqrelid = ANY($OIDS)), 0)`,
	"pg_proc": genericCatalogSize + `
		+ coalesce((SELECT pg_catalog.sum(ROWSIZE(g pg_aggregate)) FROM pg_catalog.pg_aggregate g WHERE g.aggfnoid::pg_catalog.oid = ANY($OIDS)), 0)`,
	"pg_type": genericCatalogSize + `
		+ coalesce((SELECT pg_catalog.sum(ROWSIZE(e pg_enum)) FROM pg_catalog.pg_enum e WHERE e.enumtypid = ANY($OIDS)), 0)
		+ coalesce((SELECT pg_catalog.sum(ROWSIZE(r pg_range)) FROM pg_catalog.pg_range r WHERE r.rngtypid = ANY($OIDS)), 0)`,
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
			reason, action = fmt.Sprintf("storage nearly full: %s used of %s", bytesize.Format(u.Used), bytesize.Format(u.Quota)), "module.storage_near"
		default:
			reason, action = fmt.Sprintf("storage back under quota: %s used of %s", bytesize.Format(u.Used), bytesize.Format(u.Quota)), "module.storage_ok"
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

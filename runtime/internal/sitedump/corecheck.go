package sitedump

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// coreCode lists what, in a scratch database a stream was restored into,
// would run code the stream brought as the serving role: the runtime's
// core schemas hold tables, sequences, indexes, constraints and views
// only, so the serving role (which restored them, and so owns all it
// restored) must own no function, procedure, aggregate, operator or type
// other than its relations' row types, no trigger, rule (but a view's)
// or row security policy, and no extension but plpgsql may be there.
// Without this check, a dump from a hostile source could carry, say, a
// CHECK constraint calling its own function, which Replace's staging step
// would run as the serving role in the live database, where that role
// owns every live schema; even a dry run would.
const coreCode = `
SELECT 'function ' || p.oid::pg_catalog.regprocedure::pg_catalog.text FROM pg_catalog.pg_proc p
	WHERE p.proowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
UNION ALL
SELECT 'operator ' || o.oid::pg_catalog.regoperator::pg_catalog.text FROM pg_catalog.pg_operator o
	WHERE o.oprowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
UNION ALL
SELECT 'type ' || t.oid::pg_catalog.regtype::pg_catalog.text FROM pg_catalog.pg_type t
	WHERE t.typowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
	AND t.typrelid = 0
	AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_type e WHERE e.oid = t.typelem AND e.typrelid <> 0)
UNION ALL
SELECT 'trigger ' || g.tgname::pg_catalog.text || ' on ' || g.tgrelid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_trigger g
	JOIN pg_catalog.pg_class c ON c.oid = g.tgrelid
	WHERE NOT g.tgisinternal AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
UNION ALL
SELECT 'rule ' || r.rulename::pg_catalog.text || ' on ' || r.ev_class::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_rewrite r
	JOIN pg_catalog.pg_class c ON c.oid = r.ev_class
	WHERE r.rulename <> '_RETURN' AND c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
UNION ALL
SELECT 'policy ' || y.polname::pg_catalog.text || ' on ' || y.polrelid::pg_catalog.regclass::pg_catalog.text FROM pg_catalog.pg_policy y
	JOIN pg_catalog.pg_class c ON c.oid = y.polrelid
	WHERE c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = current_user)
UNION ALL
SELECT 'extension ' || x.extname::pg_catalog.text FROM pg_catalog.pg_extension x WHERE x.extname <> 'plpgsql'
ORDER BY 1 LIMIT 20`

// checkCoreCode fails with ErrFormat when the scratch database db, into
// which a stream was restored, holds code of the serving role's (see
// coreCode). It runs before anything of the stream reaches the live
// database.
func (s *site) checkCoreCode(ctx context.Context, db string) error {
	conn, err := s.serving.as("", "", db).connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(ctx, coreCode)
	if err != nil {
		return fmt.Errorf("code in the core schemas: %w", err)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("code in the core schemas: %w", err)
	}
	if len(found) > 0 {
		return fmt.Errorf("%w: its core schemas hold code the runtime never makes, refused before it could run on this site: %s",
			ErrFormat, strings.Join(found, ", "))
	}
	return nil
}

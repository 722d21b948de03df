package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// catalogStores are the places besides its tables where a module can keep
// data: text it puts into PostgreSQL's catalogs by defining objects. Each
// stores about catalogMiB of random text (which compression does not
// shrink) from one statement; setup, run first, makes what it needs.
var catalogStores = []struct {
	name, setup, store string
}{
	{"a comment on a function", `CREATE FUNCTION c_f() RETURNS int LANGUAGE sql AS 'SELECT 1'`, `COMMENT ON FUNCTION c_f() IS %L`},
	{"a view's query", "", `CREATE VIEW c_v AS SELECT %L::text AS x`},
	{"a column default", `CREATE TABLE c_t (c text)`, `ALTER TABLE c_t ALTER c SET DEFAULT %L`},
	{"a check constraint", "", `ALTER TABLE c_t ADD CONSTRAINT c_ck CHECK (c <> %L)`},
	{"a comment on a constraint", "", `COMMENT ON CONSTRAINT c_ck ON c_t IS %L`},
	{"a row security policy", "", `CREATE POLICY c_p ON c_t USING (c <> %L)`},
	{"a rule", "", `CREATE RULE c_r AS ON DELETE TO c_t WHERE old.c = %L DO INSTEAD NOTHING`},
	{"trigger arguments", `CREATE FUNCTION c_trf() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$`,
		`CREATE TRIGGER c_tr BEFORE INSERT ON c_t FOR EACH ROW EXECUTE FUNCTION c_trf(%L)`},
	{"a function's argument default", "", `CREATE FUNCTION c_g(a text DEFAULT %L) RETURNS int LANGUAGE sql AS 'SELECT 1'`},
	{"an aggregate's initial value", "", `CREATE AGGREGATE c_agg(text) (SFUNC = textcat, STYPE = text, INITCOND = %L)`},
	{"a domain's constraint", "", `CREATE DOMAIN c_dom AS text CHECK (VALUE <> %L)`},
	{"a comment on a type", "", `COMMENT ON DOMAIN c_dom IS %L`},
}

const catalogMiB = 1

// storeBig runs stmt (a format() string with one %L) as the hostile module
// with about catalogMiB of random text for %L.
func storeBig(t *testing.T, s *testSite, stmt string) {
	t.Helper()
	q := fmt.Sprintf(`DO $$ BEGIN EXECUTE pg_catalog.format(%s, (SELECT pg_catalog.string_agg(pg_catalog.md5(pg_catalog.random()::text), '')
		FROM pg_catalog.generate_series(1, %d))); END $$`, quoteLit(strings.ReplaceAll(stmt, "'", "''")), catalogMiB<<20/32)
	if out := s.moduleSQL(t, q); out.Error != "" {
		t.Fatalf("%s: %s", stmt, out.Error)
	}
}

// TestModuleStorageCountsCatalogs: the storage quota counts what a module
// keeps in the catalogs by defining objects (comments, view queries,
// defaults, constraints, policies, rules, trigger arguments, argument
// defaults, aggregate states), and what its role owns outside its schema
// where it can make objects there (a public schema everyone may write, as
// on PostgreSQL 14): otherwise it fills the disk past any quota with
// tables of a few bytes. Each store must raise the module's measured
// storage by about what it stored; the module over its quota is suspended.
func TestModuleStorageCountsCatalogs(t *testing.T) {
	// Only the check at the end may suspend the module: the stores pass the
	// quota halfway, and a background check then would fail the rest.
	// Each store writes a MiB in one statement: roomyLimits.
	s := newSite(t, roomyLimits, func(c *Config) { c.ModuleStorageQuota = 4 << 20; c.StorageCheckEvery = 24 * time.Hour })
	ctx := context.Background()
	b := s.srv.broker
	used := func(t *testing.T) int64 {
		t.Helper()
		n, err := b.StorageUsed(ctx, "hostile")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, st := range catalogStores {
		t.Run(st.name, func(t *testing.T) {
			if st.setup != "" {
				if out := s.moduleSQL(t, st.setup); out.Error != "" {
					t.Fatalf("%s: %s", st.setup, out.Error)
				}
			}
			before := used(t)
			storeBig(t, s, st.store)
			if grown := used(t) - before; grown < catalogMiB<<20*3/4 {
				t.Errorf("stored %d MiB, the module's storage grew by %d bytes", catalogMiB, grown)
			}
		})
	}
	t.Run("a table outside its schema", func(t *testing.T) {
		super, err := pgx.Connect(ctx, s.db.AdminURL)
		if err != nil {
			t.Fatal(err)
		}
		defer super.Close(ctx)
		for _, q := range []string{`ALTER SCHEMA public OWNER TO CURRENT_USER`, `GRANT USAGE, CREATE ON SCHEMA public TO PUBLIC`} {
			if _, err := super.Exec(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		before := used(t)
		storeBig(t, s, `CREATE TABLE public.c_out AS SELECT %L::text AS x`)
		if grown := used(t) - before; grown < catalogMiB<<20*3/4 {
			t.Errorf("stored %d MiB, the module's storage grew by %d bytes", catalogMiB, grown)
		}
	})
	if _, err := b.CheckStorage(ctx); err != nil {
		t.Fatal(err)
	}
	if out := s.moduleSQL(t, `SELECT 1`); !strings.Contains(out.Error, "storage quota exceeded") {
		t.Fatalf("a module with %d MiB in the catalogs, over its 4 MiB quota: %+v", len(catalogStores)*catalogMiB, out)
	}
}

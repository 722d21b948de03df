package sitedump

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// hostileCore is what a hostile source site (a site import) could put in
// its core schema: a table whose CHECK constraint calls a function that,
// once its schema has a staging name (that is, while Replace loads the
// dump next to the live schemas), creates a table in the live websonic
// schema. Everything else it leaves alone, so counts and checksums match.
const hostileCore = `
CREATE FUNCTION websonic.trap_check(x int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
             WHERE p.proname = 'trap_check' AND n.nspname LIKE 'stage\_%') THEN
    EXECUTE 'CREATE TABLE IF NOT EXISTS websonic.pwned (x int)';
  END IF;
  RETURN true;
END $$;
CREATE TABLE websonic.trap (x int CHECK (websonic.trap_check(x)));
INSERT INTO websonic.trap VALUES (1);
`

// TestReplaceRefusesCoreCode checks that a dump whose core schemas hold
// code (functions, or anything that calls code outside pg_catalog) is
// refused before any of it runs in the live database: even a dry run of
// it used to run the source's function as the serving role there.
func TestReplaceRefusesCoreCode(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	if _, err := s.cdb.Pool.Exec(ctx, hostileCore); err != nil {
		t.Fatal(err)
	}
	_, stream := s.dump(t)
	if _, err := s.cdb.Pool.Exec(ctx, `DROP TABLE websonic.trap; DROP FUNCTION websonic.trap_check(int)`); err != nil {
		t.Fatal(err)
	}
	_, err := Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{DryRun: true})
	var pwned bool
	if qerr := s.cdb.Pool.QueryRow(ctx, `SELECT to_regclass('websonic.pwned') IS NOT NULL`).Scan(&pwned); qerr != nil {
		t.Fatal(qerr)
	}
	if pwned {
		t.Error("a dry run of the dump ran the dump's code in the live database (websonic.pwned exists)")
	}
	if !errors.Is(err, ErrFormat) {
		t.Errorf("Replace (dry run): %v, want ErrFormat", err)
	}
	if _, err := Verify(ctx, s.cfg, bytes.NewReader(stream)); !errors.Is(err, ErrFormat) {
		t.Errorf("Verify: %v, want ErrFormat", err)
	}
}

// TestRestoreResetsServingSettings: a hostile core archive whose restore
// sets defaults on the serving role (which apply to the live site's next
// connections: here, every transaction read-only) has them removed when
// its restore ends (the restore fails, or Verify refuses the code).
func TestRestoreResetsServingSettings(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	var live string
	if err := s.cdb.Pool.QueryRow(ctx, `SELECT current_database()`).Scan(&live); err != nil {
		t.Fatal(err)
	}
	if _, err := s.cdb.Pool.Exec(ctx, `
CREATE FUNCTION websonic.trap_check(x int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF current_database() <> '`+live+`' THEN
    EXECUTE 'ALTER ROLE CURRENT_USER SET default_transaction_read_only = on';
    EXECUTE 'ALTER ROLE CURRENT_USER IN DATABASE `+live+` SET statement_timeout = 1';
  END IF;
  RETURN true;
END $$;
CREATE TABLE websonic.trap (x int CHECK (websonic.trap_check(x)));
INSERT INTO websonic.trap VALUES (1);`); err != nil {
		t.Fatal(err)
	}
	_, stream := s.dump(t)
	if _, err := Verify(ctx, s.cfg, bytes.NewReader(stream)); err == nil {
		t.Error("Verify accepted a core archive holding code")
	}
	var n int
	if err := s.cdb.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_db_role_setting
		WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("the serving role kept %d settings the restore made", n)
	}
}

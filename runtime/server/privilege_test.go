package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/pgnotify"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// moduleSQL runs one statement as the hostile module's role (its
// /hostile/sql endpoint) and returns what happened.
func (s *testSite) moduleSQL(t *testing.T, sql string) sqlOutcome {
	t.Helper()
	resp, err := http.Post(s.URL+"/hostile/sql", "text/plain", strings.NewReader(sql))
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: status %d: %s", sql, resp.StatusCode, b)
	}
	var out sqlOutcome
	if err := json.Unmarshal([]byte(b), &out); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return out
}

// privilegeAttack is one way a module could get the runtime to run its
// code: objects it makes (statements run as the module's role) that a
// privileged role would execute if it ever touched them. Each calls
// canary(name), which records — where rollbacks cannot erase it — that a
// role other than the module ran it, and tries to steal the password
// hashes and the power to run programs on the server.
type privilegeAttack struct {
	name  string
	stmts []attackStmt
}

// attackStmt is one statement of an attack and how PostgreSQL refuses it:
// "" when the module may make the object (in its own schema) and it must
// simply never run as anyone else.
type attackStmt struct{ sql, refused string }

func privilegeAttacks(db, app, prov string) []privilegeAttack {
	fn := func(name, returns, args, body string) string {
		return fmt.Sprintf(`CREATE OR REPLACE FUNCTION %s(%s) RETURNS %s LANGUAGE plpgsql AS $$ BEGIN PERFORM mod_hostile.canary(%q); %s END $$`,
			name, args, returns, name, body)
	}
	return []privilegeAttack{
		// The runtime's own objects in the module's schema.
		{"marks table dropped to make way for a view", []attackStmt{
			{`DROP TABLE _migrations`, "must be owner of table _migrations"},
			{`CREATE VIEW _migrations AS SELECT mod_hostile.canary('marks view') AS name, ''::bytea AS checksum, pg_catalog.now() AS applied_at`, "already exists"},
		}},
		{"marks table renamed", []attackStmt{
			{`ALTER TABLE _migrations RENAME TO old_marks`, "must be owner of table _migrations"},
		}},
		{"trigger on the marks table", []attackStmt{
			{fn("trig", "trigger", "", "RETURN NULL;"), ""},
			{`CREATE TRIGGER t BEFORE DELETE ON _migrations FOR EACH STATEMENT EXECUTE FUNCTION trig()`, "permission denied for table _migrations"},
		}},
		{"rule on the marks table", []attackStmt{
			{`CREATE RULE r AS ON DELETE TO _migrations DO ALSO SELECT mod_hostile.canary('rule')`, "must be owner of table _migrations"},
		}},
		{"row security on the marks table", []attackStmt{
			{`ALTER TABLE _migrations ENABLE ROW LEVEL SECURITY`, "must be owner of table _migrations"},
		}},
		{"policy on the marks table", []attackStmt{
			{`CREATE POLICY p ON _migrations USING (mod_hostile.canary('policy') IS NOT NULL)`, "must be owner of table _migrations"},
		}},
		{"child of the marks table", []attackStmt{
			{`CREATE TABLE kid () INHERITS (_migrations)`, "must be owner of table _migrations"},
		}},
		{"its schema replaced", []attackStmt{
			{`DROP SCHEMA mod_hostile CASCADE`, "must be owner of schema mod_hostile"},
		}},
		// Names a privileged role's lookups could resolve to.
		{"functions named like pg_catalog's", []attackStmt{
			{fn("now", "timestamptz", "", "RETURN pg_catalog.now();"), ""},
			{fn("current_database", "name", "", "RETURN 'x';"), ""},
			{fn("format", "text", "text, text", "RETURN $1;"), ""},
			{fn("current_setting", "text", "text", "RETURN '';"), ""},
			{fn("pg_advisory_unlock_all", "void", "", ""), ""},
			{fn("pg_get_userbyid", "name", "oid", "RETURN 'x';"), ""},
			{fn("pg_total_relation_size", "bigint", "regclass", "RETURN 0;"), ""},
			{fn("octet_length", "integer", "text", "RETURN 0;"), ""},
			{fn("array_agg_x", "text", "text", "RETURN $1;"), ""},
		}},
		{"operators named like pg_catalog's", []attackStmt{
			{fn("eq_name_text", "boolean", "name, text", "RETURN true;"), ""},
			{`CREATE OPERATOR = (LEFTARG = name, RIGHTARG = text, FUNCTION = eq_name_text)`, ""},
			{fn("eq_text_texts", "boolean", "text, text[]", "RETURN true;"), ""},
			{`CREATE OPERATOR = (LEFTARG = text, RIGHTARG = text[], FUNCTION = eq_text_texts)`, ""},
			{fn("cat_text", "text", "text, text", "RETURN $1;"), ""},
			{`CREATE OPERATOR || (LEFTARG = text, RIGHTARG = text, FUNCTION = cat_text)`, ""},
		}},
		{"types named like pg_catalog's", []attackStmt{
			{`CREATE DOMAIN bytea AS pg_catalog.bytea CHECK (mod_hostile.canary('domain bytea') IS NOT NULL)`, ""},
			{`CREATE DOMAIN timestamptz AS pg_catalog.timestamptz CHECK (mod_hostile.canary('domain timestamptz') IS NOT NULL)`, ""},
			{`CREATE TYPE text AS (x int)`, ""},
		}},
		{"views named like core tables", []attackStmt{
			{`CREATE VIEW users AS SELECT mod_hostile.canary('view users') AS username`, ""},
			{`CREATE VIEW modules AS SELECT mod_hostile.canary('view modules') AS name`, ""},
			{`CREATE VIEW audit_log AS SELECT mod_hostile.canary('view audit_log') AS action`, ""},
			{`CREATE VIEW module_installs AS SELECT mod_hostile.canary('view module_installs') AS name`, ""},
		}},
		{"an index whose expression calls the canary", []attackStmt{
			{`CREATE OR REPLACE FUNCTION imm(text) RETURNS text IMMUTABLE LANGUAGE plpgsql AS $$ BEGIN PERFORM mod_hostile.canary('index'); RETURN $1; END $$`, ""},
			{`CREATE INDEX IF NOT EXISTS loot_imm ON loot (imm(v))`, ""},
		}},
		// Persistent settings of its own role.
		{"role settings", []attackStmt{
			{`ALTER ROLE CURRENT_USER SET statement_timeout = 0`, ""},
			{`ALTER ROLE CURRENT_USER SET work_mem = '2GB'`, ""},
			{`ALTER ROLE CURRENT_USER SET search_path = public, mod_hostile`, ""},
			{`ALTER ROLE CURRENT_USER IN DATABASE ` + db + ` SET lock_timeout = 0`, ""},
		}},
		{"temp_file_limit of its role", []attackStmt{
			{`ALTER ROLE CURRENT_USER SET temp_file_limit = -1`, "permission denied to set parameter"},
		}},
		// Places outside its schema.
		{"functions in public", []attackStmt{
			{fn("public.now", "timestamptz", "", "RETURN pg_catalog.now();"), "permission denied for schema public"},
		}},
		{"a schema named like the serving role", []attackStmt{
			{`CREATE SCHEMA ` + app, "permission denied for database"},
		}},
		{"the serving role's default privileges", []attackStmt{
			{`ALTER DEFAULT PRIVILEGES FOR ROLE ` + app + ` GRANT ALL ON TABLES TO PUBLIC`, "must be member of role"},
		}},
		{"membership in the serving role", []attackStmt{
			{`GRANT ` + app + ` TO CURRENT_USER`, "must have admin option"},
		}},
		{"membership in the provisioning role", []attackStmt{
			{`GRANT ` + prov + ` TO CURRENT_USER`, "must have admin option"},
		}},
		{"event trigger", []attackStmt{
			{fn("evt", "event_trigger", "", ""), ""},
			{`CREATE EVENT TRIGGER evt ON ddl_command_start EXECUTE FUNCTION evt()`, "permission denied to create event trigger"},
		}},
		{"large objects", []attackStmt{
			{`SELECT lo_from_bytea(0, 'x')`, "permission denied for function lo_from_bytea"},
		}},
	}
}

// canarySQL makes the canary the attacks call: when a role other than the
// module's runs it, it bumps a sequence (which no rollback undoes), records
// who ran it, and tries to take the core data and more power.
func canarySQL(module string) []string {
	return []string{
		`CREATE SEQUENCE IF NOT EXISTS fired`,
		`GRANT USAGE, SELECT, UPDATE ON SEQUENCE fired TO PUBLIC`,
		`CREATE TABLE IF NOT EXISTS stolen (attack text, who text, what text)`,
		`GRANT INSERT, SELECT ON stolen TO PUBLIC`,
		`CREATE OR REPLACE FUNCTION canary(attack text) RETURNS text LANGUAGE plpgsql AS $$
		BEGIN
		  IF current_user::text <> '` + module + `' THEN
		    PERFORM pg_catalog.nextval('mod_hostile.fired');
		    INSERT INTO mod_hostile.stolen VALUES (attack, current_user, 'ran');
		    BEGIN
		      INSERT INTO websonic.audit_log (action, subject, detail) VALUES ('canary', attack, pg_catalog.jsonb_build_object('who', current_user::text));
		    EXCEPTION WHEN OTHERS THEN NULL; END;
		    BEGIN
		      INSERT INTO mod_hostile.stolen SELECT attack, current_user, password_hash FROM websonic.users;
		    EXCEPTION WHEN OTHERS THEN NULL; END;
		    BEGIN
		      EXECUTE pg_catalog.format('GRANT pg_execute_server_program TO %I', '` + module + `');
		    EXCEPTION WHEN OTHERS THEN NULL; END;
		  END IF;
		  RETURN attack;
		END $$`,
	}
}

// TestRuntimeRunsNothingOfTheModule is DESIGN decision 6's rule, attacked:
// the hostile module plants every kind of object a privileged role could
// be tricked into executing, then the runtime starts it again, updates it,
// rolls it back and uninstalls it; at every step nothing of the module runs
// as any other role, no role gains a power, the module's role settings are
// put back (and the change reported), and the other module keeps serving.
func TestRuntimeRunsNothingOfTheModule(t *testing.T) {
	mods, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	s := newSite(t)
	ctx := context.Background()
	module := s.db.Prefix() + "mod_hostile"
	app, prov := s.db.Prefix()+"app", s.db.Prefix()+"owner"
	super, err := pgx.Connect(ctx, s.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer super.Close(ctx)

	plant := func(t *testing.T, s *testSite) {
		t.Helper()
		for _, q := range canarySQL(module) {
			if out := s.moduleSQL(t, q); out.Error != "" {
				t.Fatalf("canary: %s: %s", q, out.Error)
			}
		}
		for _, a := range privilegeAttacks(s.db.Name, app, prov) {
			for _, st := range a.stmts {
				q, want := st.sql, st.refused
				out := s.moduleSQL(t, q)
				switch {
				case want != "" && !strings.Contains(out.Error, want):
					t.Errorf("%s: %s: error %q, want %q", a.name, q, out.Error, want)
				case want == "" && out.Error != "" && !strings.Contains(out.Error, "already exists"):
					t.Errorf("%s: %s: %s", a.name, q, out.Error)
				}
				if own := module + "/" + module; out.User != own {
					t.Fatalf("%s: the connection became %q", a.name, out.User)
				}
			}
		}
	}
	gained := func(t *testing.T, step string) {
		t.Helper()
		var canaries []string
		rows, err := super.Query(ctx, `SELECT subject || ' as ' || (detail->>'who') FROM websonic.audit_log WHERE action = 'canary'`)
		if err != nil {
			t.Fatal(err)
		}
		if canaries, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		var fired bool
		if err := super.QueryRow(ctx, `SELECT coalesce((SELECT is_called FROM mod_hostile.fired), false)`).Scan(&fired); err != nil &&
			!strings.Contains(err.Error(), "does not exist") {
			t.Fatal(err)
		}
		if fired || len(canaries) > 0 {
			t.Fatalf("%s: the module's code ran as another role: %v (sequence bumped: %v)", step, canaries, fired)
		}
		// Nobody holds a membership the runtime did not give, and no role of
		// the site can run programs or read files on the server.
		rows, err = super.Query(ctx, `SELECT m.rolname || ' in ' || g.rolname FROM pg_auth_members a
			JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
			WHERE starts_with(m.rolname, $1) ORDER BY 1`, s.db.Prefix())
		if err != nil {
			t.Fatal(err)
		}
		members, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{prov + " in " + app}; !slices.Equal(members, want) {
			t.Errorf("%s: memberships %q, want %q", step, members, want)
		}
		var powers []string
		rows, err = super.Query(ctx, `SELECT rolname FROM pg_roles WHERE starts_with(rolname, $1)
			AND (rolsuper OR rolreplication OR rolbypassrls OR ((rolcreaterole OR rolcreatedb) AND rolname <> $2))`, s.db.Prefix(), prov)
		if err != nil {
			t.Fatal(err)
		}
		if powers, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil || len(powers) > 0 {
			t.Errorf("%s: roles with powers: %q (%v)", step, powers, err)
		}
	}
	settingsReset := func(t *testing.T, step string) {
		t.Helper()
		var config []string
		if err := super.QueryRow(ctx, `SELECT coalesce(array_agg(c ORDER BY c), '{}') FROM pg_db_role_setting s
			JOIN pg_roles r ON r.oid = s.setrole, unnest(s.setconfig) c WHERE r.rolname = $1`, module).Scan(&config); err != nil {
			t.Fatal(err)
		}
		for _, c := range config {
			if slices.Contains([]string{"statement_timeout=0", "work_mem=2GB", "search_path=public, mod_hostile", "lock_timeout=0"}, c) {
				t.Errorf("%s: the module's own role setting %s survived: %q", step, c, config)
			}
		}
		var reported int
		if err := super.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'module.tampering' AND subject = 'hostile'
			AND detail->>'what' LIKE '%role setting%'`).Scan(&reported); err != nil || reported == 0 {
			t.Errorf("%s: the module's role settings were not reported (%d, %v)", step, reported, err)
		}
	}

	plant(t, s)
	gained(t, "planted")

	// Start again: provisioning runs over everything the module made.
	s = reopen(t, s)
	gained(t, "restart")
	settingsReset(t, "restart")
	assertHelloServes(t, s)

	hostile, err := modhost.LoadDir(filepath.Join(mods, "hostile"))
	if err != nil {
		t.Fatal(err)
	}
	stop := watchHello(t, s)
	plant(t, s)
	next := *hostile.Manifest
	next.Version = "0.0.2"
	v2 := *hostile
	v2.Manifest = &next
	if err := s.srv.Swap(ctx, &v2, modhost.ApproveAll(v2.Manifest), SwapOptions{}); err != nil {
		t.Fatal(err)
	}
	gained(t, "update")
	settingsReset(t, "update")

	plant(t, s)
	if err := s.srv.Swap(ctx, hostile, modhost.ApproveAll(hostile.Manifest), SwapOptions{Rollback: true}); err != nil {
		t.Fatal(err)
	}
	gained(t, "rollback")

	plant(t, s)
	if err := s.srv.Uninstall(ctx, "hostile"); err != nil {
		t.Fatal(err)
	}
	gained(t, "uninstall")
	var left int
	if err := super.QueryRow(ctx, `SELECT (SELECT count(*) FROM pg_roles WHERE rolname = $1) + (SELECT count(*) FROM pg_namespace WHERE nspname = 'mod_hostile')
		+ (SELECT count(*) FROM websonic.modules WHERE name = 'hostile') + (SELECT count(*) FROM websonic.module_migrations WHERE module = 'hostile')`, module).Scan(&left); err != nil || left != 0 {
		t.Errorf("after uninstall, %d of the module's role, schema and records are left (%v)", left, err)
	}
	if resp, err := http.Get(s.URL + "/hostile/ok"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("after uninstall, /hostile/ok = %v %v, want 404", resp.StatusCode, err)
	}
	ok, failures := stop()
	if len(failures) > 0 || ok == 0 {
		t.Fatalf("hello during the attacks: %d ok, failures: %q", ok, failures)
	}
}

// TestModuleCannotForgeNotifications: a module may NOTIFY any channel it
// can name, so the runtime's channels have names it cannot learn. The
// hostile module floods the runtime's old fixed channel and every name it
// could read; the runtime's channel hears nothing of it, and the one real
// notification afterwards arrives.
func TestModuleCannotForgeNotifications(t *testing.T) {
	s := newSite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pool := s.srv.db.Pool
	channel, err := pgnotify.Channel(ctx, pool, updater.NotifyPurpose)
	if err != nil {
		t.Fatal(err)
	}
	real := pgnotify.Listen(ctx, pgnotify.ListenConfig{Pool: pool, Channel: channel})
	<-real.C()
	// What a module can name is what anyone can: the flood reaches a
	// channel with a known name (the runtime's old one), which shows that
	// the flood is real.
	known := pgnotify.Listen(ctx, pgnotify.ListenConfig{Pool: pool, Channel: "websonic_modules"})
	<-known.C()

	const flood = 20000
	for _, tt := range []struct{ name, sql, wantErr string }{
		{"the runtime's old channel", fmt.Sprintf(`SELECT count(pg_notify('websonic_modules', g::text)) FROM generate_series(1, %d) g`, flood), ""},
		{"the channel table", `SELECT name FROM websonic.channels`, "permission denied for schema websonic"},
		{"the runtime's statements", `SELECT string_agg(query, ';') FROM pg_stat_activity WHERE query ILIKE '%listen%' AND usename <> current_user`, ""},
		{"its own listening channels", `SELECT string_agg(c, ',') FROM pg_listening_channels() c`, ""},
		{"guessed channels", `SELECT count(pg_notify('websonic_modules_' || md5(g::text), '')) FROM generate_series(1, 1000) g`, ""},
	} {
		out := s.moduleSQL(t, tt.sql)
		if tt.wantErr != "" && !strings.Contains(out.Error, tt.wantErr) || tt.wantErr == "" && out.Error != "" {
			t.Errorf("%s: error %q, want %q", tt.name, out.Error, tt.wantErr)
		}
		if strings.Contains(out.Rows, channel) {
			t.Fatalf("%s: the module learned the runtime's channel: %q", tt.name, out.Rows)
		}
	}
	waitFor(t, func() bool { return known.Received() == flood })
	if err := pgnotify.Notify(ctx, pool, channel); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return real.Received() > 0 })
	if n := real.Received(); n != 1 {
		t.Fatalf("the runtime's channel received %d notifications, want only the runtime's one", n)
	}
}

// TestModuleStorageQuota: a module filling the disk loses its database at
// the next check, the owner sees it and raises the quota, and the module
// gets it back; its neighbour serves throughout.
func TestModuleStorageQuota(t *testing.T) {
	s := newSite(t, roomyLimits, func(c *Config) { c.ModuleStorageQuota = 1 << 20 }) // 1.6 MB in one INSERT
	ctx := context.Background()
	cfg := s.srv.cfg
	stop := watchHello(t, s)
	for _, q := range []string{
		`CREATE TABLE hoard (v text)`,
		`INSERT INTO hoard SELECT string_agg(md5(random()::text), '') FROM generate_series(1, 100) g, generate_series(1, 500) r GROUP BY r`,
	} {
		if out := s.moduleSQL(t, q); out.Error != "" {
			t.Fatalf("%s: %s", q, out.Error)
		}
	}
	if _, err := s.srv.broker.CheckStorage(ctx); err != nil {
		t.Fatal(err)
	}
	out := s.moduleSQL(t, `SELECT count(*) FROM hoard`)
	if !strings.Contains(out.Error, "storage quota exceeded") {
		t.Fatalf("a module over its quota: %+v", out)
	}
	st, err := Storage(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var hostile ModuleStorage
	for _, m := range st {
		if m.Module == "hostile" {
			hostile = m
		}
	}
	if hostile.State != "exceeded" || hostile.Used <= 1<<20 || hostile.Quota != 1<<20 || hostile.Own != 0 || hostile.Checked.IsZero() {
		t.Fatalf("what the owner sees: %+v", hostile)
	}
	if err := SetStorageQuota(ctx, cfg, "hostile", 64<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := s.srv.broker.CheckStorage(ctx); err != nil {
		t.Fatal(err)
	}
	if out := s.moduleSQL(t, `SELECT count(*) FROM hoard`); out.Error != "" || out.Rows != "500" {
		t.Fatalf("after the owner raised the quota: %+v", out)
	}
	if err := SetStorageQuota(ctx, cfg, "nosuch", 1); err == nil {
		t.Error("a quota for a module that does not exist was accepted")
	}
	ok, failures := stop()
	if len(failures) > 0 || ok == 0 {
		t.Fatalf("hello meanwhile: %d ok, failures: %q", ok, failures)
	}
}

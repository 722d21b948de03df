package sitedump

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// testSite is a site database as the runtime makes it: the core schema,
// and modules provisioned by the sandbox broker, with data.
type testSite struct {
	cdb     *coredb.DB
	db      *pgtest.DB
	broker  *sandboxdb.Broker
	modules map[string]*sandboxdb.ModuleDB
	cfg     Config
	dir     string // data directory
}

// alphaSQL is module alpha's migration: a table with an index whose
// expression calls a function of the module's that refuses to run as any
// role but the module's own, a view over a core view, a sequence.
func alphaSQL(role string) string {
	return fmt.Sprintf(`
CREATE FUNCTION guard(x int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
  IF current_user <> %[1]s THEN RAISE EXCEPTION 'guard: ran as %%, not the module', current_user; END IF;
  RETURN x;
END $$;
CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n int NOT NULL, body text, at timestamptz DEFAULT now(), score float8, tags text[]);
CREATE INDEX notes_guard ON notes ((guard(n)));
CREATE TABLE likes (note_id bigint REFERENCES notes(id), who text, PRIMARY KEY (note_id, who));
CREATE VIEW named AS SELECT u.username, n.body FROM notes n JOIN websonic_api.users u ON u.id = n.n;
INSERT INTO notes (n, body, score, tags) SELECT i, 'note ' || i, i / 3.0, ARRAY['a', i::text] FROM generate_series(1, 200) i;
INSERT INTO likes SELECT id, 'u' || (id %% 7) FROM notes WHERE id %% 3 = 0;
`, "'"+role+"'")
}

const betaSQL = `
CREATE TABLE items (k text PRIMARY KEY, v jsonb, b bytea);
INSERT INTO items SELECT 'k' || i, jsonb_build_object('i', i), decode(md5(i::text), 'hex') FROM generate_series(1, 50) i;
`

func newSite(t *testing.T) *testSite {
	t.Helper()
	ctx := context.Background()
	cdb, db := coredbtest.Open(t)
	s := &testSite{cdb: cdb, db: db, modules: map[string]*sandboxdb.ModuleDB{}, dir: t.TempDir()}
	s.broker = sandboxdb.New(sandboxdb.Config{DB: cdb.Pool, Roles: cdb.Roles})
	if _, err := cdb.Pool.Exec(ctx, `INSERT INTO websonic.users (username, display_name, email, password_hash)
		SELECT 'user' || i, 'User ' || i, 'u' || i || '@example.com', 'x' FROM generate_series(1, 30) i`); err != nil {
		t.Fatal(err)
	}
	s.open(t, "alpha", []string{manifest.CoreUsers}, map[string][]byte{"migrations/001_alpha.sql": []byte(alphaSQL(cdb.Roles.ModuleRole("alpha")))})
	s.open(t, "beta", nil, map[string][]byte{"migrations/001_beta.sql": []byte(betaSQL)})
	for name, body := range map[string]string{"uploads/a.txt": "hello", "uploads/sub/b.bin": "\x00\x01\x02", "settings.json": `{"x":1}`} {
		p := filepath.Join(s.dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.cfg = Config{Serving: cdb.Pool, Roles: cdb.Roles, Scratch: SuperuserScratch(func(name string) string {
		return replaceDB(t, db.AdminURL, name)
	})}
	return s
}

// open provisions module name (version 1.0.0) and runs its migrations.
func (s *testSite) open(t *testing.T, name string, views []string, migrations map[string][]byte) {
	t.Helper()
	m := &manifest.Manifest{ManifestVersion: 1, Name: name, Version: "1.0.0", ABIVersion: abi.Version,
		Capabilities: manifest.Capabilities{CoreData: views}}
	for p := range migrations {
		m.Migrations = append(m.Migrations, p)
	}
	d, err := s.broker.Open(context.Background(), m, views, migrations, sandboxdb.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.modules[name] = d
	t.Cleanup(d.Close)
}

// dump dumps the site with its files.
func (s *testSite) dump(t *testing.T) (*Manifest, []byte) {
	t.Helper()
	var buf bytes.Buffer
	m, err := Dump(context.Background(), s.cfg, &buf, DumpOptions{Dir: s.dir, Files: []string{"uploads", "settings.json", "missing"}})
	if err != nil {
		t.Fatal(err)
	}
	return m, buf.Bytes()
}

func TestDump(t *testing.T) {
	s := newSite(t)
	m, stream := s.dump(t)
	if len(m.Modules) != 2 || m.Modules[0].Name != "alpha" || m.Modules[0].Version != "1.0.0" || len(m.Modules[0].Ledger) != 1 {
		t.Errorf("modules = %+v", m.Modules)
	}
	want := map[string]int64{"websonic.users": 30, "mod_alpha.notes": 200, "mod_alpha.likes": 66, "mod_beta.items": 50}
	for _, ts := range m.Tables {
		k := ts.Schema + "." + ts.Table
		if n, ok := want[k]; ok {
			if ts.Rows != n {
				t.Errorf("%s: %d rows, want %d", k, ts.Rows, n)
			}
			delete(want, k)
		}
		if ts.Table == "_migrations" {
			t.Errorf("the runtime's marks table %s is checksummed", k)
		}
	}
	if len(want) != 0 {
		t.Errorf("tables missing from the manifest: %v", want)
	}
	if len(m.Files) != 3 || m.Files[0].Path != "settings.json" || m.Files[2].Path != "uploads/sub/b.bin" {
		t.Errorf("files = %+v", m.Files)
	}
	var names []string
	tr := tar.NewReader(bytes.NewReader(stream))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	wantNames := []string{"dump.json", "db/websonic.pgdump", "db/websonic_api.pgdump", "db/mod_alpha.pgdump", "db/mod_beta.pgdump",
		"files/settings.json", "files/uploads/a.txt", "files/uploads/sub/b.bin"}
	if fmt.Sprint(names) != fmt.Sprint(wantNames) {
		t.Errorf("entries = %v, want %v", names, wantNames)
	}
	got, err := ReadManifest(bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tables) != len(m.Tables) {
		t.Errorf("read back %d tables, want %d", len(got.Tables), len(m.Tables))
	}
}

// TestDumpRefusesEscapes checks that files outside the data directory
// are refused: .. paths, absolute paths and links leading out.
func TestDumpRefusesEscapes(t *testing.T) {
	s := newSite(t)
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o600)
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(s.dir, "uploads", "link")); err != nil {
		t.Fatal(err)
	}
	for _, files := range [][]string{{"../x"}, {"/etc/passwd"}, {"uploads"}} {
		_, err := Dump(context.Background(), s.cfg, io.Discard, DumpOptions{Dir: s.dir, Files: files})
		if err == nil {
			t.Errorf("Dump of %v: no error", files)
		}
	}
}

// replaceDB returns url with its database replaced.
func replaceDB(t testing.TB, url, db string) string {
	t.Helper()
	cc, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	orig := cc.ConnConfig.Database
	i := bytes.LastIndex([]byte(url), []byte("/"+orig))
	if i < 0 {
		t.Fatalf("cannot find database %q in %q", orig, url)
	}
	return url[:i] + "/" + db + url[i+1+len(orig):]
}

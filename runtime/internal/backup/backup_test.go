package backup

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/runtime/internal/sitedump"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// superuserURL is db's admin URL with another database.
func superuserURL(admin, db string) string {
	i := strings.LastIndex(admin, "/")
	j := strings.IndexByte(admin[i:], '?')
	if j < 0 {
		return admin[:i+1] + db
	}
	return admin[:i+1] + db + admin[i+j:]
}

// newSite is a site database with a module holding data, and a data
// directory with an installed package and things a backup must skip.
func newSite(t *testing.T) (Config, func(string) int64, *sandboxdb.ModuleDB) {
	t.Helper()
	ctx := context.Background()
	cdb, db := coredbtest.Open(t)
	if _, err := cdb.Pool.Exec(ctx, `INSERT INTO websonic.users (username, display_name, email, password_hash)
		SELECT 'user' || i, 'User ' || i, 'u' || i || '@example.com', 'x' FROM generate_series(1, 20) i`); err != nil {
		t.Fatal(err)
	}
	broker := sandboxdb.New(sandboxdb.Config{DB: cdb.Pool, Roles: cdb.Roles})
	m := &manifest.Manifest{ManifestVersion: 1, Name: "notes", Version: "1.0.0", ABIVersion: abi.Version,
		Migrations: []string{"migrations/001.sql"}}
	d, err := broker.Open(ctx, m, nil, map[string][]byte{"migrations/001.sql": []byte(
		`CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 100) i;`)}, sandboxdb.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	dir := t.TempDir()
	for name, body := range map[string]string{
		"updates/index.json": "{}", "updates/blobs/sha256/ab": "blob", "updates/ingest/half": "x",
		"data-keys.json": `{"keys":[]}`, "cache/wazero/x": "cache", "tls/key.pem": "secret", "postgres/data/PG_VERSION": "17",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	store, err := OpenStore(filepath.Join(dir, "backups"))
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := Identities(nil, testPassphrase)
	cfg := Config{
		Store: store, DataDir: dir, Keys: Keys{Passphrase: testPassphrase}, Identities: ids,
		Engine: SiteEngine{Config: sitedump.Config{Serving: cdb.Pool, Roles: cdb.Roles,
			Scratch: sitedump.SuperuserScratch(func(name string) string { return superuserURL(db.AdminURL, name) })}},
	}
	count := func(q string) int64 {
		var n int64
		if err := cdb.Pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	return cfg, count, d
}

func TestFiles(t *testing.T) {
	cfg, _, _ := newSite(t)
	for _, tt := range []struct {
		siteKey, tls bool
		want         string
	}{
		{false, false, "updates/blobs/sha256/ab updates/index.json"},
		{true, false, "data-keys.json updates/blobs/sha256/ab updates/index.json"},
		{true, true, "data-keys.json tls/key.pem updates/blobs/sha256/ab updates/index.json"},
	} {
		got, err := Files(cfg.DataDir, tt.siteKey, tt.tls)
		if err != nil || strings.Join(got, " ") != tt.want {
			t.Errorf("Files(%v, %v) = %q, %v; want %q", tt.siteKey, tt.tls, got, err, tt.want)
		}
	}
}

func TestCreateVerify(t *testing.T) {
	cfg, _, _ := newSite(t)
	ctx := context.Background()
	res, err := Create(ctx, cfg, CreateOptions{Manual: true, Verify: true, SiteKey: true})
	if err != nil {
		t.Fatalf("create: %v\n%v", err, res)
	}
	if res.Report == nil || !res.Report.OK || !res.Info.Good() || res.Info.Tables == 0 || res.Info.Rows < 120 || !res.Info.SiteKey {
		t.Fatalf("result %+v", res.Info)
	}
	var files []string
	for _, f := range res.Report.Files {
		files = append(files, f.Path)
	}
	if strings.Join(files, " ") != "data-keys.json updates/blobs/sha256/ab updates/index.json" {
		t.Errorf("files in the backup: %q", files)
	}
	raw, _ := os.ReadFile(cfg.Store.Path(res.Info.Name))
	if strings.Contains(string(raw), "note 42") || strings.Contains(string(raw), `"keys"`) || strings.Contains(string(raw), "dump.json") {
		t.Error("the backup file holds plaintext")
	}
	other, _ := age.GenerateX25519Identity()
	wrongPass, _ := Identities(nil, "another passphrase entirely")
	tests := []struct {
		name   string
		ids    []age.Identity
		damage bool
		err    error
	}{
		{"the passphrase", cfg.Identities, false, nil},
		{"a wrong passphrase", wrongPass, false, ErrNoIdentity},
		{"another key", []age.Identity{other}, false, ErrNoIdentity},
		{"a damaged file", cfg.Identities, true, ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := cfg.Store.Path(res.Info.Name)
			if tt.damage {
				path = filepath.Join(t.TempDir(), "damaged.backup.age")
				b := append([]byte(nil), raw...)
				b[len(b)*2/3] ^= 0x40
				os.WriteFile(path, b, 0o600)
			}
			c := cfg
			c.Identities = tt.ids
			rep, err := Verify(ctx, c, path, nil)
			if !errors.Is(err, tt.err) {
				t.Fatalf("verify: %v, want %v", err, tt.err)
			}
			if tt.err == nil && (rep == nil || !rep.OK) {
				t.Errorf("report %v", rep)
			}
		})
	}

	// A stored backup tried with a wrong key or passphrase keeps its
	// verdict: the key failed, not the backup (a backup marked bad loses
	// its retention period).
	for _, ids := range [][]age.Identity{{other}, wrongPass} {
		c := cfg
		c.Identities = ids
		if _, err := VerifyStored(ctx, c, res.Info.Name, nil); !errors.Is(err, ErrNoIdentity) {
			t.Fatalf("verify with a wrong key: %v", err)
		}
		if got, err := cfg.Store.Get(res.Info.Name); err != nil || !got.Good() {
			t.Errorf("after a wrong key the backup reads good %v (%q, %v)", got.Good(), got.VerifyError, err)
		}
	}
}

// TestPrune: retention removes exactly the backups its rules keep no
// longer, on disk, with a moving clock.
func TestPrune(t *testing.T) {
	s, _ := OpenStore(t.TempDir())
	keys := Keys{Passphrase: testPassphrase}
	start := time.Date(2026, 1, 1, 3, 0, 0, 0, time.UTC)
	for i := range 40 {
		writeBackup(t, s, start.AddDate(0, 0, i), keys, "x")
	}
	man, err := s.write(start.AddDate(0, 0, 3).Add(time.Hour), keys, Info{Manual: true}, func(w io.Writer) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	removed, err := s.Prune(DefaultRetention())
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 30 {
		t.Errorf("removed %d backups, want 30", len(removed))
	}
	l, _ := s.List(DefaultRetention())
	var names []string
	for _, i := range l {
		names = append(names, i.Created.Format("0102"))
	}
	if got := strings.Join(names, " "); got != "0209 0208 0207 0206 0205 0204 0203 0201 0131 0125 0104" {
		t.Errorf("kept %s", got)
	}
	if _, err := s.Get(man.Name); err != nil {
		t.Errorf("the manual backup went: %v", err)
	}
	ents, _ := os.ReadDir(s.Dir())
	if len(ents) != 2*len(l) {
		t.Errorf("%d files for %d backups (records left behind?)", len(ents), len(l))
	}
}

// TestRestore: a backup puts back what was lost (core rows, a module's
// rows, files); a wrong key or a damaged file changes nothing, and no
// safety backup is taken for them.
func TestRestore(t *testing.T) {
	cfg, count, notes := newSite(t)
	ctx := context.Background()
	res, err := Create(ctx, cfg, CreateOptions{Manual: true})
	if err != nil {
		t.Fatal(err)
	}
	path := cfg.Store.Path(res.Info.Name)
	// The site's state: users (read as the runtime) and notes (read as
	// the module, whose table it is).
	state := func() int64 {
		var n int64
		if err := notes.Pool().QueryRow(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return count(`SELECT count(*) FROM websonic.users`)*1000 + n
	}
	if got := state(); got != 20100 {
		t.Fatalf("state %d", got)
	}
	// Loss: users, the module's rows (as the module), a file.
	if _, err := notes.Pool().Exec(ctx, `DELETE FROM notes WHERE id > 10`); err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.Engine.(SiteEngine).Config.Serving.Exec(ctx, `DELETE FROM websonic.users WHERE id > 5`); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(cfg.DataDir, "updates/index.json"))
	lost := state()

	damaged := filepath.Join(t.TempDir(), "damaged.backup.age")
	raw, _ := os.ReadFile(path)
	raw[len(raw)/2] ^= 1
	os.WriteFile(damaged, raw, 0o600)
	wrongPass, _ := Identities(nil, "another passphrase entirely")
	for _, tt := range []struct {
		name string
		path string
		ids  []age.Identity
		err  error
	}{
		{"a wrong passphrase", path, wrongPass, ErrNoIdentity},
		{"a damaged file", damaged, cfg.Identities, ErrCorrupt},
	} {
		c := cfg
		c.Identities = tt.ids
		safety := false
		_, err := Restore(ctx, c, tt.path, RestoreOptions{Safety: func(context.Context) error { safety = true; return nil }})
		if !errors.Is(err, tt.err) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.err)
		}
		if safety || state() != lost {
			t.Errorf("%s: changed the site (safety backup %v)", tt.name, safety)
		}
	}
	rep, err := Restore(ctx, cfg, path, RestoreOptions{DryRun: true})
	if err != nil || rep == nil || !rep.OK || state() != lost {
		t.Fatalf("dry run: %v (state %d)\n%v", err, state(), rep)
	}
	safety := false
	rep, err = Restore(ctx, cfg, path, RestoreOptions{Safety: func(context.Context) error { safety = true; return nil }})
	if err != nil {
		t.Fatalf("restore: %v\n%v", err, rep)
	}
	if !safety || state() != 20100 {
		t.Errorf("after the restore: state %d, safety backup %v", state(), safety)
	}
	if b, err := os.ReadFile(filepath.Join(cfg.DataDir, "updates/index.json")); err != nil || string(b) != "{}" {
		t.Errorf("the file came back as %q, %v", b, err)
	}
}

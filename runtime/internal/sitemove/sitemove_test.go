package sitemove

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// dumpSource is a site whose sitedump stream is a real tar stream with
// dump.json first and size bytes of random data after it (the engine's
// own tests cover the database; these cover the archive around it).
type dumpSource struct {
	size int
	data []byte // what Dump wrote
}

func (s *dumpSource) Info(context.Context) (*Move, error) {
	return &Move{
		Source:         Origin{URL: "https://old.example", RuntimeVersion: "v1.2.3"},
		CoreMigrations: []string{"001_core.sql", "002_updates.sql"},
		Modules: []Module{{Name: "hello", Version: "1.0.0", Digest: "sha256:" + strings.Repeat("a", 64),
			Channel: "stable", Policy: "auto", Approved: json.RawMessage(`{"routes":["/hello"]}`)}},
		SiteKey: []byte(`{"version":1,"keys":[]}`),
	}, nil
}

func (s *dumpSource) Dump(_ context.Context, w io.Writer, progress func(Progress)) error {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	man := []byte(`{"format":"websonic-site-dump/1"}`)
	tw.WriteHeader(&tar.Header{Name: "dump.json", Mode: 0o600, Size: int64(len(man)), Typeflag: tar.TypeReg})
	tw.Write(man)
	data := make([]byte, s.size)
	rand.Read(data)
	tw.WriteHeader(&tar.Header{Name: "db/websonic.pgdump", Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	s.data = b.Bytes()
	progress(Progress{Step: "websonic", Done: 1, Total: 1, Unit: "tables"})
	_, err := w.Write(s.data)
	return err
}

// recordingTarget keeps what Replace read; hasData and refuse steer it.
type recordingTarget struct {
	got      []byte
	hasData  bool
	refuse   error
	replaced bool
	finished bool
	backups  int
}

func (t *recordingTarget) Check(_ context.Context, m *Move) ([]ModulePlan, error) {
	if t.refuse != nil {
		return nil, t.refuse
	}
	var plan []ModulePlan
	for _, mod := range m.Modules {
		plan = append(plan, ModulePlan{Kind: "module", Name: mod.Name, Version: mod.Version, Digest: mod.Digest})
	}
	return plan, nil
}
func (t *recordingTarget) HasData(context.Context) (bool, error) { return t.hasData, nil }
func (t *recordingTarget) Backup(context.Context) (string, error) {
	t.backups++
	return "backup-1", nil
}
func (t *recordingTarget) Replace(_ context.Context, r io.Reader, dry bool, _ func(Progress)) (*DataReport, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	t.got, t.replaced = b, !dry
	return &DataReport{OK: true, Tables: []TableCheck{{Schema: "websonic", Table: "users", WantRows: 1, GotRows: 1, WantSum: "x", GotSum: "x", OK: true}}}, nil
}
func (t *recordingTarget) Finish(context.Context, *Move, *Report) error {
	t.finished = true
	return nil
}

// export makes an archive of size dump bytes for the site prepared in
// target, from a source in its own folder.
func export(t *testing.T, size int, recipient string) (path, fp string, src *dumpSource) {
	t.Helper()
	srcDir := t.TempDir()
	src = &dumpSource{size: size}
	path = filepath.Join(t.TempDir(), "site.age")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := Export(context.Background(), ExportConfig{DataDir: srcDir, Source: src}, f, recipient, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Move.SiteKey != nil {
		t.Fatal("the export's result shows the site key")
	}
	return path, res.Fingerprint, src
}

func TestExportImport(t *testing.T) {
	ctx := context.Background()
	tgtDir := t.TempDir()
	rcpt, err := Prepare(tgtDir)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := Prepare(tgtDir); err != nil || again != rcpt {
		t.Fatalf("Prepare again = %q, %v; want the same recipient %q", again, err, rcpt)
	}
	// Three parts and a bit: parts, their order and the hold-back all matter.
	path, fp, src := export(t, 3*PartSize+12345, rcpt)
	tgt := &recordingTarget{}
	rep, err := Import(ctx, ImportConfig{DataDir: tgtDir, Target: tgt}, path, ImportOptions{SourceFingerprint: fp}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tgt.got, src.data) {
		t.Fatalf("Replace read %d bytes, the source dumped %d (or other bytes)", len(tgt.got), len(src.data))
	}
	if !rep.OK() || !rep.Switched || !tgt.finished || !rep.Confirmed || rep.Move.Dump.Parts != 4 {
		t.Fatalf("report: %+v", rep)
	}
	if rep.Move.SiteKey != nil || strings.Contains(rep.Text(), "keys") {
		t.Fatal("the report shows the site key")
	}
	if len(rep.Plan) != 1 || rep.Plan[0].Name != "hello" {
		t.Fatalf("plan %+v", rep.Plan)
	}

	// The import used its key: the same archive again (a replay of an
	// older state) is refused as imported, before and after preparing
	// anew, and the new key is another.
	for _, when := range []string{"the key used", "prepared again"} {
		again := &recordingTarget{}
		_, err := Import(ctx, ImportConfig{DataDir: tgtDir, Target: again}, path, ImportOptions{SourceFingerprint: fp}, nil)
		if !errors.Is(err, ErrImported) || !strings.Contains(err.Error(), "--prepare") {
			t.Fatalf("%s: importing the archive again: %v, want ErrImported", when, err)
		}
		if again.got != nil || again.replaced || again.finished {
			t.Fatalf("%s: the replay changed the target: %+v", when, again)
		}
		if when == "the key used" {
			next, err := Prepare(tgtDir)
			if err != nil || next == rcpt {
				t.Fatalf("Prepare after the import = %q, %v; want a new recipient", next, err)
			}
		}
	}
}

func TestImportRefuses(t *testing.T) {
	ctx := context.Background()
	tgtDir := t.TempDir()
	rcpt, err := Prepare(tgtDir)
	if err != nil {
		t.Fatal(err)
	}
	path, fp, _ := export(t, PartSize+100, rcpt)
	otherDir := t.TempDir()
	if _, err := Prepare(otherDir); err != nil {
		t.Fatal(err)
	}
	otherFP, err := SourceFingerprint(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	flip := func(at func(n int64) int64) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[at(int64(len(b)))] ^= 0x01
		p := filepath.Join(t.TempDir(), "flipped.age")
		os.WriteFile(p, b, 0o600)
		return p
	}
	cut := func() string {
		b, _ := os.ReadFile(path)
		p := filepath.Join(t.TempDir(), "cut.age")
		os.WriteFile(p, b[:len(b)/2], 0o600)
		return p
	}
	for _, tc := range []struct {
		name    string
		dir     string
		path    string
		opts    ImportOptions
		target  recordingTarget
		want    error
		partial bool
	}{
		{name: "wrong recipient", dir: otherDir, path: path, opts: ImportOptions{SourceFingerprint: fp}, want: ErrWrongRecipient},
		{name: "not prepared", dir: t.TempDir(), path: path, opts: ImportOptions{SourceFingerprint: fp}, want: ErrNotPrepared},
		{name: "wrong source key", dir: tgtDir, path: path, opts: ImportOptions{SourceFingerprint: otherFP}, want: ErrSourceKey},
		{name: "no source key", dir: tgtDir, path: path, want: ErrSourceKey},
		{name: "wrong source key, dry run", dir: tgtDir, path: path, opts: ImportOptions{SourceFingerprint: otherFP, DryRun: true}, want: ErrSourceKey},
		{name: "byte flipped in the middle", dir: tgtDir, path: flip(func(n int64) int64 { return n / 2 }), opts: ImportOptions{SourceFingerprint: fp}, want: ErrArchive},
		{name: "byte flipped at the end", dir: tgtDir, path: flip(func(n int64) int64 { return n - 3 }), opts: ImportOptions{SourceFingerprint: fp}, want: ErrArchive},
		{name: "cut short", dir: tgtDir, path: cut(), opts: ImportOptions{SourceFingerprint: fp}, want: ErrArchive},
		{name: "target refuses", dir: tgtDir, path: path, opts: ImportOptions{SourceFingerprint: fp}, target: recordingTarget{refuse: ErrRefused}, want: ErrRefused},
		{name: "target has data", dir: tgtDir, path: path, opts: ImportOptions{SourceFingerprint: fp}, target: recordingTarget{hasData: true}, want: ErrLiveSite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt := tc.target
			_, err := Import(ctx, ImportConfig{DataDir: tc.dir, Target: &tgt}, tc.path, tc.opts, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tgt.got != nil || tgt.replaced || tgt.finished || tgt.backups != 0 {
				t.Fatalf("the target was changed: %+v", tgt)
			}
		})
	}
}

func TestImportDryRunAndReplaceLive(t *testing.T) {
	ctx := context.Background()
	tgtDir := t.TempDir()
	rcpt, _ := Prepare(tgtDir)
	path, fp, _ := export(t, 1000, rcpt)

	tgt := &recordingTarget{hasData: true}
	rep, err := Import(ctx, ImportConfig{DataDir: tgtDir, Target: tgt}, path, ImportOptions{DryRun: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tgt.replaced || tgt.finished || tgt.backups != 0 || rep.Switched || rep.Confirmed || !rep.OK() {
		t.Fatalf("dry run changed the target or reported wrong: %+v %+v", tgt, rep)
	}
	if !strings.Contains(rep.Text(), "NOT confirmed") || !strings.Contains(rep.Text(), fp) {
		t.Fatalf("dry run report:\n%s", rep.Text())
	}

	tgt = &recordingTarget{hasData: true}
	rep, err = Import(ctx, ImportConfig{DataDir: tgtDir, Target: tgt}, path, ImportOptions{SourceFingerprint: fp, ReplaceLive: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tgt.backups != 1 || rep.Backup != "backup-1" || !tgt.finished {
		t.Fatalf("replacing a live site: %+v %+v", tgt, rep)
	}
}

// TestImportReplacedSiteBack: the backup a target makes of its own site
// before an import replaces it (Target.Backup: exported by the target to
// its own import key) still imports once that key is set aside, since
// the target signed it; another source's archive for that key does not.
func TestImportReplacedSiteBack(t *testing.T) {
	ctx := context.Background()
	tgtDir := t.TempDir()
	rcpt, err := Prepare(tgtDir)
	if err != nil {
		t.Fatal(err)
	}
	self := filepath.Join(t.TempDir(), "replaced.age")
	f, err := os.Create(self)
	if err != nil {
		t.Fatal(err)
	}
	own, err := Export(ctx, ExportConfig{DataDir: tgtDir, Source: &dumpSource{size: 5000}}, f, rcpt, nil)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	path, fp, _ := export(t, 1000, rcpt)
	other, _, _ := export(t, 2000, rcpt) // never imported, for the same key
	if _, err := Import(ctx, ImportConfig{DataDir: tgtDir, Target: &recordingTarget{hasData: true}}, path,
		ImportOptions{SourceFingerprint: fp, ReplaceLive: true}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := Import(ctx, ImportConfig{DataDir: tgtDir, Target: &recordingTarget{}}, other, ImportOptions{DryRun: true}, nil); !errors.Is(err, ErrImported) {
		t.Fatalf("another archive for the used key: %v, want ErrImported", err)
	}
	back := &recordingTarget{hasData: true}
	rep, err := Import(ctx, ImportConfig{DataDir: tgtDir, Target: back}, self, ImportOptions{SourceFingerprint: own.Fingerprint, ReplaceLive: true}, nil)
	if err != nil || !rep.Switched || !back.finished {
		t.Fatalf("bringing the replaced site back: %v %+v", err, rep)
	}
	if _, err := Prepare(tgtDir); err != nil {
		t.Fatalf("preparing after the way back: %v", err)
	}
}

func TestRecipientAndKeyFiles(t *testing.T) {
	for _, r := range []string{"", "age1", "AGE-SECRET-KEY-1QQQ", "ssh-ed25519 AAAA"} {
		if _, err := ParseRecipient(r); !errors.Is(err, ErrRecipient) {
			t.Errorf("ParseRecipient(%q) = %v, want ErrRecipient", r, err)
		}
	}
	dir := t.TempDir()
	if _, err := Prepare(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := SigningKey(dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(dir, ImportDir, IdentityFile), filepath.Join(dir, SigningKeyFile)} {
		fi, err := os.Stat(f)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want mode 0600", f, fi.Mode(), err)
		}
		os.Chmod(f, 0o644)
	}
	if _, err := Prepare(dir); !errors.Is(err, ErrKeyMode) {
		t.Fatalf("Prepare with an identity others read = %v, want ErrKeyMode", err)
	}
	if _, err := SigningKey(dir); !errors.Is(err, ErrKeyMode) {
		t.Fatalf("SigningKey others read = %v, want ErrKeyMode", err)
	}
}

func validMove() *Move {
	m, _ := (&dumpSource{}).Info(context.Background())
	m.Format = FormatMove
	m.Created = mustTime()
	m.Source.PublicKey = make([]byte, 32)
	m.Dump = DumpRef{Size: 10, Parts: 1, SHA256: strings.Repeat("0", 64), ManifestSHA256: strings.Repeat("1", 64)}
	return m
}

func TestDecodeMove(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(m map[string]any)
		ok     bool
	}{
		{"valid", func(map[string]any) {}, true},
		{"unknown field", func(m map[string]any) { m["extra"] = 1 }, false},
		{"other format", func(m map[string]any) { m["format"] = "websonic-site-move/9" }, false},
		{"bad module name", func(m map[string]any) { m["modules"].([]any)[0].(map[string]any)["name"] = "../x" }, false},
		{"bad digest", func(m map[string]any) { m["modules"].([]any)[0].(map[string]any)["digest"] = "sha256:00" }, false},
		{"approvals not an object", func(m map[string]any) { m["modules"].([]any)[0].(map[string]any)["approved"] = "[]" }, false},
		{"short key", func(m map[string]any) { m["source"].(map[string]any)["public_key"] = "AAAA" }, false},
		{"dump larger than its parts", func(m map[string]any) { m["dump"].(map[string]any)["size"] = 2 * PartSize }, false},
		{"module twice", func(m map[string]any) {
			mods := m["modules"].([]any)
			m["modules"] = append(mods, mods[0])
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := json.Marshal(validMove())
			var v map[string]any
			json.Unmarshal(b, &v)
			tc.change(v)
			b, _ = json.Marshal(v)
			_, err := DecodeMove(b)
			if (err == nil) != tc.ok {
				t.Fatalf("DecodeMove = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrArchive) {
				t.Fatalf("error %v does not wrap ErrArchive", err)
			}
		})
	}
}

func FuzzDecodeMove(f *testing.F) {
	b, _ := json.Marshal(validMove())
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"format":"websonic-site-move/1"} {}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMove(b)
		if err != nil {
			return
		}
		// What decodes must validate again after a round trip.
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeMove(again); err != nil {
			t.Fatalf("a decoded move.json does not decode again: %v", err)
		}
	})
}

func TestJournal(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.NewDB(t).Pool(t, coredb.Migrate)
	tgtDir := t.TempDir()
	rcpt, _ := Prepare(tgtDir)
	path, fp, _ := export(t, 1000, rcpt)
	if _, err := Import(ctx, ImportConfig{DataDir: tgtDir, Target: &recordingTarget{}, DB: pool, Actor: "owner"}, path, ImportOptions{SourceFingerprint: "SHA256:nope"}, nil); !errors.Is(err, ErrSourceKey) {
		t.Fatal(err)
	}
	if _, err := Import(ctx, ImportConfig{DataDir: tgtDir, Target: &recordingTarget{}, DB: pool, Actor: "owner"}, path, ImportOptions{SourceFingerprint: fp}, nil); err != nil {
		t.Fatal(err)
	}
	recs, err := Moves(ctx, pool, 10)
	if err != nil {
		t.Fatal(err)
	}
	// The successful import was recorded again after its switch: a
	// running row left behind (the one "set aside"), then the done one.
	var states []string
	for _, r := range recs {
		states = append(states, r.Kind+":"+r.State)
		if r.Fingerprint != fp {
			t.Errorf("record %d fingerprint %q, want %q", r.ID, r.Fingerprint, fp)
		}
	}
	if got := strings.Join(states, " "); got != "import:done import:running import:failed" {
		t.Fatalf("records %s", got)
	}
	var audits int
	pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'site.import'`).Scan(&audits)
	if audits != 2 {
		t.Fatalf("%d site.import audit entries, want 2", audits)
	}
	_ = (*pgxpool.Pool)(nil)
}

// TestImportRefusesResignedArchive: anyone may encrypt to a recipient, so
// one who changes move.json and encrypts the archive again to the target
// is stopped by the signature alone.
func TestImportRefusesResignedArchive(t *testing.T) {
	ctx := context.Background()
	tgtDir := t.TempDir()
	rcpt, _ := Prepare(tgtDir)
	path, fp, _ := export(t, 1000, rcpt)
	id, err := loadIdentity(tgtDir)
	if err != nil {
		t.Fatal(err)
	}
	in, _ := os.Open(path)
	defer in.Close()
	tr, err := openArchive(in, id)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := ParseRecipient(rcpt)
	forged := filepath.Join(t.TempDir(), "forged.age")
	out, _ := os.Create(forged)
	aw, _ := ageEncrypt(out, r)
	tw := tar.NewWriter(aw)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		b, _ := io.ReadAll(tr)
		if h.Name == moveEntry {
			b = bytes.Replace(b, []byte(`"1.0.0"`), []byte(`"0.9.0"`), 1)
			h.Size = int64(len(b))
		}
		tw.WriteHeader(h)
		tw.Write(b)
	}
	tw.Close()
	aw.Close()
	out.Close()
	tgt := &recordingTarget{}
	if _, err := Import(ctx, ImportConfig{DataDir: tgtDir, Target: tgt}, forged, ImportOptions{SourceFingerprint: fp}, nil); !errors.Is(err, ErrSignature) {
		t.Fatalf("err = %v, want ErrSignature", err)
	}
	if tgt.got != nil {
		t.Fatal("the target was changed")
	}
}

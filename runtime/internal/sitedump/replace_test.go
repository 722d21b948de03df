package sitedump

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
)

// state is what a test compares of the live database: every table's sums
// (through Dump) and the staging schemas present.
func (s *testSite) state(t *testing.T) (sums []TableSum, staging []string) {
	t.Helper()
	m, err := Dump(context.Background(), s.cfg, io.Discard, DumpOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := s.cdb.Pool.Query(context.Background(), `SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'stage\_%' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		rows.Scan(&n)
		staging = append(staging, n)
	}
	return m.Tables, staging
}

// change alters data in the core and in both modules.
func (s *testSite) change(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.cdb.Pool.Exec(ctx, `DELETE FROM websonic.users WHERE id % 2 = 0`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`UPDATE notes SET body = 'changed' WHERE id < 50`, `DELETE FROM likes`} {
		if _, err := s.modules["alpha"].Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.modules["beta"].Pool().Exec(ctx, `INSERT INTO items VALUES ('new', '{}', NULL)`); err != nil {
		t.Fatal(err)
	}
}

func sumsEqual(a, b []TableSum) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestReplace(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	m, stream := s.dump(t)
	s.change(t)
	changed, _ := s.state(t)
	if sumsEqual(changed, m.Tables) {
		t.Fatal("the change changed no sums")
	}
	var got []string
	rep, err := Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{Files: func(path string, r io.Reader) error {
		b, _ := io.ReadAll(r)
		got = append(got, path+"="+string(b))
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Replaced) != 4 {
		t.Errorf("report: %s (replaced %v)", rep.Text(), rep.Replaced)
	}
	after, staging := s.state(t)
	if !sumsEqual(after, m.Tables) {
		t.Errorf("after Replace:\n%v\nwant\n%v", after, m.Tables)
	}
	if len(staging) != 0 {
		t.Errorf("staging schemas left: %v", staging)
	}
	if !slices.Contains(got, "uploads/a.txt=hello") || len(got) != 3 {
		t.Errorf("files handed over: %q", got)
	}
	// The running module's pool reads the restored schema.
	var n int
	if err := s.modules["alpha"].Pool().QueryRow(ctx, `SELECT count(*) FROM notes WHERE body = 'changed'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("module reads %d changed notes (%v), want 0", n, err)
	}
	// The module starts again on the restored schema without the runtime
	// finding its marks table tampered with, and its migration is known.
	s.open(t, "alpha", []string{"users"}, map[string][]byte{"migrations/001_alpha.sql": []byte(alphaSQL(s.cdb.Roles.ModuleRole("alpha")))})
	var tampered int
	s.cdb.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'module.tampering'`).Scan(&tampered)
	if tampered != 0 {
		t.Errorf("%d tampering reports after reopening", tampered)
	}
	var views int
	if err := s.modules["alpha"].Pool().QueryRow(ctx, `SELECT count(*) FROM named`).Scan(&views); err != nil || views != 30 {
		t.Errorf("module view over the core reads %d rows (%v), want 30", views, err)
	}

	// A second Replace drops the first one's set-aside schemas.
	rep2, err := Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{DropReplaced: true})
	if err != nil {
		t.Fatal(err)
	}
	var left int
	s.cdb.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'replaced\_%'`).Scan(&left)
	if left != 0 || len(rep2.Replaced) != 0 {
		t.Errorf("%d set-aside schemas left, report says %v", left, rep2.Replaced)
	}
}

// TestReplaceLeavesLiveAlone checks that a Replace that fails, is
// interrupted or is a dry run changes nothing, and that the next one
// cleans up after an interrupted one.
func TestReplaceLeavesLiveAlone(t *testing.T) {
	s := newSite(t)
	ctx := context.Background()
	m, stream := s.dump(t)
	s.change(t)
	before, _ := s.state(t)

	t.Run("dry run", func(t *testing.T) {
		rep, err := Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{DryRun: true, Files: func(string, io.Reader) error {
			t.Error("a dry run handed over a file")
			return nil
		}})
		if err != nil || !rep.OK || !rep.DryRun || !strings.Contains(rep.Text(), "dry run") {
			t.Fatalf("dry run: %v, %+v", err, rep)
		}
		if now, staging := s.state(t); !sumsEqual(now, before) || len(staging) != 0 {
			t.Errorf("a dry run changed the live database (staging %v)", staging)
		}
	})
	t.Run("checksum mismatch", func(t *testing.T) {
		bad := editManifest(t, stream, func(m *Manifest) {
			for i := range m.Tables {
				if m.Tables[i].Table == "items" {
					m.Tables[i].Checksum = "1"
				}
			}
		})
		_, err := Replace(ctx, s.cfg, bytes.NewReader(bad), ReplaceOptions{})
		if !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), "mod_beta.items") {
			t.Fatalf("Replace: %v, want ErrMismatch naming mod_beta.items", err)
		}
		if now, staging := s.state(t); !sumsEqual(now, before) || len(staging) != 0 {
			t.Errorf("a failed Replace changed the live database (staging %v)", staging)
		}
	})
	t.Run("files refused", func(t *testing.T) {
		_, err := Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{Files: func(string, io.Reader) error { return errors.New("disk full") }})
		if err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("Replace: %v", err)
		}
		if now, _ := s.state(t); !sumsEqual(now, before) {
			t.Error("a Replace whose files failed changed the live database")
		}
	})
	t.Run("interrupted", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		_, err := Replace(cctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{Progress: func(p Progress) {
			if p.Step == "restore" && p.Done >= 3 { // core staged, modules being staged
				cancel()
			}
		}})
		if err == nil {
			t.Fatal("an interrupted Replace succeeded")
		}
		if now, _ := s.state(t); !sumsEqual(now, before) {
			t.Error("an interrupted Replace changed the live database")
		}
		// The next one cleans up and succeeds.
		if _, err := Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{}); err != nil {
			t.Fatal(err)
		}
		if now, staging := s.state(t); !sumsEqual(now, m.Tables) || len(staging) != 0 {
			t.Errorf("after the next Replace: staging %v, sums equal %v", staging, sumsEqual(now, m.Tables))
		}
	})
	t.Run("one at a time", func(t *testing.T) {
		if _, err := s.cdb.Pool.Exec(ctx, `DELETE FROM websonic.users WHERE id % 3 = 0`); err != nil {
			t.Fatal(err)
		}
		// A second Replace starts while the first one stages into the
		// live database (another owner's command, the portal): refused,
		// instead of dropping the first one's staging schemas.
		var second error
		tried := false
		_, err := Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{Progress: func(p Progress) {
			if p.Step == "restore" && p.Done >= 1 && !tried {
				tried = true
				_, second = Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{})
			}
		}})
		if err != nil {
			t.Fatalf("the first Replace: %v", err)
		}
		if !tried || !errors.Is(second, ErrBusy) {
			t.Errorf("the second Replace, during the first: %v, want ErrBusy", second)
		}
		if now, staging := s.state(t); !sumsEqual(now, m.Tables) || len(staging) != 0 {
			t.Errorf("after the first Replace: staging %v, sums equal %v", staging, sumsEqual(now, m.Tables))
		}
		// Once it ended, the next one runs.
		if _, err := Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{DryRun: true}); err != nil {
			t.Errorf("a Replace after the first: %v", err)
		}
	})
	t.Run("module not installed", func(t *testing.T) {
		s.modules["beta"].Close()
		if err := s.broker.Drop(ctx, "beta"); err != nil {
			t.Fatal(err)
		}
		for name, f := range map[string]func() error{
			"Verify":  func() error { _, err := Verify(ctx, s.cfg, bytes.NewReader(stream)); return err },
			"Replace": func() error { _, err := Replace(ctx, s.cfg, bytes.NewReader(stream), ReplaceOptions{}); return err },
		} {
			if err := f(); !errors.Is(err, ErrModuleMissing) || !strings.Contains(err.Error(), "beta") {
				t.Errorf("%s: %v, want ErrModuleMissing naming beta", name, err)
			}
		}
	})
}

package sitedump

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// rewrite returns stream with each entry's data passed through edit.
func rewrite(t testing.TB, stream []byte, edit func(name string, data []byte) []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tr := tar.NewReader(bytes.NewReader(stream))
	tw := tar.NewWriter(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		data = edit(h.Name, data)
		h.Size = int64(len(data))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	return out.Bytes()
}

// editManifest returns stream with its manifest changed by edit.
func editManifest(t testing.TB, stream []byte, edit func(m *Manifest)) []byte {
	return rewrite(t, stream, func(name string, data []byte) []byte {
		if name != manifestName {
			return data
		}
		var m Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		edit(&m)
		b, _ := json.Marshal(&m)
		return b
	})
}

func TestVerify(t *testing.T) {
	s := newSite(t)
	_, stream := s.dump(t)
	ctx := context.Background()
	rep, err := Verify(ctx, s.cfg, bytes.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK || len(rep.Tables) == 0 || len(rep.Files) != 3 {
		t.Fatalf("report: %s", rep.Text())
	}
	flip := func(entry string) []byte {
		return rewrite(t, stream, func(name string, data []byte) []byte {
			if name == entry {
				data = bytes.Clone(data)
				data[len(data)/2] ^= 0x40
			}
			return data
		})
	}
	for _, c := range []struct {
		name   string
		stream []byte
		want   error
		says   string
	}{
		{"flipped byte in a module's archive", flip("db/mod_alpha.pgdump"), ErrFormat, "db/mod_alpha.pgdump"},
		{"flipped byte in the core archive", flip("db/websonic.pgdump"), ErrFormat, "corrupt"},
		{"truncated", stream[:len(stream)*2/3], ErrFormat, ""},
		{"empty", nil, ErrFormat, ""},
		{"wrong row count", editManifest(t, stream, func(m *Manifest) {
			for i := range m.Tables {
				if m.Tables[i].Table == "notes" {
					m.Tables[i].Rows++
				}
			}
		}), ErrMismatch, "mod_alpha.notes"},
		{"wrong checksum", editManifest(t, stream, func(m *Manifest) {
			for i := range m.Tables {
				if m.Tables[i].Table == "users" {
					m.Tables[i].Checksum = "12345"
				}
			}
		}), ErrMismatch, "websonic.users"},
		{"a table the dump does not list", editManifest(t, stream, func(m *Manifest) {
			for i := range m.Tables {
				if m.Tables[i].Table == "items" {
					m.Tables = append(m.Tables[:i], m.Tables[i+1:]...)
					break
				}
			}
		}), ErrMismatch, "mod_beta.items"},
		{"changed file", rewrite(t, stream, func(name string, data []byte) []byte {
			if name == "files/uploads/a.txt" {
				return []byte("HELLO")
			}
			return data
		}), ErrMismatch, "uploads/a.txt"},
		{"module not installed", editManifest(t, stream, func(m *Manifest) {
			m.Modules[1].Name, m.Modules[1].Schema = "gamma", "mod_gamma"
		}), ErrFormat, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := Verify(ctx, s.cfg, bytes.NewReader(c.stream))
			if !errors.Is(err, c.want) {
				t.Fatalf("Verify: %v, want %v", err, c.want)
			}
			if !strings.Contains(err.Error(), c.says) {
				t.Errorf("error %q does not name %q", err, c.says)
			}
			if c.want == ErrMismatch && (rep == nil || rep.OK) {
				t.Errorf("report %+v", rep)
			}
		})
	}
}

// TestScratchNeedsCreateDB checks the provisioning role's path: a role
// without CREATEDB (an external server whose DBA did not grant it) gets
// an error saying what to grant, and with it (as pgembed.Provision makes
// it) Verify works.
func TestScratchNeedsCreateDB(t *testing.T) {
	s := newSite(t)
	_, stream := s.dump(t)
	ctx := context.Background()
	prov := s.db.Pool(t, nil)
	cfg := s.cfg
	cfg.Scratch = ProvisioningScratch(prov)
	var owner string
	prov.QueryRow(ctx, `SELECT current_user`).Scan(&owner)
	su, err := pgxpool.New(ctx, s.db.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer su.Close()
	if _, err := su.Exec(ctx, `ALTER ROLE `+ident(owner)+` NOCREATEDB`); err != nil {
		t.Fatal(err)
	}
	_, err = Verify(ctx, cfg, bytes.NewReader(stream))
	if !errors.Is(err, ErrNoScratch) || !strings.Contains(err.Error(), "CREATEDB") {
		t.Fatalf("Verify without CREATEDB: %v, want ErrNoScratch saying CREATEDB", err)
	}
	if _, err := su.Exec(ctx, `ALTER ROLE `+ident(owner)+` CREATEDB`); err != nil {
		t.Fatal(err)
	}
	rep, err := Verify(ctx, cfg, bytes.NewReader(stream))
	if err != nil || !rep.OK {
		t.Fatalf("Verify with CREATEDB: %v", err)
	}
	var left int
	su.QueryRow(ctx, `SELECT count(*) FROM pg_database WHERE datname LIKE '%\_scratch\_%'`).Scan(&left)
	if left != 0 {
		t.Errorf("%d scratch databases left", left)
	}
}

// TestCheck: the stream's own checks, with no database: a good stream
// passes, and every damage Verify reports as ErrFormat (and a changed
// file) is refused without restoring anything.
func TestCheck(t *testing.T) {
	s := newSite(t)
	want, stream := s.dump(t)
	ctx := context.Background()
	m, err := Check(ctx, bytes.NewReader(stream), nil)
	if err != nil || len(m.Tables) != len(want.Tables) {
		t.Fatalf("Check of a good stream: %v", err)
	}
	damage := func(entry string, f func([]byte) []byte) []byte {
		return rewrite(t, stream, func(name string, data []byte) []byte {
			if name == entry {
				return f(bytes.Clone(data))
			}
			return data
		})
	}
	flip := func(b []byte) []byte { b[len(b)/2] ^= 0x40; return b }
	for name, c := range map[string][]byte{
		"flipped byte in a module's archive": damage("db/mod_alpha.pgdump", flip),
		"flipped byte in the core archive":   damage("db/websonic.pgdump", flip),
		"changed file":                       damage("files/uploads/a.txt", func([]byte) []byte { return []byte("HELLO") }),
		"truncated":                          stream[:len(stream)*2/3],
		"empty":                              nil,
	} {
		if _, err := Check(ctx, bytes.NewReader(c), nil); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: Check: %v, want ErrFormat", name, err)
		}
	}
}

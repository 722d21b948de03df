package privacy

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return pgtest.NewDB(t).Pool(t, coredb.Migrate)
}

// ring is a key ring without a database, for tests that need none.
func ring(keys map[uint32][]byte) *Keyring {
	var newest uint32
	for id := range keys {
		newest = max(newest, id)
	}
	return &Keyring{keys: keys, newest: newest, derived: map[derivedKey]*moduleKey{}, log: hclog.NewNullLogger(), checked: time.Now()}
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	dir := t.TempDir()
	k, err := Load(ctx, Config{Dir: dir, DB: pool})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM websonic.data_keys`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d check values (%v)", n, err)
	}
	sealed, err := k.Seal(ctx, "notes", "body", []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	// A second start reads the same key.
	k2, err := Load(ctx, Config{Dir: dir, DB: pool})
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := k2.Open(ctx, "notes", "body", sealed); err != nil || string(pt) != "hello" {
		t.Fatalf("open after restart: %q %v", pt, err)
	}
	// The key never reaches the database.
	raw, _ := os.ReadFile(path)
	var kf keyFile
	if err := json.Unmarshal(raw, &kf); err != nil {
		t.Fatal(err)
	}
	var leaked bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM websonic.data_keys WHERE position($1 in check_mac) > 0)`, kf.Keys[0].Key[:16]).Scan(&leaked); err != nil || leaked {
		t.Errorf("the key is in the database (%v)", err)
	}

	tests := []struct {
		name  string
		setup func(t *testing.T) Config
		want  error
	}{
		{"loose mode", func(t *testing.T) Config {
			d := t.TempDir()
			copyFile(t, path, filepath.Join(d, KeyFile), 0o644)
			return Config{Dir: d, DB: pool}
		}, ErrKeyFileMode},
		{"another user's file", func(t *testing.T) Config {
			if os.Geteuid() != 0 {
				t.Skip("making a file another user owns needs root")
			}
			d := t.TempDir()
			copyFile(t, path, filepath.Join(d, KeyFile), 0o600)
			if err := os.Chown(filepath.Join(d, KeyFile), 65534, 65534); err != nil {
				t.Fatal(err)
			}
			return Config{Dir: d, DB: pool}
		}, ErrKeyFileMode},
		{"another site's key", func(t *testing.T) Config {
			d := t.TempDir()
			if _, err := Load(ctx, Config{Dir: d, DB: newPool(t)}); err != nil {
				t.Fatal(err)
			}
			return Config{Dir: d, DB: pool}
		}, ErrKeyMismatch},
		{"environment", func(t *testing.T) Config {
			return Config{Env: "1:" + base64.StdEncoding.EncodeToString(kf.Keys[0].Key), DB: pool}
		}, nil},
		{"bare environment key", func(t *testing.T) Config {
			return Config{Env: base64.StdEncoding.EncodeToString(kf.Keys[0].Key), DB: pool}
		}, nil},
		{"wrong environment key", func(t *testing.T) Config {
			return Config{Env: base64.StdEncoding.EncodeToString(make([]byte, 32)), DB: pool}
		}, ErrKeyMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(ctx, tt.setup(t))
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// A replica without the key file serves but cannot seal or open until
	// the file is copied to it.
	replica := t.TempDir()
	r, err := Load(ctx, Config{Dir: replica, DB: pool})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Seal(ctx, "notes", "body", []byte("x")); !errors.Is(err, ErrKeyMissing) {
		t.Errorf("seal without the key file: %v", err)
	}
	if _, err := r.Open(ctx, "notes", "body", sealed); !errors.Is(err, ErrKeyMissing) {
		t.Errorf("open without the key file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(replica, KeyFile)); !os.IsNotExist(err) {
		t.Errorf("a replica made a key: %v", err)
	}
	copyFile(t, path, filepath.Join(replica, KeyFile), 0o600)
	r.mu.Lock()
	r.checked = time.Time{}
	r.mu.Unlock()
	if pt, err := r.Open(ctx, "notes", "body", sealed); err != nil || string(pt) != "hello" {
		t.Errorf("open once the key file is there: %q %v", pt, err)
	}
	for _, bad := range []string{"x", "0:" + base64.StdEncoding.EncodeToString(make([]byte, 32)), "1:AAAA", "1:a,1:b"} {
		if _, err := parseEnv(bad); err == nil {
			t.Errorf("parseEnv(%q) accepted", bad)
		}
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(to, mode); err != nil {
		t.Fatal(err)
	}
}

// TestRotate: after a rotation new seals use the new key, and what older
// keys sealed still opens, in a runtime that was running and in a new one.
func TestRotate(t *testing.T) {
	ctx := context.Background()
	pool := newPool(t)
	dir := t.TempDir()
	k, err := Load(ctx, Config{Dir: dir, DB: pool})
	if err != nil {
		t.Fatal(err)
	}
	old, err := k.Seal(ctx, "notes", "body", []byte("before"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := Rotate(ctx, dir, "", pool)
	if err != nil || id != 2 {
		t.Fatalf("rotate: %d %v", id, err)
	}
	if fi, err := os.Stat(filepath.Join(dir, KeyFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("rotated key file: %v", err)
	}
	k.mu.Lock()
	k.checked = time.Time{} // as if ReloadEvery passed
	k.mu.Unlock()
	sealed, err := k.Seal(ctx, "notes", "body", []byte("after"))
	if err != nil {
		t.Fatal(err)
	}
	if h, _, _, err := ParseSealed(sealed); err != nil || h.KeyID != 2 {
		t.Errorf("running runtime seals under key %d (%v), want 2", h.KeyID, err)
	}
	fresh, err := Load(ctx, Config{Dir: dir, DB: pool})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*Keyring{k, fresh} {
		if pt, err := r.Open(ctx, "notes", "body", old); err != nil || string(pt) != "before" {
			t.Errorf("old value: %q %v", pt, err)
		}
		if pt, err := r.Open(ctx, "notes", "body", sealed); err != nil || string(pt) != "after" {
			t.Errorf("new value: %q %v", pt, err)
		}
	}
	if _, err := Rotate(ctx, dir, "1:x", pool); !errors.Is(err, ErrKeyFromEnv) {
		t.Errorf("rotate with keys from the environment: %v", err)
	}
	if _, err := Rotate(ctx, t.TempDir(), "", pool); !errors.Is(err, ErrKeyMissing) {
		t.Errorf("rotate without the key file: %v", err)
	}
}

// TestSealBinding: a value opens only for the module and purpose that
// sealed it, and not at all once any byte changed.
func TestSealBinding(t *testing.T) {
	ctx := context.Background()
	k := ring(map[uint32][]byte{1: bytes.Repeat([]byte{7}, 32)})
	sealed, err := k.Seal(ctx, "alpha", "email", []byte("ann@example.com"))
	if err != nil {
		t.Fatal(err)
	}
	if len(sealed) != Overhead+len("ann@example.com") || sealed[0] != Version {
		t.Fatalf("sealed layout: %x", sealed)
	}
	again, _ := k.Seal(ctx, "alpha", "email", []byte("ann@example.com"))
	if bytes.Equal(again, sealed) {
		t.Error("two seals are equal: the nonce is not random")
	}
	tests := []struct {
		name, module, purpose string
		sealed                []byte
		want                  error
	}{
		{"other module", "beta", "email", sealed, ErrOpen},
		{"other purpose", "alpha", "phone", sealed, ErrOpen},
		{"bad purpose", "alpha", "", sealed, ErrInvalidPurpose},
		{"short", "alpha", "email", sealed[:Overhead-1], ErrMalformed},
		{"version", "alpha", "email", append([]byte{2}, sealed[1:]...), ErrMalformed},
		{"unknown key", "alpha", "email", append([]byte{1, 0, 0, 0, 9}, sealed[5:]...), ErrUnknownKey},
		{"too large", "alpha", "email", make([]byte, MaxSealed+1), ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := k.Open(ctx, tt.module, tt.purpose, tt.sealed); !errors.Is(err, tt.want) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
	for i := range sealed {
		b := bytes.Clone(sealed)
		b[i] ^= 0x40
		if _, err := k.Open(ctx, "alpha", "email", b); err == nil {
			t.Errorf("byte %d flipped: opened", i)
		}
	}
	if _, err := k.Seal(ctx, "alpha", "email", make([]byte, MaxPlaintext+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("seal too large: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	ctx := context.Background()
	k := ring(map[uint32][]byte{1: bytes.Repeat([]byte{1}, 32), 3: bytes.Repeat([]byte{3}, 32)})
	s, _ := k.Seal(ctx, "m", "p", []byte("seed"))
	f.Add(s, "p")
	f.Add([]byte{1, 0, 0, 0, 1}, "p")
	f.Add([]byte{}, "")
	f.Fuzz(func(t *testing.T, b []byte, purpose string) {
		pt, err := k.Open(ctx, "m", purpose, b)
		// Only "seed" was ever sealed under these keys (by this process or
		// the one that made the corpus).
		if err == nil && !(purpose == "p" && string(pt) == "seed") {
			t.Fatalf("opened a value no one sealed: %x → %q", b, pt)
		}
		if h, nonce, ct, err := ParseSealed(b); err == nil {
			if h.Version != Version || h.KeyID == 0 || len(nonce) != nonceLen || len(ct) < tagLen {
				t.Fatalf("ParseSealed accepted %x", b)
			}
		}
	})
}

func FuzzDecodeStrict(f *testing.F) {
	f.Add([]byte(`{"purpose":"p","plaintext":"aGk="}`))
	f.Add([]byte(`{"purpose":"p","plaintext":"aGk="} {}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"purpose":"p","extra":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req SealRequest
		if err := DecodeStrict(b, &req, 1<<16); err != nil {
			return
		}
		// What decodes re-encodes and decodes to the same.
		out, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		var again SealRequest
		if err := DecodeStrict(out, &again, 1<<16); err != nil || again.Purpose != req.Purpose || !bytes.Equal(again.Plaintext, req.Plaintext) {
			t.Fatalf("round trip of %q: %v", b, err)
		}
	})
}

// TestReset: a site whose data and key file were replaced by another's
// (a site import) reads the new ring as a whole: the other site's sealed
// values open, with the same key id naming another key; a key file the
// new database does not recognise is refused and the ring kept.
func TestReset(t *testing.T) {
	ctx := context.Background()
	poolA, poolB := newPool(t), newPool(t)
	dirA, dirB := t.TempDir(), t.TempDir()
	a, err := Load(ctx, Config{Dir: dirA, DB: poolA})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load(ctx, Config{Dir: dirB, DB: poolB})
	if err != nil {
		t.Fatal(err)
	}
	fromA, err := a.Seal(ctx, "chat", "message", []byte("from A"))
	if err != nil {
		t.Fatal(err)
	}
	fromB, err := b.Seal(ctx, "chat", "message", []byte("from B"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, "chat", "message", fromA); err == nil {
		t.Fatal("B opens A's value before the import")
	}

	// A key file the database does not know: refused, the ring kept.
	other := t.TempDir()
	if _, err := Load(ctx, Config{Dir: other, DB: newPool(t)}); err != nil {
		t.Fatal(err)
	}
	copyFile(t, filepath.Join(other, KeyFile), filepath.Join(dirB, KeyFile), 0o600)
	if err := b.Reset(ctx); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("Reset with a foreign key file: %v, want ErrKeyMismatch", err)
	}
	if pt, err := b.Open(ctx, "chat", "message", fromB); err != nil || string(pt) != "from B" {
		t.Fatalf("after a refused Reset: %q %v", pt, err)
	}

	// The import: A's key file and A's check values in B's place.
	copyFile(t, filepath.Join(dirA, KeyFile), filepath.Join(dirB, KeyFile), 0o600)
	var id int64
	var mac []byte
	if err := poolA.QueryRow(ctx, `SELECT id, check_mac FROM websonic.data_keys`).Scan(&id, &mac); err != nil {
		t.Fatal(err)
	}
	if _, err := poolB.Exec(ctx, `UPDATE websonic.data_keys SET check_mac = $2 WHERE id = $1`, id, mac); err != nil {
		t.Fatal(err)
	}
	if err := b.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if pt, err := b.Open(ctx, "chat", "message", fromA); err != nil || string(pt) != "from A" {
		t.Fatalf("after Reset, A's value: %q %v", pt, err)
	}
	if _, err := b.Open(ctx, "chat", "message", fromB); err == nil {
		t.Fatal("after Reset, B's old key still opens")
	}
}

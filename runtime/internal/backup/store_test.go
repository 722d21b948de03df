package backup

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

const testPassphrase = "correct horse battery staple"

// sshKey is a fresh ed25519 key: its authorized_keys line and its
// OpenSSH private key (PEM).
func sshKey(t *testing.T) (string, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	blk, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(sp))), pem.EncodeToMemory(blk)
}

func writeBackup(t *testing.T, s *Store, created time.Time, keys Keys, payload string) *Info {
	t.Helper()
	info, err := s.write(created, keys, Info{}, func(w io.Writer) error {
		_, err := io.WriteString(w, payload)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func readBackup(s *Store, info *Info, ids []age.Identity) (string, error) {
	r, err := openFile(s.Path(info.Name), ids, info.SHA256)
	if err != nil {
		return "", err
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	return string(b), err
}

func TestStoreKeys(t *testing.T) {
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	other, _ := age.GenerateX25519Identity()
	sshPub, sshPriv := sshKey(t)
	recs, text, err := ParseRecipients(strings.NewReader("# the owner\n" + x.Recipient().String() + "\n\n" + sshPub + "\n"))
	if err != nil || len(recs) != 2 || len(text) != 2 {
		t.Fatalf("recipients %d %q: %v", len(recs), text, err)
	}
	sshIDs, err := ParseIdentities(sshPriv)
	if err != nil {
		t.Fatal(err)
	}
	xIDs, err := ParseIdentities([]byte("# created: now\n" + x.String() + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	pass, _ := Identities(nil, testPassphrase)
	wrongPass, _ := Identities(nil, "not the right passphrase")
	tests := []struct {
		name string
		keys Keys
		ids  []age.Identity
		err  error
	}{
		{"x25519 identity", Keys{Recipients: recs}, xIDs, nil},
		{"ssh identity", Keys{Recipients: recs}, sshIDs, nil},
		{"passphrase", Keys{Passphrase: testPassphrase}, pass, nil},
		{"another recipient's key", Keys{Recipients: recs}, []age.Identity{other}, ErrNoIdentity},
		{"wrong passphrase", Keys{Passphrase: testPassphrase}, wrongPass, ErrNoIdentity},
		{"a key for a passphrase backup", Keys{Passphrase: testPassphrase}, xIDs, ErrNoIdentity},
	}
	s, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 3, 1, 3, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := writeBackup(t, s, when, tt.keys, "the site's dump")
			got, err := readBackup(s, info, tt.ids)
			if !errors.Is(err, tt.err) {
				t.Fatalf("read: %v, want %v", err, tt.err)
			}
			if tt.err == nil && got != "the site's dump" {
				t.Errorf("read %q", got)
			}
			if tt.err != nil && !strings.Contains(err.Error(), "no identity matched") {
				t.Errorf("error %q does not say no identity matched", err)
			}
		})
	}
}

func TestStoreRefusesWithoutOneKey(t *testing.T) {
	x, _ := age.GenerateX25519Identity()
	dir := t.TempDir()
	s, _ := OpenStore(dir)
	for _, tt := range []struct {
		keys Keys
		err  error
	}{
		{Keys{}, ErrNoKey},
		{Keys{Recipients: []age.Recipient{x.Recipient()}, Passphrase: testPassphrase}, ErrBothKeys},
		{Keys{Passphrase: "short"}, nil},
	} {
		_, err := s.write(time.Now(), tt.keys, Info{}, func(w io.Writer) error { t.Error("filled"); return nil })
		if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
			t.Errorf("%+v: %v, want %v", tt.keys, err, tt.err)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}

func TestStoreWriteIsAtomic(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "backups")
	s, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys := Keys{Passphrase: testPassphrase}
	boom := errors.New("the dump failed")
	if _, err := s.write(time.Now(), keys, Info{}, func(w io.Writer) error {
		io.WriteString(w, strings.Repeat("half a dump ", 1000))
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("write: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("a failed backup left %v", ents)
	}
	when := time.Date(2026, 3, 1, 3, 0, 0, 500, time.UTC)
	a := writeBackup(t, s, when, keys, "a")
	b := writeBackup(t, s, when, keys, "b") // same second: the next free name
	if a.Name != "websonic-20260301T030000Z.backup.age" || b.Name != "websonic-20260301T030001Z.backup.age" {
		t.Errorf("names %s %s", a.Name, b.Name)
	}
	for _, p := range []string{dir, s.Path(a.Name)} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		want := os.FileMode(0o600)
		if st.IsDir() {
			want = 0o700
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s has mode %v", p, st.Mode().Perm())
		}
	}
	// A crash's leftovers go when the store opens; a backup's under way
	// (written lately) stays.
	os.WriteFile(filepath.Join(dir, tmpPrefix+"123"), []byte("x"), 0o600)
	old := time.Now().Add(-staleTmp - time.Minute)
	os.Chtimes(filepath.Join(dir, tmpPrefix+"123"), old, old)
	os.WriteFile(filepath.Join(dir, tmpPrefix+"456"), []byte("x"), 0o600)
	if _, err := OpenStore(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, tmpPrefix+"456")); err != nil {
		t.Errorf("a backup under way lost its temporary file: %v", err)
	}
	os.Remove(filepath.Join(dir, tmpPrefix+"456"))
	l, err := s.List(DefaultRetention())
	if err != nil || len(l) != 2 || l[0].Name != b.Name || l[0].Size != b.Size || l[0].SHA256 == "" {
		t.Fatalf("list %+v: %v", l, err)
	}
	if _, err := os.Stat(filepath.Join(dir, tmpPrefix+"123")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a temporary file survived")
	}
}

func TestStoreCorruption(t *testing.T) {
	s, _ := OpenStore(t.TempDir())
	keys := Keys{Passphrase: testPassphrase}
	ids, _ := Identities(nil, testPassphrase)
	payload := strings.Repeat("0123456789abcdef", 16<<10) // several age chunks
	tests := []struct {
		name   string
		damage func(b []byte) []byte
	}{
		{"a flipped byte in the payload", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"a flipped byte in the header", func(b []byte) []byte { b[40] ^= 1; return b }},
		{"cut short", func(b []byte) []byte { return b[:len(b)-100] }},
		{"not an age file", func(b []byte) []byte { return []byte("PGDMP not encrypted at all") }},
		{"appended bytes", func(b []byte) []byte { return append(b, "more"...) }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info := writeBackup(t, s, time.Date(2026, 3, 1, 3, 0, i, 0, time.UTC), keys, payload)
			b, _ := os.ReadFile(s.Path(info.Name))
			os.WriteFile(s.Path(info.Name), tt.damage(b), 0o600)
			_, err := readBackup(s, info, ids)
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNoIdentity) {
				t.Fatalf("read: %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), "corrupted") && !strings.Contains(err.Error(), "no identity matched") {
				t.Errorf("unclear error %q", err)
			}
		})
	}
}

func TestParseRecipientsRefuses(t *testing.T) {
	x, _ := age.GenerateX25519Identity()
	for _, in := range []string{
		x.String(), // a private key
		"age1notakey",
		"ssh-ed25519 AAAAnotbase64",
		"gpg:0xDEADBEEF",
		"-----BEGIN OPENSSH PRIVATE KEY-----",
	} {
		_, _, err := ParseRecipients(strings.NewReader("# ok\n" + in + "\n"))
		if err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("%q: %v", in, err)
		}
		if err != nil && strings.Contains(err.Error(), in) {
			t.Errorf("the error repeats the line: %v", err)
		}
	}
}

func FuzzParseRecipients(f *testing.F) {
	x, _ := age.GenerateX25519Identity()
	f.Add([]byte(x.Recipient().String() + "\n# c\n"))
	f.Add([]byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKB6 x\n"))
	f.Add([]byte(x.String()))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, text, err := ParseRecipients(bytes.NewReader(b))
		if err == nil && len(recs) != len(text) {
			t.Fatalf("%d recipients, %d lines", len(recs), len(text))
		}
	})
}

func FuzzParseIdentities(f *testing.F) {
	x, _ := age.GenerateX25519Identity()
	f.Add([]byte(x.String() + "\n"))
	f.Add([]byte("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := ParseIdentities(b)
		if err == nil && len(ids) == 0 {
			t.Fatal("no error and no identity")
		}
	})
}

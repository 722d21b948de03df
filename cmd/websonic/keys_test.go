package main

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/signing"
)

// TestKeysGenerate runs `websonic keys generate` in-process for each
// algorithm: it writes an encrypted key that loads with the password from
// WEBSONIC_KEY_PASSWORD, prints its id, and refuses a second run.
func TestKeysGenerate(t *testing.T) {
	const password = "publisher secret"
	t.Setenv("WEBSONIC_KEY_PASSWORD", password)
	tests := []struct {
		name string
		args []string
		file string // NAME
		alg  signing.Algorithm
	}{
		{"default", nil, "publisher", signing.Ed25519},
		{"ed25519 named", []string{"--algorithm", "ed25519", "--name", "root"}, "root", signing.Ed25519},
		{"ecdsa-p256", []string{"--algorithm", "ecdsa-p256", "--name", "targets"}, "targets", signing.ECDSAP256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"keys", "generate", "--out", dir}, tt.args...)
			var out, errOut bytes.Buffer
			if err := run(args, strings.NewReader(""), &out, &errOut); err != nil {
				t.Fatalf("run: %v\n%s", err, errOut.String())
			}
			priv, pub := filepath.Join(dir, tt.file+".key"), filepath.Join(dir, tt.file+".pub")
			for _, f := range []struct {
				path string
				mode fs.FileMode
			}{{priv, 0o600}, {pub, 0o644}} {
				fi, err := os.Stat(f.path)
				if err != nil {
					t.Fatal(err)
				}
				if m := fi.Mode().Perm(); m&^f.mode != 0 || (f.mode == 0o600 && m != 0o600) {
					t.Errorf("%s mode %v, want %v", f.path, m, f.mode)
				}
				if !strings.Contains(out.String(), f.path) {
					t.Errorf("output does not name %s:\n%s", f.path, out.String())
				}
			}
			privPEM, _ := os.ReadFile(priv)
			sv, err := signing.Load(privPEM, []byte(password))
			if err != nil {
				t.Fatal(err)
			}
			pk, err := sv.PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			id, err := signing.KeyID(pk)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), id) || !strings.Contains(out.String(), string(tt.alg)) {
				t.Errorf("output lacks key id %s or algorithm %s:\n%s", id, tt.alg, out.String())
			}
			pubPEM, _ := os.ReadFile(pub)
			if _, err := signing.LoadPublic(pubPEM); err != nil {
				t.Fatal(err)
			}
			if _, err := signing.Load(privPEM, []byte("not it")); !errors.Is(err, signing.ErrWrongPassword) {
				t.Errorf("wrong password: %v", err)
			}

			// A second run must not replace the key.
			err = run(args, strings.NewReader(""), &out, &errOut)
			if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "refusing to overwrite") {
				t.Fatalf("second run: %v, want a refusal to overwrite", err)
			}
			if again, _ := os.ReadFile(priv); !bytes.Equal(again, privPEM) {
				t.Fatal("private key replaced")
			}
		})
	}
}

func TestKeysGenerateErrors(t *testing.T) {
	tests := []struct {
		name     string
		password *string // nil: WEBSONIC_KEY_PASSWORD unset
		stdin    string
		args     []string
		want     string
	}{
		{"missing password", nil, "", []string{"--out", "DIR"}, "no password: set WEBSONIC_KEY_PASSWORD"},
		{"empty password", ptr(""), "", []string{"--out", "DIR"}, "empty password"},
		{"missing --out", ptr("pw"), "", nil, "--out is required"},
		{"unknown algorithm", ptr("pw"), "", []string{"--out", "DIR", "--algorithm", "rsa"}, `unknown algorithm "rsa"`},
		{"bad name", ptr("pw"), "", []string{"--out", "DIR", "--name", "../x"}, "invalid key name"},
		{"out is a file", ptr("pw"), "", []string{"--out", "DIR/file/keys"}, "not a directory"},
		{"unknown keys command", ptr("pw"), "", []string{"revoke"}, `unknown command "keys revoke"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WEBSONIC_KEY_PASSWORD", "")
			if tt.password == nil {
				os.Unsetenv("WEBSONIC_KEY_PASSWORD")
			} else {
				os.Setenv("WEBSONIC_KEY_PASSWORD", *tt.password)
			}
			dir := t.TempDir()
			if strings.Contains(strings.Join(tt.args, " "), "DIR/file") {
				if err := os.WriteFile(filepath.Join(dir, "file"), nil, 0o644); err != nil {
					t.Fatal(err)
				}
				defer os.Remove(filepath.Join(dir, "file"))
			}
			args := []string{"keys"}
			if len(tt.args) == 0 || strings.HasPrefix(tt.args[0], "-") {
				args = append(args, "generate")
			}
			for _, a := range tt.args {
				args = append(args, strings.Replace(a, "DIR", dir, 1))
			}
			var out, errOut bytes.Buffer
			err := run(args, strings.NewReader(tt.stdin), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
			if entries, _ := os.ReadDir(dir); len(entries) > 1 || len(entries) == 1 && entries[0].Name() != "file" {
				t.Errorf("files written on error: %v", entries)
			}
		})
	}
}

// TestKeysGeneratePasswordFromStdin reads the password from a non-terminal
// stdin when WEBSONIC_KEY_PASSWORD is unset.
func TestKeysGeneratePasswordFromStdin(t *testing.T) {
	t.Setenv("WEBSONIC_KEY_PASSWORD", "")
	os.Unsetenv("WEBSONIC_KEY_PASSWORD")
	dir := t.TempDir()
	var out, errOut bytes.Buffer
	if err := run([]string{"keys", "generate", "--out", dir}, strings.NewReader("piped secret\n"), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "publisher.key"))
	if _, err := signing.Load(b, []byte("piped secret")); err != nil {
		t.Fatal(err)
	}
}

// TestKeysGenerateMakesTheFolder: `keys generate --out keys` works in a
// fresh checkout: the folder is made, readable by its owner only.
func TestKeysGenerateMakesTheFolder(t *testing.T) {
	t.Setenv("WEBSONIC_KEY_PASSWORD", "publisher secret")
	dir := filepath.Join(t.TempDir(), "keys", "offline")
	var out, errOut bytes.Buffer
	if err := run([]string{"keys", "generate", "--out", dir, "--name", "root"}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("keys generate into a new folder: %v\n%s", err, errOut.String())
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("folder %v (%v), want mode 0700", fi, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "root.key")); err != nil {
		t.Fatal(err)
	}
}

// TestWrongKeyPassword: a wrong password is called a wrong password, on
// the key it fails to open, and nothing suggests making a new key.
func TestWrongKeyPassword(t *testing.T) {
	keys := t.TempDir()
	for _, name := range []string{"root", "targets"} {
		t.Setenv("WEBSONIC_KEY_PASSWORD", "the right one")
		var out, errOut bytes.Buffer
		if err := run([]string{"keys", "generate", "--out", keys, "--name", name}, strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("WEBSONIC_KEY_PASSWORD", "a wrong one")
	t.Setenv("WEBSONIC_REGISTRY_TOKEN", "wsp_unused")
	for _, args := range [][]string{
		{"keys", "init", "--keys", keys},
		{"keys", "rotate", "--keys", keys, "--new-keys", keys},
		{"module", "revoke", "hello@1.0.0", "--keys", keys},
	} {
		var out, errOut bytes.Buffer
		err := run(args, strings.NewReader(""), &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), "wrong password") || !strings.Contains(err.Error(), filepath.Join(keys, "root.key")) ||
			strings.Contains(err.Error(), "keys generate") {
			t.Errorf("%v: %v", args, err)
		}
	}
}

func ptr[T any](v T) *T { return &v }

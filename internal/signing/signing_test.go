package signing_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/websonic/websonic/internal/signing"
)

var password = []byte("correct horse battery staple")

func TestGenerateLoadSignVerify(t *testing.T) {
	for _, alg := range signing.Algorithms {
		t.Run(string(alg), func(t *testing.T) {
			kp, err := signing.Generate(alg, password)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(kp.PrivatePEM, []byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")) {
				t.Fatalf("private key not encrypted PEM:\n%s", kp.PrivatePEM)
			}
			if !bytes.HasPrefix(kp.PublicPEM, []byte("-----BEGIN PUBLIC KEY-----")) {
				t.Fatalf("public key not PEM:\n%s", kp.PublicPEM)
			}
			if len(kp.KeyID) != 64 || strings.Trim(kp.KeyID, "0123456789abcdef") != "" {
				t.Fatalf("key id %q is not hex SHA-256", kp.KeyID)
			}
			sv, err := signing.Load(kp.PrivatePEM, password)
			if err != nil {
				t.Fatal(err)
			}
			pub, err := sv.PublicKey()
			if err != nil {
				t.Fatal(err)
			}
			if id, _ := signing.KeyID(pub); id != kp.KeyID {
				t.Fatalf("loaded key id %s, generated %s", id, kp.KeyID)
			}
			v, err := signing.LoadPublic(kp.PublicPEM)
			if err != nil {
				t.Fatal(err)
			}

			msg := []byte("websonic module blog 1.2.0 sha256:abc")
			sig, err := sv.SignMessage(bytes.NewReader(msg))
			if err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name    string
				msg     []byte
				wantErr bool
			}{
				{"original", msg, false},
				{"tampered", append(bytes.Clone(msg[:len(msg)-1]), 'd'), true},
				{"truncated", msg[:len(msg)-1], true},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					for _, ver := range []struct {
						name string
						err  error
					}{
						{"signer", sv.VerifySignature(bytes.NewReader(sig), bytes.NewReader(tt.msg))},
						{"public", v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(tt.msg))},
					} {
						if (ver.err != nil) != tt.wantErr {
							t.Errorf("%s verify: err = %v, want error %v", ver.name, ver.err, tt.wantErr)
						}
					}
				})
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	kp, err := signing.Generate(signing.Ed25519, password)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clear, err := cryptoutils.MarshalPrivateKeyToPEM(ec)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(ec, cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		t.Fatal(err)
	}
	p384PEM := cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, p384)

	tests := []struct {
		name     string
		pem      []byte
		password []byte
		want     error  // matched with errors.Is, if set
		contains string // in the message
	}{
		{"wrong password", kp.PrivatePEM, []byte("wrong"), signing.ErrWrongPassword, "wrong password"},
		{"empty password", kp.PrivatePEM, nil, signing.ErrEmptyPassword, "empty password"},
		{"not PEM", []byte("hello"), password, nil, "no PEM block"},
		{"public key", kp.PublicPEM, password, nil, "unsupported PEM block"},
		{"plaintext key", clear, password, signing.ErrNotEncrypted, "not encrypted"},
		{"P-384", p384PEM, password, signing.ErrUnknownAlgorithm, "P-384"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := signing.Load(tt.pem, tt.password)
			if err == nil {
				t.Fatal("loaded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "signing: ") || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("err = %q, want prefix %q containing %q", err, "signing: ", tt.contains)
			}
		})
	}
}

func TestGenerateErrors(t *testing.T) {
	tests := []struct {
		name     string
		alg      signing.Algorithm
		password []byte
		want     error
	}{
		{"empty password", signing.Ed25519, nil, signing.ErrEmptyPassword},
		{"empty password ecdsa", signing.ECDSAP256, []byte{}, signing.ErrEmptyPassword},
		{"rsa", "rsa-2048", password, signing.ErrUnknownAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := signing.Generate(tt.alg, tt.password); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestWriteFiles(t *testing.T) {
	kp, err := signing.Generate(signing.ECDSAP256, password)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	priv, pub, err := signing.WriteFiles(dir, "publisher", kp)
	if err != nil {
		t.Fatal(err)
	}
	if priv != filepath.Join(dir, "publisher.key") || pub != filepath.Join(dir, "publisher.pub") {
		t.Fatalf("paths %s %s", priv, pub)
	}
	for _, f := range []struct {
		path string
		want []byte
		mode fs.FileMode
	}{{priv, kp.PrivatePEM, 0o600}, {pub, kp.PublicPEM, 0o644}} {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m&^f.mode != 0 || (f.mode == 0o600 && m != 0o600) {
			t.Errorf("%s mode %v, want %v", f.path, m, f.mode)
		}
		b, _ := os.ReadFile(f.path)
		if !bytes.Equal(b, f.want) {
			t.Errorf("%s content differs", f.path)
		}
	}

	t.Run("refuses to overwrite", func(t *testing.T) {
		other, err := signing.Generate(signing.Ed25519, password)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := signing.WriteFiles(dir, "publisher", other); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("err = %v, want fs.ErrExist", err)
		}
		if b, _ := os.ReadFile(priv); !bytes.Equal(b, kp.PrivatePEM) {
			t.Fatal("private key replaced")
		}
	})
	t.Run("refuses when only the public key exists", func(t *testing.T) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "k.pub"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := signing.WriteFiles(d, "k", kp); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("err = %v, want fs.ErrExist", err)
		}
		if _, err := os.Stat(filepath.Join(d, "k.key")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatal("private key written although the public key existed")
		}
	})
	t.Run("bad names", func(t *testing.T) {
		for _, name := range []string{"", ".", "..", "../x", "a/b"} {
			if _, _, err := signing.WriteFiles(t.TempDir(), name, kp); err == nil {
				t.Errorf("name %q accepted", name)
			}
		}
	})
}

// FuzzLoad feeds arbitrary bytes to Load, as a PEM body inside each block
// type it handles and raw: it must return an error, never panic.
func FuzzLoad(f *testing.F) {
	kp, err := signing.Generate(signing.Ed25519, password)
	if err != nil {
		f.Fatal(err)
	}
	block, _ := pem.Decode(kp.PrivatePEM)
	f.Add(kp.PrivatePEM, false)
	f.Add(block.Bytes, true)
	f.Add([]byte(`{"kdf":{"name":"scrypt","params":{"N":1,"r":1,"p":1}},"cipher":{"name":"nacl/secretbox"}}`), true)
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, wrap bool) {
		in := data
		if wrap {
			in = cryptoutils.PEMEncode(cryptoutils.EncryptedSigstorePrivateKeyPEMType, data)
		}
		sv, err := signing.Load(in, password)
		if err == nil && sv == nil {
			t.Fatal("nil signer without error")
		}
		if err != nil && !strings.HasPrefix(err.Error(), "signing: ") {
			t.Fatalf("error without prefix: %v", err)
		}
	})
}

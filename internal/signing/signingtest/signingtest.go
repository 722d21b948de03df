// Package signingtest gives tests throwaway signing keys: fresh ed25519
// sigstore signers held in memory, without the scrypt cost of the
// encrypted keys package signing writes.
package signingtest

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
)

// NewSigner returns a fresh ed25519 signer.
func NewSigner(t testing.TB) signature.SignerVerifier {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signature.LoadSignerVerifier(priv, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

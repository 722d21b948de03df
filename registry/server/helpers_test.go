package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// resignTargets signs the next version of the registry's targets with
// signer alone, as an attacker holding a wrong key would.
func resignTargets(t *testing.T, e *env, signer signature.Signer) []byte {
	t.Helper()
	m, err := metadata.Targets().FromBytes(e.reg.TUF().Repo().State().Targets)
	if err != nil {
		t.Fatal(err)
	}
	m.Signed.Version++
	m.ClearSignatures()
	if _, err := m.Sign(signer); err != nil {
		t.Fatal(err)
	}
	b, err := m.ToBytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// putTargets sends raw targets with the named token; a refusal is an error
// carrying the registry's message.
func putTargets(t *testing.T, e *env, token string, raw []byte) error {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/v1/tuf/targets.json", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+e.tokens[token])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", resp.Status, body)
	}
	return nil
}

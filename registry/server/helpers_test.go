package server_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
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

// clientFrom returns an HTTP client whose connections come from the
// loopback address ip (any of 127.0.0.0/8 on Linux), so that a test can
// play several clients against per-client limits.
func clientFrom(t *testing.T, ip string) *http.Client {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	tr := &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// send sends a request and returns its status, headers and body.
func send(t *testing.T, c *http.Client, method, url string, body []byte, hdr ...string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

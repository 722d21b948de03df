package server_test

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/internal/signing/signingtest"
	"github.com/websonic/websonic/internal/tlsserve"
	"github.com/websonic/websonic/internal/tlsserve/tlstest"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/server"
)

// serveRegistry opens a registry with tc and serves it on loopback until
// the test ends; it returns the address and Serve's result channel.
func serveRegistry(t *testing.T, tc tlsserve.Config) (string, <-chan error) {
	t.Helper()
	reg, err := server.Open(context.Background(), server.Config{
		DataDir: t.TempDir(), DatabaseURL: pgtest.NewDB(t).URL, RenewEvery: time.Hour, TLS: tc,
		OnlineKeys: tufrepo.Keys{Snapshot: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}, Timestamp: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}},
		Logger:     hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(context.Background()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- reg.Serve(ctx, ln) }()
	t.Cleanup(stop)
	return ln.Addr().String(), served
}

// TestServeTLS: with certificate files the registry answers HTTPS only,
// and every response over TLS carries HSTS; without TLS it sends none.
func TestServeTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "registry CA")
	certFile, keyFile := ca.Issue(t, "127.0.0.1").WriteFiles(t, t.TempDir())
	addr, _ := serveRegistry(t, tlsserve.Config{CertFile: certFile, KeyFile: keyFile})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	defer c.CloseIdleConnections()
	for _, path := range []string{"/healthz", "/v2/", "/v1/tuf/timestamp.json", "/no-such-path"} {
		resp, err := c.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("Strict-Transport-Security") != "max-age=63072000" {
			t.Errorf("GET %s: %s without HSTS", path, resp.Status)
		}
	}
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("plain HTTP to the TLS port: %s", resp.Status)
	}

	plainAddr, _ := serveRegistry(t, tlsserve.Config{})
	resp, err = http.Get("http://" + plainAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Fatalf("plain registry: %s, HSTS %q", resp.Status, resp.Header.Get("Strict-Transport-Security"))
	}
}

// TestServeTLSRefusesBadCertificate: Serve fails at once, naming the
// problem, on a certificate it cannot serve.
func TestServeTLSRefusesBadCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "registry CA")
	_, keyFile := ca.Issue(t, "127.0.0.1").WriteFiles(t, t.TempDir())
	_, served := serveRegistry(t, tlsserve.Config{CertFile: keyFile, KeyFile: keyFile})
	if err := <-served; err == nil || !strings.Contains(err.Error(), "registry: tlsserve:") {
		t.Fatalf("Serve = %v, want a tlsserve error", err)
	}
}

package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
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

// TestDefaultRealm: without a configured PublicURL, the login realm names
// the registry as clients reach it: under TLS, the name its certificate is
// for (what the README's `registry serve --addr :443 --acme-domains
// registry.example` gives), never "localhost" or the listen address,
// which OCI clients refuse to send a token to from another host.
func TestDefaultRealm(t *testing.T) {
	ca := tlstest.NewCA(t, "registry CA")
	dir := t.TempDir()
	dnsCert, dnsKey := ca.Issue(t, "registry.test", "127.0.0.1").WriteFiles(t, t.TempDir())
	ipCert, ipKey := ca.Issue(t, "192.0.2.7").WriteFiles(t, t.TempDir())
	db := pgtest.NewDB(t)
	for _, tt := range []struct {
		name, addr string
		tls        tlsserve.Config
		want       string
	}{
		{"ACME on :443", ":443", tlsserve.Config{ACMEDomains: []string{"registry.example", "www.registry.example"}, Dir: dir}, "https://registry.example/v1/token"},
		{"ACME on another port", "0.0.0.0:8443", tlsserve.Config{ACMEDomains: []string{"registry.example"}, Dir: dir}, "https://registry.example:8443/v1/token"},
		{"certificate for a name", "[::]:443", tlsserve.Config{CertFile: dnsCert, KeyFile: dnsKey}, "https://registry.test/v1/token"},
		{"certificate for an address", ":9443", tlsserve.Config{CertFile: ipCert, KeyFile: ipKey}, "https://192.0.2.7:9443/v1/token"},
		{"self-signed", "127.0.0.1:9443", tlsserve.Config{SelfSigned: true}, "https://localhost:9443/v1/token"},
		{"plain HTTP", "127.0.0.1:8090", tlsserve.Config{}, "http://127.0.0.1:8090/v1/token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			reg, err := server.Open(context.Background(), server.Config{
				Addr: tt.addr, DataDir: t.TempDir(), DatabaseURL: db.URL, RenewEvery: time.Hour, TLS: tt.tls,
				OnlineKeys: tufrepo.Keys{Snapshot: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}, Timestamp: tufrepo.Role{Signers: []signature.Signer{signingtest.NewSigner(t)}}},
				Logger:     hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: os.Stderr}),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close(context.Background())
			srv := httptest.NewServer(reg.Handler())
			defer srv.Close()
			code, h, _ := send(t, http.DefaultClient, http.MethodPost, srv.URL+"/v2/modules/blog/blobs/uploads/", nil)
			want := `Bearer realm="` + tt.want + `",service="websonic-registry"`
			if got := h.Get("WWW-Authenticate"); code != http.StatusUnauthorized || got != want {
				t.Fatalf("push without a token: %d %q, want 401 %q", code, got, want)
			}
		})
	}
}

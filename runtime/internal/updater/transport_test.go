package updater

import (
	"bytes"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/tlsserve/tlstest"
)

func TestCertPool(t *testing.T) {
	a, b := tlstest.NewCA(t, "a"), tlstest.NewCA(t, "b")
	key := tlstest.NewCA(t, "c").Issue(t, "x.example").KeyPEM
	for _, tc := range []struct {
		name string
		pem  []byte
		want string // "" parses
	}{
		{"one", a.PEM, ""},
		{"two with blank lines", append(append(append([]byte("\n"), a.PEM...), '\n'), b.PEM...), ""},
		{"empty", nil, "no certificate"},
		{"blank", []byte(" \n\t"), "no certificate"},
		{"text", []byte("not a certificate"), "not PEM"},
		{"a key", key, "a PRIVATE KEY block"},
		{"a certificate then a key", append(bytes.Clone(a.PEM), key...), "a PRIVATE KEY block"},
		{"a certificate then text", append(bytes.Clone(a.PEM), "junk"...), "not PEM"},
		{"bad DER", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "registry CA:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := certPool(tc.pem)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("certPool = %v, want %q", err, tc.want)
			}
		})
	}
}

func FuzzCertPool(f *testing.F) {
	f.Add(tlstest.NewCA(f, "a").PEM)
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := certPool(b); (p == nil) == (err == nil) {
			t.Fatalf("certPool = %v, %v", p, err)
		}
	})
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1": true, "127.1.2.3": true, "::1": true, "localhost": true,
		"10.0.0.1": false, "0.0.0.0": false, "registry.example": false, "localhost.example": false, "": false, "::": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}

// TestNoRedirectOffTLS: the registry's clients follow a redirect to
// HTTPS, never to plain HTTP (but to loopback in development).
func TestNoRedirectOffTLS(t *testing.T) {
	ca := tlstest.NewCA(t, "registry CA")
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("clear")) }))
	defer plain.Close()
	reg := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/to-plain" {
			http.Redirect(w, r, plain.URL+"/", http.StatusFound)
			return
		}
		if r.URL.Path == "/to-tls" {
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		w.Write([]byte("ok"))
	}))
	pair := ca.Issue(t, "127.0.0.1")
	kp, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	reg.TLS = &tls.Config{Certificates: []tls.Certificate{kp}}
	reg.StartTLS()
	defer reg.Close()
	for _, tc := range []struct {
		name     string
		dev      bool
		path     string
		wantBody string
		wantErr  string
	}{
		{"to https", false, "/to-tls", "ok", ""},
		{"to plain http", false, "/to-plain", "", "HTTPS only"},
		{"to plain loopback in development", true, "/to-plain", "clear", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			requests, stream, err := clients(Config{RegistryCA: ca.PEM, PlainLoopback: tc.dev})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []*http.Client{requests, stream} {
				resp, err := c.Get(reg.URL + tc.path)
				if tc.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("GET %s = %v, want %q", tc.path, err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				var b bytes.Buffer
				b.ReadFrom(resp.Body)
				resp.Body.Close()
				if b.String() != tc.wantBody {
					t.Fatalf("GET %s: %q", tc.path, b.String())
				}
			}
		})
	}
}

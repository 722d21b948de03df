package server_test

import (
	"net"
	"net/http"
	"testing"

	"github.com/websonic/websonic/internal/tlsserve"
	"github.com/websonic/websonic/registry/server"
)

// TestRedirectListenerCapped: the plain-HTTP redirect listener
// (--http-redirect-addr) holds sockets like the HTTPS one, so its
// connections count toward the same caps: a client's connection over its
// cap is closed unanswered, whichever port it opens, and the registry's
// connection count includes them.
func TestRedirectListenerCapped(t *testing.T) {
	redirect := freePort(t)
	e := newEnvWith(t, func(c *server.Config) {
		c.TLS = tlsserve.Config{SelfSigned: true, RedirectAddr: redirect}
		c.MaxConnectionsPerClient = 3
	})
	addr := serve(t, e)
	waitFor(t, "the redirect listener", func() bool {
		c, err := net.Dial("tcp", redirect)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	waitFor(t, "no connection open", func() bool { return e.reg.Connections() == 0 })
	dialFrom(t, "127.0.0.2", addr)     // one idle connection on the HTTPS port,
	dialFrom(t, "127.0.0.2", redirect) // two on the redirect port
	dialFrom(t, "127.0.0.2", redirect)
	waitFor(t, "the three connections counted", func() bool { return e.reg.Connections() == 3 })
	if resp, err := get(dialFrom(t, "127.0.0.2", redirect), "/v2/"); err == nil {
		t.Fatalf("a client's fourth connection, on the redirect port, answered %s", resp.Status)
	}
	if resp, err := get(dialFrom(t, "127.0.0.3", redirect), "/v2/"); err != nil || resp.StatusCode != http.StatusPermanentRedirect {
		t.Fatalf("another client on the redirect port: %v %v", resp, err)
	}
}

// freePort is a loopback address nothing listens on.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

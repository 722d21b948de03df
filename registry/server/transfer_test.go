package server_test

import (
	"crypto/rand"
	"crypto/tls"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/tlsserve"
	"github.com/websonic/websonic/internal/tlsserve/tlstest"
	"github.com/websonic/websonic/registry/server"
)

// bigBlob pushes a blob of 16 MiB, more than any client's flow-control
// window and socket buffers hold, to modules/blog and returns its path.
func bigBlob(t *testing.T, e *env) string {
	t.Helper()
	b := make([]byte, 16<<20)
	rand.Read(b)
	d := digest(b)
	code, _, body := send(t, http.DefaultClient, http.MethodPost, e.srv.URL+"/v2/modules/blog/blobs/uploads/?digest="+d, b,
		"Authorization", "Bearer "+e.tokens["blog"], "Content-Type", "application/octet-stream")
	if code != http.StatusCreated {
		t.Fatalf("push a blob: %d %s", code, body)
	}
	return "/v2/modules/blog/blobs/" + d
}

// TestRequestsPerClientOverHTTP2: over HTTP/2 one connection carries many
// requests at once, so the per-client connection cap does not bound what
// one client holds: each blob download it never reads keeps a request, a
// goroutine and an open file. One client's requests in progress are capped
// on their own (429 with Retry-After past the cap), whatever the protocol,
// and other clients are served meanwhile.
func TestRequestsPerClientOverHTTP2(t *testing.T) {
	ca := tlstest.NewCA(t, "registry CA")
	certFile, keyFile := ca.Issue(t, "127.0.0.1").WriteFiles(t, t.TempDir())
	e := newEnvWith(t, func(c *server.Config) {
		c.TLS = tlsserve.Config{CertFile: certFile, KeyFile: keyFile}
		c.MaxConnectionsPerClient = 2
	})
	path := bigBlob(t, e)
	addr := serve(t, e)
	h2 := func(ip string) *http.Client {
		c := clientFrom(t, ip)
		tr := c.Transport.(*http.Transport)
		tr.TLSClientConfig = &tls.Config{RootCAs: ca.Pool()}
		tr.ForceAttemptHTTP2 = true
		tr.DisableKeepAlives = false
		return c
	}
	attacker := h2("127.0.0.2")
	var held []*http.Response
	t.Cleanup(func() {
		for _, r := range held {
			r.Body.Close()
		}
	})
	refused := false
	for i := 0; i < 20 && !refused; i++ {
		resp, err := attacker.Get("https://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s, want HTTP/2", resp.Proto)
		}
		switch resp.StatusCode {
		case http.StatusOK:
			held = append(held, resp) // headers in, body never read
		case http.StatusTooManyRequests:
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Fatalf("429 with Retry-After %q", resp.Header.Get("Retry-After"))
			}
			resp.Body.Close()
			refused = true
		default:
			t.Fatalf("GET the blob: %s", resp.Status)
		}
	}
	if !refused || len(held) != 2 {
		t.Fatalf("one client holds %d unread downloads over one HTTP/2 connection (refused: %v), want 2 then 429", len(held), refused)
	}
	resp, err := h2("127.0.0.3").Get("https://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || n != 16<<20 {
		t.Fatalf("another client's download: %s, %d bytes, %v", resp.Status, n, err)
	}
}

// TestSlowReaderCutOff: a client that asks for a blob and stops reading
// does not hold its request, connection and open file forever: a
// response that cannot be written for BodyIdleTimeout is ended, and its
// connection closed. (The minimum rate, which ends a client that reads a
// little at a time, is TestResponsesDeadlines in package limit: over
// loopback, TCP's own buffering decides how long each write waits.)
func TestSlowReaderCutOff(t *testing.T) {
	e := newEnvWith(t, func(c *server.Config) { c.BodyIdleTimeout = 2 * time.Second })
	path := bigBlob(t, e)
	addr := serve(t, e)
	conn := dialFrom(t, "127.0.0.2", addr)
	if resp, err := get(conn, path); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET the blob: %v %v", resp, err)
	}
	waitFor(t, "the server to give up on a client that stopped reading", func() bool { return e.reg.Connections() == 0 })

	// A client that reads is served in full.
	conn = dialFrom(t, "127.0.0.3", addr)
	resp, err := get(conn, path)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := io.Copy(io.Discard, resp.Body); resp.StatusCode != http.StatusOK || err != nil || n != 16<<20 {
		t.Fatalf("a reading client: %s, %d bytes, %v", resp.Status, n, err)
	}
}

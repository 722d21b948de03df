package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/server"
)

// patience bounds the waits of these tests; it only guards against a
// hang and asserts no speed.
const patience = 30 * time.Second

// rawRequest sends a request's head and the start of its body on a new
// connection to e, and returns the connection (closed with the test).
func rawRequest(t *testing.T, e *env, head, body string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", e.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(patience))
	if _, err := io.WriteString(conn, head+"\r\n\r\n"+body); err != nil {
		t.Fatal(err)
	}
	return conn
}

// readAnswer reads the response on conn; it fails the test if none comes
// within patience.
func readAnswer(t *testing.T, conn net.Conn) *http.Response {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer while the body is still open: %v", err)
	}
	resp.Body.Close()
	return resp
}

// TestRefusedBodyNotAwaited: a request refused before its body is read
// (no token, a bad token) is answered at once and its connection closed,
// however slowly its body arrives; net/http would otherwise read the rest
// of the body first.
func TestRefusedBodyNotAwaited(t *testing.T) {
	e := newEnv(t)
	for _, head := range []string{
		"PUT /v1/tuf/targets.json HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked",
		"PUT /v1/tuf/root.json HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\nAuthorization: Bearer wsp_wrong",
		"POST /v2/modules/blog/blobs/uploads/?digest=sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked",
		"PUT /v2/modules/blog/manifests/1.0.0 HTTP/1.1\r\nHost: r\r\nContent-Length: 100000",
	} {
		t.Run(strings.Fields(head)[1], func(t *testing.T) {
			conn := rawRequest(t, e, head, "1\r\n{\r\n") // and nothing more
			resp := readAnswer(t, conn)
			if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
				t.Fatalf("%s (close %v), want 401 closing the connection", resp.Status, resp.Close)
			}
		})
	}
}

// TestSlowBodyCutOff: a body that stalls, or trickles in below the minimum
// rate, is cut off (408, connection closed), from a valid publisher too.
func TestSlowBodyCutOff(t *testing.T) {
	e := newEnvWith(t, func(c *server.Config) {
		c.BodyIdleTimeout = time.Second
		c.MinBodyRate = 1 << 20
	})
	auth := "Authorization: Bearer " + e.tokens["blog"]
	tests := []struct {
		name    string
		head    string
		trickle bool
	}{
		{"stalled targets", "PUT /v1/tuf/targets.json HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n" + auth, false},
		{"trickled targets", "PUT /v1/tuf/targets.json HTTP/1.1\r\nHost: r\r\nTransfer-Encoding: chunked\r\n" + auth, true},
		{"stalled blob", "POST /v2/modules/blog/blobs/uploads/?digest=sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 HTTP/1.1\r\nHost: r\r\nContent-Length: 100000\r\n" + auth, false},
		{"trickled blob", "POST /v2/modules/blog/blobs/uploads/?digest=sha256:2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 HTTP/1.1\r\nHost: r\r\nContent-Length: 100000\r\n" + auth, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chunked := strings.Contains(tt.head, "chunked")
			conn := rawRequest(t, e, tt.head, "")
			stop := make(chan struct{})
			trickled := make(chan struct{})
			go func() {
				defer close(trickled)
				for {
					b := "x"
					if chunked {
						b = "1\r\nx\r\n"
					}
					if _, err := io.WriteString(conn, b); err != nil || !tt.trickle {
						return
					}
					select {
					case <-stop:
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
			}()
			resp := readAnswer(t, conn)
			close(stop)
			<-trickled
			if resp.StatusCode != http.StatusRequestTimeout || !resp.Close {
				t.Fatalf("%s (close %v), want 408 closing the connection", resp.Status, resp.Close)
			}
		})
	}
}

// TestDeclaredBodyTooLarge: a declared Content-Length over what the
// endpoint takes is refused at once, before any of the body is sent.
func TestDeclaredBodyTooLarge(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/tuf/targets.json", "/v1/tuf/root.json"} {
		t.Run(path, func(t *testing.T) {
			conn := rawRequest(t, e, fmt.Sprintf("PUT %s HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer %s\r\nContent-Length: %d", path, e.tokens["admin"], int64(1)<<40), "")
			if resp := readAnswer(t, conn); resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s, want 413", resp.Status)
			}
		})
	}
}

// TestSlowUploadsLeavePullsAnswering: more slow chunk uploads than the
// registry's database pool has connections (16), each in the middle of
// its body, while anonymous pulls and TUF fetches answer. The bodies'
// idle timeout is an hour here: no deadline frees what they hold.
func TestSlowUploadsLeavePullsAnswering(t *testing.T) {
	e := newEnvWith(t, func(c *server.Config) {
		c.MaxUploadsPerToken = 100
		c.BodyIdleTimeout = time.Hour
	})
	ctx := context.Background()
	rel, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable)
	if err != nil {
		t.Fatal(err)
	}
	const n = 16 + 4
	auth := "Authorization: Bearer " + e.tokens["blog"]
	reached := make(chan struct{}, n)
	var locs []string
	for range n {
		_, h, body := send(t, http.DefaultClient, http.MethodPost, e.srv.URL+"/v2/modules/blog/blobs/uploads/", nil, "Authorization", "Bearer "+e.tokens["blog"])
		if h.Get("Location") == "" {
			t.Fatalf("start: %s", body)
		}
		locs = append(locs, h.Get("Location"))
	}
	for _, loc := range locs {
		// Expect: 100-continue: the registry asks for the body when it
		// reads it; then the body never comes.
		conn := rawRequest(t, e, "PATCH "+loc+" HTTP/1.1\r\nHost: r\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n"+auth, "")
		go func() {
			line, err := bufio.NewReader(conn).ReadString('\n')
			if err == nil && strings.HasPrefix(line, "HTTP/1.1 100") {
				reached <- struct{}{}
			}
		}()
	}
	deadline := time.After(patience)
	for got := 0; got < n; got++ {
		select {
		case <-reached:
		case <-deadline:
			t.Fatalf("only %d of %d slow uploads reached their body", got, n)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	for _, path := range []string{"/v1/tuf/timestamp.json", "/v1/tuf/targets.json", "/v2/modules/blog/manifests/1.0.0", "/v2/modules/blog/manifests/" + rel.ManifestDigest} {
		req, _ := http.NewRequestWithContext(pctx, http.MethodGet, e.srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s with %d slow uploads: %v", path, n, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
	}
}

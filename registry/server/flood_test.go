package server_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/server"
)

// serve serves e's registry with its own Serve (the listener's limits
// included) on a new loopback listener, and returns its address.
func serve(t *testing.T, e *env) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.reg.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// dialFrom opens a TCP connection to addr from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(patience))
	return conn
}

// get sends GET path on conn and reads the response head; err is the
// connection's error when the server closed it without an answer.
func get(conn net.Conn, path string) (*http.Response, error) {
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: registry\r\n\r\n", path); err != nil {
		return nil, err
	}
	return http.ReadResponse(bufio.NewReader(conn), nil)
}

// TestWatchFlood: watch streams are capped per client (429) and in all
// (503), below the connections the listener takes, so that the API keeps
// answering; the listener caps a client's connections (refusing more at
// once) and all connections (the next waits for one to close).
func TestWatchFlood(t *testing.T) {
	e := newEnvWith(t, func(c *server.Config) {
		c.MaxWatchersPerClient = 2
		c.MaxWatchers = 4
		c.MaxConnectionsPerClient = 5
		c.MaxConnections = 12
	})
	rel, err := e.publisher("blog").Publish(context.Background(), e.pkg("blog", "1.0.0"), tufrepo.ChannelStable)
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, e)
	// Refused watches and API requests close their connections: each
	// watch stream holds one.
	watch := func(ip string) *http.Response {
		t.Helper()
		conn := dialFrom(t, ip, addr)
		resp, err := get(conn, "/v1/watch")
		if err != nil {
			t.Fatalf("watch from %s: %v", ip, err)
		}
		if resp.StatusCode != http.StatusOK {
			conn.Close()
		}
		return resp
	}
	refused := func(resp *http.Response, status int) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("%s, want %d", resp.Status, status)
		}
		if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
		}
	}
	// Per client.
	for range 2 {
		if resp := watch("127.0.0.2"); resp.StatusCode != http.StatusOK {
			t.Fatalf("watch: %s", resp.Status)
		}
	}
	refused(watch("127.0.0.2"), http.StatusTooManyRequests)
	// In all.
	for range 2 {
		if resp := watch("127.0.0.3"); resp.StatusCode != http.StatusOK {
			t.Fatalf("watch: %s", resp.Status)
		}
	}
	refused(watch("127.0.0.4"), http.StatusServiceUnavailable)
	if n := e.reg.Watchers(); n != 4 {
		t.Fatalf("%d watchers, want 4", n)
	}
	// The API answers meanwhile.
	for _, path := range []string{"/healthz", "/v1/tuf/timestamp.json", "/v2/modules/blog/manifests/" + rel.ManifestDigest} {
		conn := dialFrom(t, "127.0.0.4", addr)
		resp, err := get(conn, path)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s with the watchers full: %v %v", path, resp, err)
		}
		conn.Close()
	}
	waitFor(t, "the watchers' connections alone", func() bool { return e.reg.Connections() == 4 })
	// A client's idle connections: the one over its cap is closed unanswered.
	var idle []net.Conn
	for range 5 {
		idle = append(idle, dialFrom(t, "127.0.0.5", addr))
	}
	if resp, err := get(dialFrom(t, "127.0.0.5", addr), "/healthz"); err == nil {
		t.Fatalf("a client's connection over its cap answered %s", resp.Status)
	}
	// In all: 4 watchers + 5 idle + 3 more = 12; the next waits for a place.
	for _, ip := range []string{"127.0.0.6", "127.0.0.6", "127.0.0.7"} {
		idle = append(idle, dialFrom(t, ip, addr))
	}
	waitFor(t, "12 open connections", func() bool { return e.reg.Connections() == 12 })
	pending := dialFrom(t, "127.0.0.8", addr)
	answered := make(chan error, 1)
	go func() {
		resp, err := get(pending, "/healthz")
		if err == nil && resp.StatusCode != http.StatusOK {
			err = errors.New(resp.Status)
		}
		answered <- err
	}()
	select {
	case err := <-answered:
		t.Fatalf("a connection over the listener's cap was served (%v)", err)
	default:
	}
	if n := e.reg.Connections(); n != 12 {
		t.Fatalf("%d open connections, cap 12", n)
	}
	idle[0].Close()
	if err := <-answered; err != nil {
		t.Fatalf("the waiting connection, once a place freed: %v", err)
	}
}

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package watch_test

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"
)

// patience bounds every wait in these tests. Nothing asserts speed: the
// tests only wait, generously, for conditions.
const patience = 20 * time.Second

// waitFor polls cond until it holds, failing the test after patience.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkNoLeaks fails t if goroutines started after base are still running
// after a grace period.
func checkNoLeaks(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before; stacks:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stream is a raw view of one watch response, read message by message.
type stream struct {
	resp *http.Response
	r    *bufio.Reader
}

// open GETs url with the extra header lines hdr ("Name: value").
func open(t testing.TB, client *http.Client, url string, hdr ...string) *stream {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hdr {
		k, v, _ := strings.Cut(h, ": ")
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &stream{resp: resp, r: bufio.NewReader(resp.Body)}
}

// next returns the next message: the bytes up to and including a blank line.
func (s *stream) next(t testing.TB) string {
	t.Helper()
	var msg bytes.Buffer
	for {
		line, err := s.r.ReadString('\n')
		msg.WriteString(line)
		if err != nil {
			t.Fatalf("reading the stream after %q: %v", msg.String(), err)
		}
		if line == "\n" {
			return msg.String()
		}
	}
}

// event returns the next message that is not a ping.
func (s *stream) event(t testing.TB) string {
	t.Helper()
	for {
		if m := s.next(t); m != ": ping\n\n" {
			return m
		}
	}
}

// end reads the stream to its end and returns the error (nil for EOF).
func (s *stream) end() error {
	_, err := io.Copy(io.Discard, s.r)
	return err
}

func ev(v string) string {
	return "id: " + v + "\nevent: timestamp\ndata: {\"version\":" + v + "}\n\n"
}

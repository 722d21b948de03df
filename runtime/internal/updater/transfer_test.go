package updater

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// testLimits are tight enough to abandon a drip within a test and loose
// enough for loopback answers on a busy machine.
var testLimits = Limits{HeaderTimeout: 2 * time.Second, MinRate: 64 << 10, StallWindow: 500 * time.Millisecond, StoreMax: 1 << 30}

// TestLimitedTransport: answers in time pass whole; an answer that never
// comes or drips is abandoned with ErrTooSlow; the caller's cancellation
// stays the caller's.
func TestLimitedTransport(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
	tests := []struct {
		name    string
		handler func(w http.ResponseWriter, r *http.Request, started chan<- struct{})
		cancel  bool   // the caller cancels once the answer started
		want    string // "" for success; else in the error
	}{
		{"answers in time", func(w http.ResponseWriter, r *http.Request, started chan<- struct{}) {
			close(started)
			w.Write(body)
		}, false, ""},
		{"no answer", func(w http.ResponseWriter, r *http.Request, started chan<- struct{}) {
			close(started)
			<-r.Context().Done()
		}, false, "no answer within"},
		{"drips", func(w http.ResponseWriter, r *http.Request, started chan<- struct{}) {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			drip(w, r, body, started)
		}, false, "under 64 KiB/s"},
		{"drips without a length", func(w http.ResponseWriter, r *http.Request, started chan<- struct{}) {
			drip(w, r, body, started)
		}, false, "under 64 KiB/s"},
		{"the caller cancels", func(w http.ResponseWriter, r *http.Request, started chan<- struct{}) {
			drip(w, r, body, started)
		}, true, "context canceled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started, gone := make(chan struct{}), make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(gone)
				tt.handler(w, r, started)
			}))
			defer srv.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				go func() {
					<-started
					cancel()
				}()
			}
			hc := limitClient(&http.Client{}, testLimits)
			got, err := getAll(ctx, hc, srv.URL)
			switch {
			case tt.want == "" && (err != nil || !bytes.Equal(got, body)):
				t.Fatalf("got %d bytes, %v; want the answer whole", len(got), err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			case tt.want != "" && errors.Is(err, ErrTooSlow) == tt.cancel:
				t.Fatalf("error %v: errors.Is(ErrTooSlow) = %v", err, !tt.cancel)
			}
			<-gone // the server saw the client leave or finish
		})
	}
}

// drip sends one byte of body, then one more every few milliseconds,
// until the client leaves.
func drip(w http.ResponseWriter, r *http.Request, body []byte, started chan<- struct{}) {
	w.Write(body[:1])
	w.(http.Flusher).Flush()
	close(started)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for i := 1; i < len(body); i++ {
		select {
		case <-r.Context().Done():
			return
		case <-tick.C:
		}
		if _, err := w.Write(body[i : i+1]); err != nil {
			return
		}
		w.(http.Flusher).Flush()
	}
}

func getAll(ctx context.Context, hc *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// endless is a body that never ends, at any speed.
type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

// TestTransferDeadline: an answer that moves fast enough in every window
// but does not end within the time its length allows is abandoned.
func TestTransferDeadline(t *testing.T) {
	ctx, cancel := context.WithCancelCause(context.Background())
	// A window of one second asks for 1000 bytes; the 100-byte answer is
	// due at 1.1s.
	lim := Limits{MinRate: 1000, StallWindow: time.Second}
	b := newMeteredBody(ctx, cancel, io.NopCloser(endless{}), 100, lim)
	defer b.Close()
	_, err := io.Copy(io.Discard, b)
	if !errors.Is(err, ErrTooSlow) || !strings.Contains(err.Error(), "not done within") {
		t.Fatalf("reading an endless answer: %v, want the deadline's ErrTooSlow", err)
	}
}

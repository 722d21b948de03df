package server

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/engine"
)

// TestQueuedRequestCancelled: a request whose client goes away while it
// waits for a busy module's only instance is logged and counted as
// cancelled (499, outcome "cancelled"), not as an error of the module, so
// that errors and "busy" keep meaning real trouble.
func TestQueuedRequestCancelled(t *testing.T) {
	var logs syncBuffer
	s := newSite(t, func(c *Config) {
		c.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &logs})
		c.Pool = engine.PoolConfig{Size: 1, CallTimeout: 3 * time.Second, AcquireTimeout: 10 * time.Second}
	})
	// The only instance loops until its deadline.
	busy := make(chan struct{})
	go func() {
		defer close(busy)
		resp, err := http.Get(s.URL + "/hostile/loop")
		if err == nil {
			resp.Body.Close()
		}
	}()
	// Wait until the loop holds the instance: a second request queues.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "/hostile/loop") && time.Now().Before(deadline) {
		if st := s.srv.Module("hostile").Stats(); st.Live == 1 && st.Idle == 0 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, "GET", s.URL+"/hostile/ok", nil)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	time.Sleep(200 * time.Millisecond) // queued behind the loop
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled request got an answer")
	}
	<-busy

	mreq, _ := http.NewRequest("GET", s.URL+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+testMetricsToken)
	resp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	metrics := body(t, resp)
	if !strings.Contains(metrics, `websonic_module_request_duration_seconds_count{module="hostile",outcome="cancelled"} 1`) {
		t.Errorf("no cancelled call in the metrics:\n%s", grepLines(metrics, "request_duration_seconds_count"))
	}
	l := logs.String()
	for _, line := range strings.Split(l, "\n") {
		if strings.Contains(line, "/hostile/ok") && strings.Contains(line, "[ERROR]") {
			t.Errorf("the cancelled request was logged as an error: %s", line)
		}
	}
	if !strings.Contains(l, "client went away before a module instance was free") {
		t.Errorf("the cancellation was not logged:\n%s", l)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

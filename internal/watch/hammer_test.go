package watch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/watch"
)

// TestHammer: 300 subscribers (most connected before, some connecting
// while) 4 goroutines race 200 publishes. Every subscriber must end on the
// final version, having seen strictly increasing versions; after cancel,
// nothing may be left running.
func TestHammer(t *testing.T) {
	const (
		early, late = 250, 50
		clients     = early + late
		publishes   = 200
		publishers  = 4
	)
	base := runtime.NumGoroutine()

	hub := watch.New(watch.Config{Heartbeat: 20 * time.Millisecond}) // pings interleave with events
	srv := httptest.NewServer(hub)
	tr := &http.Transport{MaxIdleConnsPerHost: -1}
	cfg := watch.ClientConfig{
		URL:        srv.URL,
		HTTPClient: &http.Client{Transport: tr},
		MinBackoff: 10 * time.Millisecond,
		MaxBackoff: 200 * time.Millisecond,
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		wg    sync.WaitGroup
		final atomic.Int32 // subscribers that saw the final version
		seen  = make([][]int64, clients)
		errs  = make([]error, clients)
	)
	start := func(i int) {
		wg.Go(func() {
			errs[i] = watch.Subscribe(ctx, cfg, func(v int64) {
				seen[i] = append(seen[i], v) // notify never runs concurrently for one subscriber
				if v == publishes {
					final.Add(1)
				}
			})
		})
	}
	for i := range early {
		start(i)
	}
	waitFor(t, "the early subscribers", func() bool { return hub.Clients() == early })

	var pub sync.WaitGroup
	for p := range publishers {
		pub.Go(func() {
			for v := int64(p + 1); v <= publishes; v += publishers {
				hub.Publish(v)
			}
		})
	}
	for i := early; i < clients; i++ {
		start(i)
	}
	pub.Wait()
	if v := hub.Version(); v != publishes {
		t.Fatalf("hub version %d, want %d", v, publishes)
	}
	waitFor(t, "every subscriber to see the final version", func() bool { return final.Load() == clients })

	cancel()
	wg.Wait()
	for i := range clients {
		if !errors.Is(errs[i], context.Canceled) {
			t.Errorf("subscriber %d returned %v", i, errs[i])
		}
		for j := 1; j < len(seen[i]); j++ {
			if seen[i][j] <= seen[i][j-1] {
				t.Fatalf("subscriber %d saw %v", i, seen[i])
			}
		}
		if n := len(seen[i]); n == 0 || seen[i][n-1] != publishes {
			t.Fatalf("subscriber %d ended on %v", i, seen[i])
		}
	}
	waitFor(t, "the hub to see every stream end", func() bool { return hub.Clients() == 0 })
	hub.Close()
	srv.Close()
	tr.CloseIdleConnections()
	checkNoLeaks(t, base)
}

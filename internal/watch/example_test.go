package watch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/websonic/websonic/internal/watch"
)

// The registry mounts a Hub and publishes each new timestamp version; a
// runtime subscribes and refreshes its update index when notified.
func Example() {
	hub := watch.New(watch.Config{Initial: 1}) // the repository's current timestamp version
	mux := http.NewServeMux()
	mux.Handle("GET /v1/watch", hub)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	defer hub.Close() // before the server's shutdown, which waits for the streams

	ctx, cancel := context.WithCancel(context.Background())
	versions := make(chan int64, 1) // notify hands off and returns: the updater refreshes elsewhere
	done := make(chan error)
	go func() {
		done <- watch.Subscribe(ctx, watch.ClientConfig{URL: srv.URL + "/v1/watch"}, func(v int64) { versions <- v })
	}()
	fmt.Println("refresh for version", <-versions)
	hub.Publish(2) // a release was published
	fmt.Println("refresh for version", <-versions)
	cancel()
	fmt.Println(<-done)
	// Output:
	// refresh for version 1
	// refresh for version 2
	// context canceled
}

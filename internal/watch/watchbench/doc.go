// Package watchbench measures the watch hub (internal/watch) alone, bare
// behind a plain http.Server, at the product's target of 10,000
// concurrent watch connections: the hub's own cost. The registry's figure
// (its Serve, router, limits and a real signed publish) is
// registry/bench's BenchmarkWatchers. It holds no code but this comment;
// BenchmarkWatchers is in its tests.
//
// Run it with
//
//	go test -run='^$' -bench=. -benchtime=1x ./internal/watch/watchbench/
//
// BenchmarkWatchers starts a Hub (version 1) on a loopback listener in the
// benchmark process, then re-executes the test binary as a separate client
// process that opens WATCH_CLIENTS (default 10,000) raw HTTP/1.1 watch
// connections, at most 64 handshakes at a time, and reads them with small
// buffers (one goroutine per connection). The client process writes a line
// to its stdout when the last of its connections has received a version
// ("got N"); the benchmark process waits for "got 1" (every client is
// connected and current), then publishes WATCH_ROUNDS (default 10) new
// versions one after another and times each from Publish to the "got N"
// line. Plain `go test` runs nothing here.
//
// Reported metrics:
//
//	ms/last-notice-p50, ms/last-notice-max  Publish to the last client's notice
//	MiB-rss-base                              hub process RSS before any connection
//	MiB-rss                                   hub process RSS with every client connected
//	MiB-rss-peak                              hub process peak RSS (VmHWM), after the publishes
//	KiB-rss/conn                              (MiB-rss − MiB-rss-base) per connection
//	MiB-go-stacks, MiB-go-heap                the Go runtime's share of MiB-rss
//	µs/publish-call-max                       the Publish call itself (it wakes the streams)
//	s/connect-all                             start of the client process to "got 1"
//	watchers                                  WATCH_CLIENTS
//
// The two processes share the machine's cores, so the latency includes the
// client side's reading of every connection. RSS figures come from
// /proc/self/status (Linux only; elsewhere they are omitted).
package watchbench

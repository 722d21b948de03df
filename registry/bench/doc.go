// Package bench holds the registry's benchmarks; it has no code of its own
// beyond this documentation. Like the runtime's (runtime/internal/bench),
// each benchmark measures a target as a ratio against a baseline measured
// in the same run, in interleaved rounds so that drift and noise from the
// machine's neighbours hit both alike, and reports figures only: none fails
// on a slow machine. Run them with
//
//	go test -run='^$' -bench=. -benchtime=1x -timeout 30m ./registry/bench/
//
// One benchmark iteration is a whole measurement (REGBENCH_ROUNDS rounds of
// REGBENCH_ROUND per side, 5 × 1s by default), so -benchtime=1x is the
// natural setting and ns/op is reported as 0; a longer -benchtime only adds
// rounds. REGBENCH_CLIENTS sets the update-check connections (1000). Plain
// `go test` runs only TestClient, which exercises the load generator
// in process against the baselines for a few milliseconds.
//
//	BenchmarkUpdateChecks  unchanged-timestamp checks answered 304, 1000
//	                       keep-alive clients, against a bare net/http handler
//	BenchmarkBlobDownload  whole-blob GETs (5 MiB, 64 MiB; 1 and 8 at once)
//	                       against reading the blob's file, and against
//	                       net/http serving that file
//	BenchmarkBlobRange     Range GETs of 64 KiB and 1 MiB at random offsets
//	                       of a 64 MiB blob, 8 at once, against the same
//	BenchmarkWatchers      REGBENCH_WATCHERS (10,000) watch streams held on
//	                       the registry; a signed publish to the last notice
//
// # Setup
//
// Each benchmark opens a registry (server.Open) on a fresh internal/pgtest
// database and serves it with its own Serve — the production http.Server
// settings — on a loopback listener; baselines are served by an
// http.Server with the same timeouts. PostgreSQL's start is never timed.
// Blobs are random bytes pushed with oras-go through the OCI API (POST then
// PUT, with a publisher token scoped to modules/bench); their files are
// found in the registry's blob store under Config.DataDir
// (DataDir/blobs/blobs/sha256/<2 hex>/<hex>), checked to exist with the
// right size, and every source is checked to serve the pushed digest before
// anything is timed.
//
// # Why a separate client process
//
// The load comes from a second process: the test binary re-executed with
// REGBENCH_CLIENT set (the internal/watch/watchbench pattern), driven by
// JSON commands on its stdin. On 2 cores, a load generator in the
// benchmark process would share the servers' heap and scheduler: its 1000
// goroutines' stacks and latency records would be scanned by every GC the
// servers trigger, and its allocations would trigger more. Apart, each
// process's CPU time (getrusage) is its own, which gives the most
// machine-stable figure here: server CPU per request (or per MB), which
// does not depend on how the two processes happened to share the cores.
// The client is kept light all the same: update checks are raw HTTP/1.1
// requests built once and answered 304s parsed by hand (status line, then
// headers up to the blank line) on 1000 persistent connections, opened 64
// handshakes at a time; downloads read bodies with one 128 KiB buffer
// through net/http's client. Still, on 2 cores the processes compete:
// throughput is what the machine does with client and server together, and
// client-cpu-% says how much of it the client took. Latencies are kept in
// the client and collected after the rounds, so moving them never counts as
// server CPU time.
//
// # BenchmarkUpdateChecks
//
// A runtime checks for updates with GET /v1/tuf/timestamp.json and
// If-None-Match: <ETag>; unchanged, the registry answers 304. The
// benchmark initializes the TUF repository (publish.Publisher.Init), then
// the client holds REGBENCH_CLIENTS connections to the registry and as
// many to the baseline, and in each round sends checks back to back on all
// of one side's connections for REGBENCH_ROUND. The baseline is bareHandler:
// the same ETag and Cache-Control from constants, 304 on a matching
// If-None-Match — the least net/http can do for this request; the
// benchmark checks first that both 304s carry the same headers. Any answer
// but 304 ends the run with an error (a timestamp re-signed mid-run would).
//
//	req/s, bare-req/s             304s per second (closed loop: each client
//	                              sends its next check when the answer is in)
//	registry/bare                 the ratio of the two: the figure
//	p50-ms, p99-ms, bare-p…       per-check latency; with 1000 clients in a
//	                              closed loop, p50 ≈ 1000 / req/s
//	srv-cpu-us/req, bare-…        CPU time of the server process per check,
//	                              user + system (the loopback TCP stack's
//	                              work is largely counted here)
//	client-cpu-%                  the client's share of client + server CPU
//	                              during the registry's rounds
//
// # BenchmarkBlobDownload and BenchmarkBlobRange
//
// Each sub-benchmark (size/concurrency, or range size) runs, in interleaved
// rounds, three sources read by the same client loop (drain, one 128 KiB
// buffer) from the same number of goroutines:
//
//	http  GET /v2/modules/bench/blobs/<digest> from the registry
//	bare  the same URL path from bareBlobs, net/http serving the same file
//	      as the registry's blob handler does (open per request, same
//	      headers, http.ServeContent, hence sendfile) without its router,
//	      authorization and metadata query
//	disk  the blob's file in the registry's data dir, opened per read and
//	      read with the same loop
//
// Range requests ask for aligned chunks at pseudo-random offsets (the same
// sequence for every source) and expect 206 with exactly the chunk. The
// blob's file was just written, so "disk" is the page cache: it is the
// upper bound of handing those bytes to a reader on this host, not a
// device figure, and it needs no second core.
//
//	MB/s, bare-MB/s, disk-MB/s    body bytes per second (10⁶ bytes, as go test)
//	http/disk                     registry throughput over the local read:
//	                              what serving over loopback TCP costs in all
//	http/bare                     registry over net/http serving the same
//	                              file: what the registry itself adds
//	p50-ms, p99-ms, bare-p50-ms,  per-download (or per-range) latency
//	disk-p50-ms
//	req/s, bare-req/s             (ranges) requests per second
//	srv-cpu-us/MB, bare-…         server process CPU time per MB served
//	client-cpu-us/MB              client process CPU time per MB read
//
// # BenchmarkWatchers
//
// The registry with its production defaults (the caps sized from the
// open-file limit) serves on a loopback listener; the client process opens
// REGBENCH_WATCHERS raw HTTP/1.1 watch streams (GET /v1/watch, 64
// handshakes at a time, small read buffers) and reports when each has
// its first version. Then, REGBENCH_PUBLISHES (10) times, the registry
// signs a new timestamp through tufstore.Store.Update — the transaction,
// NOTIFY and hub wake-up every publish goes through — and the benchmark
// waits until the client reports that every stream received it.
//
//	ms/last-notice-p50, -max   start of the change to the last stream's notice
//	MiB-rss-base, MiB-rss      the registry process before the streams, with them
//	KiB-rss/conn               (MiB-rss − MiB-rss-base) per stream
//	MiB-go-heap, MiB-go-stacks the Go runtime's share of MiB-rss
//	s/connect-all              opening every stream
//
// Every client connection (update checks and watch streams) comes from
// its own loopback source address, 8 per address (127.1.x.y): thousands of
// runtimes come from as many hosts, and the registry caps each client.
//
// PostgreSQL runs in its own processes: the registry's per-request
// metadata query shows in its throughput and latency, and in srv-cpu only
// for the pgx side of it.
package bench

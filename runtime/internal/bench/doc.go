// Package bench holds the runtime's benchmarks; it has no code of its own
// beyond this documentation. Each benchmark measures a target as a ratio
// against a baseline measured in the same run, and reports figures only: none
// fails on a slow machine. BENCHMARKS.md at the repository root has the
// figures, the machine and the command (make bench).
//
//	BenchmarkHTTP       the same net/http handler as a wasm module and compiled
//	                    natively, on one chi router, loopback, 32 clients
//	BenchmarkDB         a one-row primary-key query: the SDK's database/sql
//	                    driver in the module against pgx in a native handler
//	BenchmarkDBRows     a page of ten rows as JSON, the same two ways
//	BenchmarkDeadlines  guest calls with and without per-call deadlines
//	                    (wazero's WithCloseOnContextDone)
//	BenchmarkStartup    server.Open to the first served request, cold and warm
//	                    compilation cache
//	BenchmarkRSS        process memory of 3 modules with 4 warm instances each
//	BenchmarkSwap       server.Swap of a running module under requests, and
//	                    the time to the new version's first answer (warm
//	                    compilation cache)
//	BenchmarkRealtimeFanout    1,000 and 10,000 WebSocket subscribers of one
//	                    topic, a module publishing 100 events a second,
//	                    against a bare coder/websocket broadcast
//	BenchmarkRealtimeNotifyHop the latency one publish gains crossing to
//	                    another replica through NOTIFY
//	BenchmarkChatFanout 1,000 WebSocket subscribers of a chat room, 100
//	                    messages a second posted through the chat module,
//	                    against the same events published straight into
//	                    the hub (realtime.publish without the module)
//	BenchmarkChatHistory pages of 50 by cursor and searches in a room of
//	                    1,000,000 messages through the chat module, against
//	                    its SQL run natively through pgx; the plans
//	BenchmarkChatPost   posting a message through the chat module against a
//	                    native handler doing the same insert and publish
//	BenchmarkTicketsQueue the staff queue of a desk of 100,000 tickets
//	                    (filtered, sorted, deep and searched pages) through
//	                    the tickets module, against its SQL run natively
//	                    through pgx; the plans
//	BenchmarkTicketsCreate customers opening tickets through the tickets
//	                    module against a native handler doing the same
//	                    inserts and publish
//	BenchmarkCustody    backups (create, verify, restore) and a site move
//	                    (export, one-time link transfer whole and cut at
//	                    half then resumed, import) of a site of 1,000,000
//	                    chat messages and 100,000 tickets, against plain
//	                    pg_dump and pg_restore of the same database; run
//	                    only when -bench names it
//	BenchmarkPeer       the peer run: the same handler code looped in process
//	                    natively, in this runtime's engine, under stock wazero
//	                    and under Node.js's WASI on V8 (peer/)
//
// The module is runtime/internal/testmodules/bench; its handler lives in the
// plain package runtime/internal/testmodules/bench/handler, which the
// benchmarks also compile natively. PostgreSQL comes from internal/pgtest
// (set WEBSONIC_TEST_DATABASE_URL to use an external server); its start is
// never timed.
//
// Module builds and the shared compilation cache are kept in
// $TMPDIR/websonic-bench between runs (about 45 MB of cache per module
// version compiled); delete it to start over.
package bench

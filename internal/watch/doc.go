// Package watch is the registry's push channel (DESIGN.md decisions 8 and
// 12): it tells every client runtime, at once, that a new TUF timestamp
// exists, so that runtimes refresh their update index now rather than at
// their next poll. The registry serves a Hub at GET /v1/watch; a runtime
// runs Subscribe.
//
// The stream carries only a version number. It is a hint, not a trusted
// message: a runtime that hears of version N runs its TUF refresh, which
// verifies everything, and a forged or replayed hint costs one refresh.
//
// # Protocol
//
// A watch stream is Server-Sent Events (the WHATWG "event stream" format)
// over one long GET answered 200 with Content-Type: text/event-stream,
// Cache-Control: no-store and X-Accel-Buffering: no (which keeps nginx from
// buffering it). A new timestamp is one event:
//
//	id: 42
//	event: timestamp
//	data: {"version":42}
//
// (each line ends in "\n", and an empty line ends the event). The id is the
// version, so a reconnecting client's Last-Event-ID header names the
// version it has:
//
//   - On connect the hub sends its current version at once, unless the
//     request's Last-Event-ID equals it; then the stream stays quiet until
//     the next version. A hub with no version yet (Config.Initial 0 and no
//     Publish) sends nothing until the first.
//   - Then it sends one event per newer version it observes. Versions
//     only grow (Publish ignores a version not above the current one).
//   - Each client needs only the newest version, so versions coalesce: a
//     stream that was busy while versions 43, 44 and 45 were published
//     sends just 45. There are no per-client queues.
//   - A stream silent for Config.Heartbeat (25 s) gets a comment line,
//     ": ping", which keeps proxies and NATs from closing it and lets the
//     client tell a quiet stream from a dead one.
//
// # Limits
//
//   - Config.MaxClients streams (20,000) at most; over it, and after
//     Close, requests are answered 503 with Retry-After (Config.RetryAfter,
//     10 s). Keep it below what the process can hold: each stream is a
//     socket, a file descriptor (the registry sizes it from its open-file
//     limit). Methods other than GET and HEAD get 405; HEAD answers the
//     stream's headers and no body.
//   - Config.MaxPerClient streams per client (none by default), clients
//     told apart by Config.ClientKey (the RemoteAddr's host by default; the
//     registry groups IPv6 by /64 and believes its trusted proxies); over
//     it, 429 with the same Retry-After, so that one client cannot take
//     every stream.
//   - Each write has a deadline (Config.WriteTimeout, 10 s): a client that
//     stops reading is dropped once its TCP buffers are full, instead of
//     pinning a goroutine. These per-write deadlines replace
//     http.Server.WriteTimeout, so a server's timeouts do not end a stream.
//   - The client reads lines of up to 4 KiB and events of up to 16 KiB of
//     data; more is a protocol error, as is a timestamp event whose data is
//     not {"version":N} with N > 0 (other JSON fields are ignored). Other
//     event types, unknown fields, "retry" and comments are ignored.
//
// # Costs
//
// Publish renders the event once and wakes every stream by closing one
// channel; it never waits for a client and allocates nothing per client
// (the Go runtime readies the waiting goroutines: 5 to 8 ms for 10,000).
// Every stream writes the same rendered bytes. A stream costs one
// goroutine, a timer and what net/http holds for a connection (its
// buffers and a background-read goroutine): about 27 KiB of RSS. The
// watchbench package measures 10,000 streams on a bare hub on loopback,
// registry/bench's BenchmarkWatchers the same on the registry itself:
// about 270 to 290 MiB of RSS, and 0.1 to 0.3 s from a publish to the
// last client's notice.
//
// # Client
//
// Subscribe sends Last-Event-ID (the newest version it has, or
// ClientConfig.Known), calls notify once per newer version, and reconnects
// after any failure with exponential backoff and jitter (1 s to 1 min by
// default), honouring the Retry-After of a 503 or 429. A stream silent for longer than
// ClientConfig.IdleTimeout (75 s, three heartbeats) is taken for dead and
// reconnected.
//
// # Errors
//
// Every error starts with "watch: "; logs go to the configured Logger,
// named "watch". Subscribe returns only ctx.Err() once running: stream
// failures are logged (at Debug, and at Warn from the third failure in a
// row), not returned.
//
// # Notes
//
//   - A Hub is safe for concurrent use and starts no goroutines. Close it
//     before http.Server.Shutdown (or register Close with
//     http.Server.RegisterOnShutdown): Shutdown waits for active requests,
//     and a stream stays active until Close ends it.
//   - Middleware that wraps the ResponseWriter must implement Unwrap (or
//     Flush and SetWriteDeadline) for http.ResponseController; without
//     write deadlines the hub logs a warning once and cannot drop slow
//     clients.
//   - A peer that vanishes without a reset (a dead host) is noticed only
//     when TCP gives up retransmitting a ping (minutes, per the kernel's
//     settings) or its buffers fill; until then it counts as a client.
//   - One Hub serves one registry process. Replicas each run their own
//     and must each be told of a publish (e.g. from PostgreSQL
//     LISTEN/NOTIFY, or by polling the timestamp version); that wiring is
//     the registry's.
package watch

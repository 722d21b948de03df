// Package telemetry keeps a short history of the runtime's own metrics for
// the admin area: per module, its calls, failed calls, latency (p50, p95),
// memory and instances; site wide, the HTTP requests and the 5xx answers.
//
// A Sampler reads the server's Prometheus registry in process (Gather, no
// scrape over HTTP) every Config.Interval and appends one point per series
// to a bounded ring (6 hours at one-minute resolution by default). The
// history is in memory and per process: each runtime replica keeps its own
// (of the requests it served), and a restart starts it afresh. For long-term
// history, scrape /metrics into a Prometheus server instead.
//
// Counters that restart from zero (a module's pool after an update, the
// process) are followed: a value below the previous one counts from zero.
//
// A Sampler is safe for concurrent use: Run (or Sample) writes while the
// admin area reads Series, ModuleStats and Site.
package telemetry

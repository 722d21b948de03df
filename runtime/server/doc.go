// Package server assembles the Web Sonic runtime: the database (a private
// embedded PostgreSQL by default, or a server given by URL), the core site,
// the wasm engine and the modules, behind one chi router with request ids,
// access logs, CSRF protection, health checks and Prometheus metrics.
//
//	srv, err := server.Open(ctx, server.Config{DataDir: "data", ModulesDir: "build/modules"})
//	...
//	defer srv.Close(context.Background())
//	err = srv.ListenAndServe(ctx)
//
// Request flow:
//
//	client address (trusted proxies) → security headers → request id →
//	access log + metrics → panic recovery → cross-origin (CSRF) protection →
//	session → core site routes | /metrics (token or admin) | module routes
//	(access check → module pool → guest)
//
// The client address is derived once (package clientaddr): RemoteAddr is the
// client that the configured trusted proxies name, and the request counts as
// HTTPS when it came over TLS or a trusted proxy says so, which turns on HSTS
// and the __Host- session cookie. Forwarded requests from a loopback or
// private address that is not trusted (the site's own proxy, forgotten in
// TrustedProxies) are warned about once. /metrics may also be served on a
// listener of its own (ListenAndServeMetrics).
//
// Modules are updated in place with Swap (DESIGN decision 10): the new
// version is prepared while the old one serves, then routes switch
// atomically and the old version drains. The route table and module list
// are immutable values swapped together, so a request keeps the version it
// was routed to; one routed to a version that closed meanwhile is routed
// again.
//
// Config.ModulesDir serves local, unsigned builds (development): each
// module folder starts on its own, so one that fails is logged, listed on
// /readyz (ModuleProblems) and leaves the others serving; while Serve runs,
// a rebuilt folder is swapped in through Swap, and a broken rebuild leaves
// the previous build serving.
//
// The site owner's commands (websonic admin create, module install…) use
// a Console: the site's database only, opened where a site exists and
// never made where none does (ErrNoSite), and module requests answered by
// whichever runtime takes them, reported exactly (Console.Request).
package server

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
//	request id → access log + metrics → panic recovery → cross-origin (CSRF)
//	protection → session → core site routes | module routes (access check →
//	module pool → guest)
//
// Modules are updated in place with Swap (DESIGN decision 10): the new
// version is prepared while the old one serves, then routes switch
// atomically and the old version drains. The route table and module list
// are immutable values swapped together, so a request keeps the version it
// was routed to; one routed to a version that closed meanwhile is routed
// again.
//
// The site owner's commands (websonic admin create, module install…) use
// a Console: the site's database only, opened where a site exists and
// never made where none does (ErrNoSite), and module requests answered by
// whichever runtime takes them, reported exactly (Console.Request).
package server

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
// Config.ModulesDir serves local, unsigned builds (development): each
// module folder starts on its own, so one that fails is logged, listed on
// /readyz (ModuleProblems) and leaves the others serving; while Serve runs,
// a rebuilt folder is swapped in through Swap, and a broken rebuild leaves
// the previous build serving.
package server

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
package server

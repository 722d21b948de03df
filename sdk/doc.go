// Package sdk is what a Web Sonic module is written with: plain Go, built
// in the module's folder with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o module.wasm .
//
// (abi.GoBuildCommand). -buildmode=c-shared makes the wasm reactor the
// runtime runs; a plain go build makes a command, which the runtime refuses
// with "built as a command". A module in a repository of its own imports
// github.com/websonic/websonic/sdk and requires github.com/websonic/websonic
// in its go.mod (examples/hello/README.md shows it, with a replace directive
// for a local checkout); `websonic module new NAME` writes a working module
// folder, and sdk/manifest/README.md is the reference of its module.json.
//
// A module registers one net/http handler from an init function (a wasm
// reactor has no main to run) and the runtime sends it every request for the
// routes its manifest declares:
//
//	func init() {
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /hello", hello)
//		sdk.Handle(mux)
//	}
//
// From a handler, a module reads the request's user with UserFrom, its
// configuration with Config, logs with Logger (log/slog), and reaches its own
// PostgreSQL schema through database/sql with DB. Writing to os.Stdout or
// os.Stderr also ends up in the site's log, one line per line.
//
// # Host services
//
// Beyond its own schema, a module reaches what the runtime offers through
// functions of this package, each allowed only by the matching entry of its
// manifest (manifest_version 2, abi_version 2), as the site owner approved
// it; a call the manifest does not allow fails with ErrDenied:
//
//   - realtime (capabilities.topics): Publish, OnSubscribe, OnMessage; a
//     page's script connects with the runtime's client
//     /static/websonic/realtime.js;
//   - scripts, styles and images (the assets/ folder): Asset gives their
//     URL, the only place a module page may load scripts from;
//   - scheduled jobs (capabilities.schedules): Job, JobTick; `websonic
//     jobs` shows their runs;
//   - admin commands (capabilities.admin_commands): Command, Text, Table;
//     `websonic exec MODULE COMMAND --arg value` runs one;
//   - outbound HTTP (capabilities.outbound_http): HTTPClient;
//   - the site's users (capabilities.user_actions): BanUser, SuspendUser,
//     BlockIP, SetUserPassword, GrantRole…, RealtimeConnections, and
//     RuntimeStatus (what the serving replica runs);
//   - encryption with the site's data key (capabilities.seal): Seal, Open;
//   - e-mail through the site's mail relay (capabilities.mail): SendMail;
//   - personal data export and erasure (no capability): UserData.
//
// examples/noticeboard uses most of them in one small module; sdk/ABI.md,
// sections 11 to 17, says exactly what the runtime does for each.
//
// # Fast pages
//
// Render hands a page's data to the runtime, which runs the page's
// html/template file (assets/templates/NAME.html in the module's folder)
// natively, several times cheaper than html/template inside the module,
// with the same escaping. Cache lets the runtime keep a response and answer
// the next requests for it without calling the module (per signed-in user,
// or shared); NotModified answers its revalidations cheaply and Purge drops
// stored copies after a change. A response that sets a cookie, answers
// anything but a GET, or carries no max-age is never stored. sdk/sdktest
// runs both natively (ExampleDo_render); ABI.md's sections "Host-rendered
// pages" and "Host response cache" say exactly what the runtime does.
//
// # Concurrency
//
// A module instance serves one request at a time; the runtime runs several
// instances of a module side by side. Package-level state is therefore per
// instance: it is neither shared between instances nor guaranteed to
// survive, because instances are recycled. Keep state in the database.
//
// # Limits
//
// Each request runs under a deadline and a memory limit set by the site. A
// handler that panics, loops past its deadline or runs out of memory fails
// that request with a 500 (and the runtime replaces the instance); it never
// takes the site down. Transactions never outlive the request that began
// them: one left open is rolled back when the handler returns.
//
// # Health and updates
//
// HealthCheck registers a check the runtime calls before a new version of
// the module serves; a version whose check fails does not start, and an
// update to it leaves the running version serving.
//
// The runtime updates a module without dropping a request: it migrates,
// starts and checks the new version while the previous one keeps serving,
// then switches over. So a version's migrations run while the previous
// version still uses the schema, and must not break it: expand, then
// contract. Add tables, and columns that are nullable or have a default, in
// one version and start using them there; stop using what you want to
// remove in that version too, and drop it in a later one. Renaming a column
// or changing its type in place breaks the version that is still serving.
// Migrations are forward-only; a rollback runs the previous version against
// the newer schema, which the same discipline keeps working.
//
// The wire protocol under this package is described in ABI.md and package
// abi; module authors need neither.
package sdk

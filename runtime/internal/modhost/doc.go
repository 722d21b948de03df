// Package modhost turns a module package (manifest, wasm, migrations) into a
// running module: its database sandbox provisioned and migrated, its code
// compiled and pooled, and an http.Handler that carries site requests into
// it and its answers back.
//
// A Host is shared by all modules; a Module is one running version. Both are
// safe for concurrent use.
//
// Start prepares a version fully before returning it: provision, migrate,
// compile, warm the pool, call the health entry point (Module.Health); a
// failure names its Stage (StartError) and leaves nothing running. For an
// update (StartOptions.Replaces) the running version keeps serving
// meanwhile; the caller switches its routes over, closes the old Module
// (Close refuses new requests at once and waits for the ones inside), and
// calls Host.Settle to narrow the module's database grants to the new
// version's.
package modhost

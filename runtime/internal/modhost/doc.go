// Package modhost turns a module package (manifest, wasm, migrations) into a
// running module: its database sandbox provisioned and migrated, its code
// compiled and pooled, and an http.Handler that carries site requests into
// it and its answers back.
//
// A Host is shared by all modules; a Module is one running version. Both are
// safe for concurrent use.
package modhost

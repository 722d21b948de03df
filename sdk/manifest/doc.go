// Package manifest defines a module's manifest: who the module is, which ABI
// it speaks, which capabilities it asks for and which migrations it ships.
//
// The manifest is the contract between a module author, the site owner who
// approves its capabilities, and the runtime that enforces them, so it lives
// in one place that both the SDK (GOOS=wasip1) and the host import.
//
// Decode is strict: unknown fields, trailing data, and every invalid value are
// errors, and each error names the field it is about, e.g.
//
//	manifest: capabilities.routes[0].path: must start with "/"
//
// A decoded Manifest is valid; callers never see a half-checked one.
//
// README.md in this package's folder is the reference for module authors:
// every field with its type, whether it is required, its default, its
// limits and an example (a test keeps it complete).
package manifest

// Package templates holds the site themes that ship with the runtime
// (README.md says what a theme is made of). Each folder is one theme, in
// the layout `websonic theme` publishes and package theme loads; the
// runtime embeds them as its bundled themes, available on a fresh site
// without a registry.
package templates

import "embed"

// FS holds the bundled themes, one folder each.
//
//go:embed harbor meadow
var FS embed.FS

// Names lists the bundled themes' folders.
var Names = []string{"harbor", "meadow"}

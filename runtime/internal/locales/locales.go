// Package locales holds the runtime's message catalogues: one folder per
// language (fr/, en/…), one JSON file per part of the product (site.json,
// admin.json…), each an object from the English source text to its
// translation (see package i18n for the format). A translator edits these
// files only; a test fails when a string the pages or the code pass to
// T has no French translation.
package locales

import (
	"embed"

	"github.com/websonic/websonic/internal/i18n"
)

//go:embed */*.json
var files embed.FS

// Catalog parses the runtime's catalogues.
func Catalog() (*i18n.Catalog, error) { return i18n.Load(files, ".") }

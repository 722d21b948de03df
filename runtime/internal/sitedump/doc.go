// Package sitedump is the one engine that dumps a whole site database and
// restores it: Dump writes one stream, Verify restores it into a scratch
// database and compares, Replace swaps it into the live database through
// staging schemas. Backups (runtime/internal/backup) and the site
// migration program (runtime/internal/sitemove) are built on it.
//
// (Format, roles, snapshot, staging and the CREATEDB requirement are
// described below as the package grows.)
package sitedump

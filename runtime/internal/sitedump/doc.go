// Package sitedump is the one engine that dumps a whole site database and
// restores it: Dump writes one stream, Verify restores a stream into a
// scratch database and compares it with what the dump says it holds,
// Replace swaps a stream into the live database through staging schemas.
// Backups (runtime/internal/backup) and the site migration program
// (runtime/internal/sitemove) encrypt, sign and move these streams; this
// package knows nothing of keys.
//
// # The stream
//
// A tar stream (PAX headers), in this order:
//
//	dump.json              the Manifest: format websonic-site-dump/1, the
//	                       server's major version, the core schemas, the
//	                       applied core migrations, each module (name,
//	                       version, schema, migration ledger), each db/
//	                       entry's size and SHA-256, each table's row
//	                       count and checksum, each file's size and SHA-256
//	db/<schema>.pgdump     pg_dump --format=custom of one schema: websonic,
//	                       websonic_api, then mod_<name> per module
//	files/<path>           the files of DumpOptions.Files, relative to the
//	                       data directory
//
// The manifest comes first, so a reader checks every entry as it passes:
// an entry out of order, unlisted, of another size or SHA-256, a missing
// or extra one, or a stream cut short is ErrFormat before anything is
// restored. ReadManifest reads just the manifest (for listings).
//
// Not in the stream: websonic_provision (the serving role's password;
// never dumped), roles and grants (pg_dump --no-owner --no-privileges; the
// runtime makes them again, see below), each module's marks table
// mod_<name>._migrations (rebuilt from the runtime's ledger
// websonic.module_migrations, which is in websonic), and the site key
// (the caller's to add, encrypted, if the owner asks).
//
// # Roles: nothing a module made runs as another role
//
// DESIGN.md decision 6: the runtime never executes anything a module can
// create or replace. A module schema's index expressions, defaults,
// check constraints, triggers and row security policies all run while its
// tables are restored or read; so everything in mod_<name> is dumped,
// checksummed and restored over a connection as that module's role
// (logging in with the password the runtime keeps in websonic.modules),
// never as the serving or the provisioning role. The serving role dumps
// and restores the core schemas, which only the runtime writes, creates
// every schema itself (granting a module's schema USAGE and CREATE to the
// module's role, as sandboxdb does) and, between the core and the
// modules, grants each module role the core views the restored
// websonic.modules says the owner approved, so modules' own views over
// them restore. The client tools get passwords through PGPASSWORD, never
// argv, and connection variables of this process's environment (PGHOST,
// PGOPTIONS, …) are cleared for them.
//
// # One snapshot
//
// Dump opens a REPEATABLE READ transaction as the serving role and
// exports its snapshot; the core checksums are read in it, each module's
// in a session of the module's role that imports it, and every pg_dump
// runs with --snapshot. Counts, checksums and data therefore describe the
// same instant, and the site keeps serving while it is dumped.
//
// # Checksums
//
// A table's checksum is the sum, as numeric, of the first 64 bits of the
// MD5 of each row's text (ROW(r.*)::text), read as signed integers: it does
// not depend on row order or storage, so a restored table has the same one.
// Sessions pin what row text depends on (TimeZone UTC, DateStyle ISO,
// extra_float_digits 1, bytea_output hex, IntervalStyle postgres), and read
// with row_security off, so a table its owner's policies hide rows of fails
// instead of checksumming part of it. Only plain tables (relkind r) are
// summed; sequences, views and materialized views are schema.
//
// # Scratch databases and CREATEDB
//
// Verify restores into a scratch database that Config.Scratch makes and
// always drops. The runtime makes them as the provisioning role
// (ProvisioningScratch), which pgembed.Provision, install.sh and the
// Kubernetes Job give CREATEDB; on an external server without it,
// ErrNoScratch says to run, as the server's superuser, ALTER ROLE <role>
// CREATEDB. SuperuserScratch (a superuser's URL) serves tests. The scratch database is
// on the site's own server, so the site's roles log in to it as they are.
// A scratch database is named <database>_scratch_<unix seconds>_<hex>; one
// that a process killed mid-Verify or mid-Replace left is dropped by the
// next scratch creation once it is an hour old and has no session.
//
// # Staging and the swap
//
// Replace never writes the live schemas until one transaction swaps them:
// the stream is restored into a scratch database and verified; there the
// schemas are renamed stage_<n>_<schema> and dumped again (each as its
// owner), and those are restored into the live database next to the live
// schemas, with the marks tables rebuilt, and verified again. Only then a
// transaction of the serving role renames the live websonic, websonic_api
// and every mod_* schema to replaced_<yyyymmddThhmmss>_<schema>, the
// staged ones to the live names, and rewrites the core migration record
// (public.websonic_schema_migrations) to the dump's; it holds that table's
// lock, which core migrations take. Objects follow their schema's rename
// (views, indexes and defaults refer to tables by OID), so nothing is
// rewritten. A failure or cancellation before the swap leaves the live
// schemas untouched; staging schemas it leaves are dropped at the start of
// the next Replace. The set-aside schemas are kept until the next
// successful Replace (ReplaceOptions.DropReplaced drops them at once).
// After the swap Replace applies the core migrations the dump lacks; the
// caller reloads the modules, whose start sets their roles' passwords and
// grants again. Every module the dump names must be installed (its role
// must exist) before Verify or Replace: ErrModuleMissing names the others.
//
// Module function bodies are text: one that names its own schema
// explicitly (mod_<name>.t rather than t) resolves to the live schema
// while the staged copy is restored, and to the right one after the swap.
//
// # Client tools
//
// pg_dump and pg_restore must be of the server's major version
// (pgembed.FindClientTools; Config.BinDir to choose): ErrNoTools says what
// to install.
//
// # Concurrency
//
// Dump may run while the site serves, and several at once. Verify and
// Dump may run together. One Replace runs at a time on a site: it holds
// an advisory lock of the live database from its start to its end (the
// owner's commands and the portal run in different processes), and
// another started meanwhile fails at once with ErrBusy, changing nothing.
package sitedump

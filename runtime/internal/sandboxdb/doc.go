// Package sandboxdb gives each module its own corner of the site's
// PostgreSQL database and lets PostgreSQL, not SQL parsing, enforce it.
//
// # Roles and ownership
//
// Per module there is a schema mod_<name> and a LOGIN role
// <prefix>mod_<name>, made through package dbroles (the runtime's only path
// to CREATEROLE). The role is a member of no other role, so SET ROLE, SET
// SESSION AUTHORIZATION and set_config('role', …) lead nowhere; it has no
// CREATEDB, CREATEROLE, REPLICATION or BYPASSRLS, no TEMP, no CREATE on the
// database (so no CREATE EXTENSION, no schema of its own) nor on public, no
// large objects, and none of the pg_read_server_files or
// pg_execute_server_program powers behind pg_read_file and COPY … PROGRAM.
// Core data reaches it only through the read-only, security-barrier views
// of schema websonic_api, granted per approved capability.
//
// The serving role (Config.DB) owns the module's schema and grants the
// module USAGE and CREATE on it: the module owns the tables, views and
// functions it makes there and may drop and replace them, but nothing the
// runtime made — the schema itself and the marks table _migrations, which
// the module may only read and insert into. This is DESIGN.md decision 6's
// rule: the runtime never executes anything a module can create or
// replace. It reads a module's schema only through the catalogs and its own
// plain table, which it checks before reading (provision: checkMarks);
// whatever else must be read there (exports, backups) must be read as the
// module's role, over its own pool.
//
// # Limits
//
// Each module has its own small pgx pool, connected as its role with its
// limits as connection parameters (statement_timeout, lock_timeout,
// idle_in_transaction_session_timeout, work_mem, search_path), which
// outrank anything the module sets on its own role; the role's settings are
// reset at every start (and the change reported). After every call its
// connections are reset (settings, LISTEN, advisory locks, cursors: sent
// as the call releases them, the answer read when the connection is next
// acquired), and any transaction is rolled back. Every statement runs under the guest
// call's deadline, result sets are capped in bytes, and temporary files
// are capped by the role's temp_file_limit where the server lets the
// runtime set it. A storage quota (CheckStorage) suspends a module's
// database access when it holds more than its share. What PostgreSQL
// cannot bound per role — memory per query, CPU — the embedded cluster
// bounds per server process (internal/pgembed.Limits); see RATIONALE.md.
package sandboxdb

// Package sandboxdb gives each module its own corner of the site's
// PostgreSQL database and lets PostgreSQL, not SQL parsing, enforce it.
//
// Per module there is a schema mod_<name> and a LOGIN role that owns it. The
// role is a member of no other role, so SET ROLE, SET SESSION AUTHORIZATION
// and set_config('role', …) lead nowhere; it has no CREATEDB, CREATEROLE,
// REPLICATION or BYPASSRLS, no TEMP, no CREATE on the database (so no CREATE
// EXTENSION) nor on public, and none of the pg_read_server_files or
// pg_execute_server_program powers behind pg_read_file and COPY … PROGRAM.
// Role-level settings bound it: statement_timeout, lock_timeout,
// idle_in_transaction_session_timeout, a connection limit, and search_path
// set to its schema. Core data reaches it only through the read-only views
// of schema websonic_api, granted per approved capability.
//
// The host adds what PostgreSQL cannot: each module has its own small pgx
// pool (connected as its role), every statement runs under the guest call's
// deadline, result sets are capped in bytes, and connections (and any
// transaction on them) are released when the guest call ends.
//
// The runtime's role needs CREATEROLE and ownership of the database; it
// becomes a member of each module role (to create the schema on its behalf),
// never the other way round.
package sandboxdb

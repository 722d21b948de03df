// Package dbroles is the runtime's one narrow path to PostgreSQL roles
// (DESIGN.md decision 6).
//
// The runtime is given one database role, the URL's (on the embedded cluster
// internal/pgembed.Provision makes it): the provisioning role. It has
// CREATEROLE and owns the database, which makes it powerful — on PostgreSQL 15
// a CREATEROLE role can grant itself pg_execute_server_program — so it does
// nothing but make and adjust the roles everything else runs as:
//
//   - the serving role, <prefix>app: LOGIN and no other power (no
//     CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS; member of no role),
//     granted CONNECT (with grant option, for module roles) and CREATE on the
//     database. It owns every schema the runtime makes — websonic (core
//     tables), websonic_api (the views modules may be granted) and each
//     module's mod_<name> — and serves every request. Everything the runtime
//     does to module schemas, grants and migration ledgers runs as it.
//   - one role per module, <prefix>mod_<name>: LOGIN, member of no role,
//     with role-level limits (ModuleRole).
//
// # What the provisioning role executes
//
// Only statements that run nothing a module can create or replace: CREATE,
// ALTER and DROP ROLE, GRANT and REVOKE of role memberships and of database
// privileges, ALTER … OWNER TO the serving role (moving what an earlier
// version of the runtime made as the provisioning role), DROP OWNED BY a
// module role (uninstall), reads of the shared catalogs (pg_roles,
// pg_auth_members, pg_db_role_setting, pg_database, pg_namespace, pg_class)
// and reads and writes of its own table websonic_provision.roles, in a schema
// no other role can use, which holds the serving role's password. Every
// one of its transactions sets search_path to pg_catalog, pg_temp first,
// whatever the pool's connections were opened with, so no unqualified name
// it writes can resolve to an object in a schema another role can write:
// not public (writable by every role on PostgreSQL 14 and clusters upgraded
// from it, and by the serving role everywhere), not a schema named like the
// provisioning role ("$user", which the serving role could create).
//
// # Tampering
//
// A module's role may change its own role-level settings (ALTER ROLE
// CURRENT_USER SET …, persisted for its next sessions). The runtime's module
// pools pass their limits as connection parameters, which outrank role
// settings, and reset every session after each call; EnsureModule also
// reports (as Findings) every role setting, attribute or membership that
// differs from what the runtime set, and puts them back.
//
// # External servers
//
// On a server the runtime did not start, three bounds need its superuser once
// (pgembed.Provision does them on the embedded cluster); Hardening reports
// which are missing, and whether the provisioning role lacks CREATEDB (the
// scratch databases in which backups and imports are checked, package
// sitedump):
//
//	GRANT SET ON PARAMETER temp_file_limit TO <provisioning role>;   -- PostgreSQL 15+
//	REVOKE EXECUTE ON FUNCTION lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea),
//	    lo_import(text), lo_import(text, oid), lo_put(oid, bigint, bytea) FROM PUBLIC;  -- in the site's database
//	REVOKE CREATE ON SCHEMA public FROM PUBLIC;                          -- in the site's database
//
// A Roles is safe for concurrent use; replicas of the runtime serialise on a
// lock of websonic_provision.roles, which no other role can take.
package dbroles

// Package pgembed runs a private PostgreSQL cluster from the machine's own
// server binaries, for the embedded default of DESIGN.md decision 9: with no
// database URL, the runtime and the registry start one under their data
// directory and stop it on exit. Production passes a URL and never uses this
// package.
//
// # Layout
//
// A cluster lives in Config.Dir:
//
//	Dir/.lock   flock held by the owning Cluster for its lifetime
//	Dir/data    the data directory (created by initdb on first start)
//	Dir/run     the unix socket directory, when its path is short enough;
//	            otherwise a fresh 0700 directory under os.TempDir() that Stop
//	            removes (a socket path must stay under 100 bytes)
//
// # Security model
//
// The server listens on a unix socket only (listen_addresses is empty) and
// local connections use trust authentication; TCP is rejected by pg_hba. The
// socket directory is mode 0700 and the socket itself 0700, both owned by the
// server's OS user, so only that user and root can connect at all: the file
// system is the access check. Anybody who can connect can connect as any role,
// including the bootstrap superuser "websonic_admin"; that is why the runtime
// should hand out only the URLs of roles made by [Provision] to code it runs.
//
// When the process runs as root, initdb and postgres run as an unprivileged
// user ("postgres" if it exists, else "nobody"); Dir/data and the socket
// directory are chowned to it. Start creates Dir (mode 0755) when it is
// missing, but never changes the mode of an existing directory: when the
// unprivileged user cannot traverse Dir or one of its parents, Start fails
// with [ErrNotAccessible] naming that directory.
//
// On PostgreSQL 15 and older, a CREATEROLE role (which [Provision] makes, so
// that the runtime can create one role per module) may grant itself membership
// in any non-superuser role, including pg_execute_server_program. Such a role
// is therefore nearly as powerful as the server's OS user; PostgreSQL 16 and
// later limit CREATEROLE to roles it administers. Module roles must never get
// CREATEROLE.
//
// # Resource bounds
//
// PostgreSQL bounds neither the memory one query may use nor who may fill
// the disk with large objects, so the cluster bounds what it can per server
// process (Config.Limits): the private memory of every process
// (RLIMIT_DATA, set by the shell that execs postgres), temp_file_limit,
// max_connections, no prepared transactions. Provision, as the superuser,
// lets the provisioned role set temp_file_limit on the roles it makes, takes
// the large-object creating functions from PUBLIC and CREATE on schema
// public from everyone but the owner.
//
// # Lifecycle
//
// The server is a direct child process (postgres -D Dir/data ...), in its own
// process group so a terminal's Ctrl-C reaches the parent, not the server, and
// with a parent-death signal of SIGINT (fast shutdown), so that it stops when
// the parent dies even without [Cluster.Stop]. Stopping on context
// cancellation or on a signal is the caller's job: call [Cluster.Stop].
//
// Start recovers from a previous run that did not stop cleanly: a stale
// postmaster.pid or socket lock file (its process gone, or alive but not a
// postgres serving this data directory) is removed, and a postgres left
// running on the data directory by a previous owner is stopped (SIGINT, then
// SIGQUIT, then SIGKILL) before a fresh start. A second Cluster on the same
// Dir while the first is alive fails with [ErrInUse]; the flock on Dir/.lock
// is what tells an orphan from a live owner.
//
// # Logging
//
// Server log lines go to Config.Logger.Named("postgres"): DEBUG lines at debug,
// LOG, INFO and NOTICE at info, WARNING at warn, ERROR, FATAL and PANIC at error;
// DETAIL, HINT and similar follow-up lines take the level of the line they
// follow.
//
// # Concurrency
//
// A Cluster's methods are safe for concurrent use. [Provision] may run
// concurrently for different or equal names.
package pgembed

// Package restart replaces the running runtime process with a new one
// without refusing a connection: graceful restarts (SIGHUP, the same
// binary) and self-updates (a new binary at the same path), after
// cloudflare/tableflip.
//
// # How
//
// Every listening socket of `websonic serve` (site, admin, metrics, the
// HTTP redirect) comes from Restarter.Listen. Upgrade starts the
// executable again, with the same arguments and environment, handing it
// those sockets; the new process takes them with the same Listen calls
// (same network and address strings), opens its database, loads its
// modules, starts serving and only then calls Ready. The old process
// learns it through a pipe: Upgrade returns nil and Exit closes, and the
// old process stops accepting and drains its in-flight requests (the
// server's graceful shutdown) while the new one already accepts on the
// same sockets, so no connection is refused. If the new process exits, or
// is not ready within Config.ReadyTimeout (60 s), it is killed, Upgrade
// returns an error naming why and the old process keeps serving as if
// nothing had happened. One upgrade at a time; a new process cannot
// upgrade before its parent has exited.
//
// # systemd
//
// The unit is Type=notify with NotifyAccess=all. Ready sends READY=1 to
// NOTIFY_SOCKET. Upgrade sends RELOADING=1; once the new process told it
// that it is ready, the old process sends MAINPID=<the new pid> and
// READY=1 before it may exit, so that systemd follows the new main
// process and does not take the old one's exit for the service's (the new
// process says MAINPID=<its pid> too, after telling its parent). systemd
// never hears of a new process that was not ready: if the upgrade fails,
// the old process sends MAINPID=<its pid> and READY=1. Outside systemd (no NOTIFY_SOCKET) nothing
// is sent.
//
// # Where it works
//
// Only on Linux, and only when the database outlives the process: an
// embedded PostgreSQL (no --database-url) is a child of the process that
// started it and stops with it, so a runtime on one gets a Restarter with
// Config.Disabled set. A disabled Restarter (or one on another OS) hands
// out plain listeners and its Upgrade fails with ErrUnsupported, saying
// why; the self-updater then only notifies.
//
// A Restarter restarts the running executable, symbolic links resolved
// (Executable), which is the file a self-update replaces: New sets
// os.Args[0] to it, since tableflip starts os.Args[0] through a PATH
// lookup at every upgrade.
package restart

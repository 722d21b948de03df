// Package requestq is the queue of requests from the owner's commands (the
// CLI, later the admin UI) to the runtimes serving a site:
// websonic.module_requests. A command records a request (Enqueue), which
// NOTIFYs the site's module channel (package pgnotify), and waits for its
// answer (Wait); every runtime serves the queue (Queue.Run) on a database
// session named ListenerName, claiming pending requests one at a time with
// FOR UPDATE SKIP LOCKED, so that exactly one replica takes each.
//
// The queue knows no action itself: each owner registers its own
// (Queue.Handle) before Run — the updater install, rollback, approve and
// policy; the server exec and commands (admin commands). A runtime that
// takes a request nobody registered fails it with a message saying why
// (Queue.Unhandled).
//
// A request records which runtime took it (taken_by, the listener
// session's backend pid), so that Wait reports exactly what became of it:
// never taken (then cancelled: it must not run at some later start), taken
// and still running, taken by a runtime that stopped, answered.
package requestq

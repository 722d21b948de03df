// Package logstore keeps the runtime's recent log entries in memory, for the
// admin area's "System logs" page: the newest entries of the runtime's own
// components and of its modules (whose loggers are named
// "module.<name>"), within a count and a byte cap.
//
// A Store is an hclog.SinkAdapter; Tee wraps a server's logger so that every
// entry the logger prints is also kept, and the logger's own output is left
// exactly as it was. A Store records only what its logger prints (nothing
// below the logger's level), at Config.Level or above, with every message
// and value cut to a bounded length: it holds nothing the log output does
// not already show.
//
// The store is per process: each runtime replica keeps its own, and a
// restart empties it. It is safe for concurrent use; Accept never blocks on
// a reader for longer than one copy of an entry.
package logstore

package pgembed

import "errors"

// Errors returned by this package, always wrapped with details; test them with errors.Is.
var (
	// ErrNoBinaries means no directory holds both initdb and postgres.
	ErrNoBinaries = errors.New("pgembed: PostgreSQL server binaries not found")
	// ErrNotAccessible means the unprivileged server user cannot traverse a
	// directory on the way to the cluster directory.
	ErrNotAccessible = errors.New("pgembed: directory not accessible to the server user")
	// ErrInUse means another live Cluster (in this or another process) owns the directory.
	ErrInUse = errors.New("pgembed: cluster directory in use")
	// ErrBadDataDir means Dir/data exists but is not a usable PostgreSQL data directory.
	ErrBadDataDir = errors.New("pgembed: unusable data directory")
	// ErrVersionMismatch means the data directory was made by another major version than the binaries.
	ErrVersionMismatch = errors.New("pgembed: data directory and binaries differ in major version")
	// ErrInitdb means initdb failed; the error carries its output.
	ErrInitdb = errors.New("pgembed: initdb failed")
	// ErrServerExited means the server exited before it accepted connections;
	// the error carries the tail of its log.
	ErrServerExited = errors.New("pgembed: server exited during startup")
	// ErrStartTimeout means the context ended before the server accepted connections.
	ErrStartTimeout = errors.New("pgembed: server did not become ready")
	// ErrStopTimeout means the context ended before fast shutdown finished; the
	// server was then stopped with SIGQUIT (or SIGKILL).
	ErrStopTimeout = errors.New("pgembed: fast shutdown did not finish in time")
	// ErrInvalidName means a role or database name given to Provision is not a
	// plain lowercase identifier.
	ErrInvalidName = errors.New("pgembed: invalid name")
)

package sdk

import "context"

// ServerStatus is what the runtime replica serving the call is running
// now, as RuntimeStatus reports it. The figures are a snapshot, each read
// on its own while the replica keeps running: they need not add up
// exactly. Each replica reports only itself.
type ServerStatus struct {
	Replica     string         `json:"replica"`     // host name and process id: "web-1 (pid 4242)"
	StartedAt   string         `json:"started_at"`  // RFC 3339, UTC: when the replica started
	Goroutines  int            `json:"goroutines"`  // the replica's goroutines
	Connections int            `json:"connections"` // the replica's open realtime connections
	Modules     []ModuleStatus `json:"modules"`     // the running modules, by name
	DBPool      DBPoolStatus   `json:"db_pool"`     // the runtime's own database pool
}

// ModuleStatus is one running module's instances.
type ModuleStatus struct {
	Name      string       `json:"name"`
	Version   string       `json:"version"`
	Enabled   bool         `json:"enabled"`   // false: the owner disabled it (it runs, unrouted)
	Instances int          `json:"instances"` // instances alive
	Busy      int          `json:"busy"`      // serving a call now
	Queued    int          `json:"queued"`    // requests waiting for an instance
	Max       int          `json:"max"`       // the most instances it may have at once
	DBPool    DBPoolStatus `json:"db_pool"`   // the module's own database pool
}

// DBPoolStatus is a database connection pool.
type DBPoolStatus struct {
	Max      int `json:"max"`      // the most connections
	Total    int `json:"total"`    // open now
	Acquired int `json:"acquired"` // in use
	Idle     int `json:"idle"`     // open and unused
}

// RuntimeStatus reports what the runtime replica that serves the call is
// running now, for a module whose manifest lists the user action "status"
// (errors.Is(err, ErrDenied) otherwise). A module's "threads" or "status"
// admin command shows it to the site's admins; sdk/ABI.md section 16
// describes the figures.
func RuntimeStatus(ctx context.Context) (ServerStatus, error) {
	var st ServerStatus
	err := callHost(ctx, "runtime.status", struct{}{}, &st)
	return st, err
}

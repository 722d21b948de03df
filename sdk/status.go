package sdk

import "context"

// ServerStatus is what the runtime replica serving the call is running
// now, as RuntimeStatus reports it.
type ServerStatus struct {
	Replica     string         `json:"replica"`    // host name and process id
	StartedAt   string         `json:"started_at"` // RFC 3339
	Goroutines  int            `json:"goroutines"`
	Connections int            `json:"connections"` // open realtime connections
	Modules     []ModuleStatus `json:"modules"`
	DBPool      DBPoolStatus   `json:"db_pool"`
}

// ModuleStatus is one running module's instances.
type ModuleStatus struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Instances int    `json:"instances"` // instances alive
	Busy      int    `json:"busy"`      // serving a call now
	Queued    int    `json:"queued"`    // requests waiting for an instance
}

// DBPoolStatus is the runtime's database connection pool.
type DBPoolStatus struct {
	Max      int `json:"max"`
	Total    int `json:"total"`
	Acquired int `json:"acquired"`
	Idle     int `json:"idle"`
}

// RuntimeStatus reports what the runtime replica that serves the call is
// running now, for a module whose manifest lists the user action "status"
// (errors.Is(err, ErrDenied) otherwise).
func RuntimeStatus(ctx context.Context) (ServerStatus, error) {
	var st ServerStatus
	err := callHost(ctx, "runtime.status", struct{}{}, &st)
	return st, err
}

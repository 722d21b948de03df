// Package runstatus serves the host service runtime.status
// (sdk.RuntimeStatus): what the runtime replica serving the call is
// running now — its realtime connections, each running module's
// instances (alive, busy, waited for) and database pool, its goroutines
// and its own database pool. A module gets it only when its approved
// manifest lists the user action "status" (manifest.UserStatus); the
// payload is an empty object, decoded strictly. sdk/ABI.md section 16
// documents the answer, whose JSON shape is sdk.ServerStatus's.
//
// The figures are a snapshot taken without stopping anything: each is
// read under its own lock, so they need not add up exactly (a call may
// end between two readings). Every replica answers for itself only.
package runstatus

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"slices"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/sdk/manifest"
)

// Service is the host service's name.
const Service = "runtime.status"

// maxPayload bounds the payload, which is an empty object.
const maxPayload = 1 << 10

// Status is the answer (sdk.ServerStatus).
type Status struct {
	Replica     string   `json:"replica"`    // host name and process id
	StartedAt   string   `json:"started_at"` // RFC 3339, UTC
	Goroutines  int      `json:"goroutines"`
	Connections int      `json:"connections"` // the replica's realtime connections
	Modules     []Module `json:"modules"`     // by name
	DBPool      DBPool   `json:"db_pool"`     // the runtime's own pool
}

// Module is one running module (sdk.ModuleStatus).
type Module struct {
	Name      string `json:"name"`
	Version   string `json:"version"`
	Enabled   bool   `json:"enabled"`   // false: the owner disabled it (it runs, unrouted)
	Instances int    `json:"instances"` // alive (or being made)
	Busy      int    `json:"busy"`      // serving a call
	Queued    int    `json:"queued"`    // calls waiting for an instance
	Max       int    `json:"max"`       // the most instances at once
	DBPool    DBPool `json:"db_pool"`   // the module's own database pool
}

// DBPool is a database connection pool (sdk.DBPoolStatus).
type DBPool struct {
	Max      int `json:"max"`
	Total    int `json:"total"`
	Acquired int `json:"acquired"`
	Idle     int `json:"idle"`
}

// PoolOf reads a pgx pool's figures (nil: zeros).
func PoolOf(p *pgxpool.Pool) DBPool {
	if p == nil {
		return DBPool{}
	}
	st := p.Stat()
	return DBPool{Max: int(st.MaxConns()), Total: int(st.TotalConns()), Acquired: int(st.AcquiredConns()), Idle: int(st.IdleConns())}
}

// Config says where the figures come from. Nil functions give zeros.
type Config struct {
	// Replica names the replica (Replica()).
	Replica string
	// StartedAt is when the replica started (when New is called).
	StartedAt time.Time
	// Connections counts the replica's realtime connections.
	Connections func() int
	// Modules lists the running modules, in any order.
	Modules func() []Module
	// DBPool reads the runtime's database pool.
	DBPool func() DBPool
}

// Replica is this process's name among replicas: "HOST (pid N)".
func Replica() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown host"
	}
	return fmt.Sprintf("%s (pid %d)", host, os.Getpid())
}

// New returns the runtime.status service.
func New(cfg Config) modhost.Service {
	if cfg.Replica == "" {
		cfg.Replica = Replica()
	}
	if cfg.StartedAt.IsZero() {
		cfg.StartedAt = time.Now()
	}
	return modhost.ServiceFunc(func(ctx context.Context, c *modhost.Caller, payload []byte) ([]byte, error) {
		if c.Manifest == nil || !slices.Contains(c.Manifest.Capabilities.UserActions, manifest.UserStatus) {
			return nil, modhost.Denied("%s: the module's manifest does not list the user action %q", Service, manifest.UserStatus)
		}
		if err := Decode(payload); err != nil {
			return nil, modhost.Invalid("%s: %v", Service, err)
		}
		return json.Marshal(cfg.snapshot())
	})
}

// Decode checks a payload: empty, or an empty JSON object and nothing
// else.
func Decode(payload []byte) error {
	if len(payload) == 0 {
		return nil
	}
	var empty struct{}
	if err := privacy.DecodeStrict(payload, &empty, maxPayload); err != nil {
		return fmt.Errorf("takes an empty object: %w", err)
	}
	return nil
}

func (cfg *Config) snapshot() Status {
	st := Status{
		Replica:    cfg.Replica,
		StartedAt:  cfg.StartedAt.UTC().Format(time.RFC3339),
		Goroutines: runtime.NumGoroutine(),
		Modules:    []Module{},
	}
	if cfg.Connections != nil {
		st.Connections = cfg.Connections()
	}
	if cfg.Modules != nil {
		st.Modules = append(st.Modules, cfg.Modules()...)
		slices.SortFunc(st.Modules, func(a, b Module) int { return cmp.Compare(a.Name, b.Name) })
	}
	if cfg.DBPool != nil {
		st.DBPool = cfg.DBPool()
	}
	return st
}

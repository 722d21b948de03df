package server

import (
	"time"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/runstatus"
)

// registerStatus adds the runtime.status host service (package
// runstatus): this replica's realtime connections, running modules and
// database pools, for modules whose manifest lists the user action
// "status". The replica's start is when Open calls it.
func (s *Server) registerStatus(services map[string]modhost.Service) {
	services[runstatus.Service] = runstatus.New(runstatus.Config{
		Replica:   runstatus.Replica(),
		StartedAt: time.Now(),
		Connections: func() int {
			if s.hub == nil {
				return 0
			}
			return s.hub.Count()
		},
		Modules: func() []runstatus.Module {
			var out []runstatus.Module
			for _, m := range s.Modules() {
				l := m.Load()
				mod := runstatus.Module{
					Name: m.Manifest().Name, Version: m.Manifest().Version, Enabled: s.ModuleEnabled(m.Manifest().Name),
					Instances: l.Live, Busy: max(l.Live-l.Idle, 0), Queued: l.Waiting, Max: l.Size,
				}
				if db := m.DB(); db != nil {
					mod.DBPool = runstatus.PoolOf(db.Pool())
				}
				out = append(out, mod)
			}
			return out
		},
		DBPool: func() runstatus.DBPool { return runstatus.PoolOf(s.db.Pool) },
	})
}

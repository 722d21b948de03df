package server

import (
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/respcache"
	"github.com/websonic/websonic/sdk/abi"
)

// openResponseCache makes the host response cache of Config.ResponseCache
// (nil when its MaxBytes is negative), its metrics, and registers the
// "cache" host service (which purges nothing without a cache). The cache
// is this replica's own: a purge reaches this replica only, while
// settings changes and enable/disable reach every replica through the
// module state they reload (modstate.go).
func (s *Server) openResponseCache(services map[string]modhost.Service) *respcache.Cache {
	var c *respcache.Cache
	if s.cfg.ResponseCache.MaxBytes >= 0 {
		c = respcache.New(s.cfg.ResponseCache)
		modhost.NewCacheMetrics(s.reg, c)
	}
	services[abi.ServiceCache] = modhost.CacheService(c)
	return c
}

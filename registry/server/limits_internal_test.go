package server

import "testing"

// TestLimitsFor: the default caps fit the descriptor budget (a watcher
// holds one descriptor, an API connection two, 256 stay for the rest),
// always leave the API at least 64 connections, and hold the product's
// 10,000 watchers from an open-file limit of 20,000 up.
func TestLimitsFor(t *testing.T) {
	for _, nofile := range []uint64{0, 256, 1024, 4096, 20000, 1 << 20, 1 << 40} {
		l := limitsFor(nofile)
		n := nofile
		if n == 0 {
			n = 4096
		}
		api := l.connections - l.watchers
		if api < 64 || l.watchers < 16 {
			t.Errorf("nofile %d: %+v: api %d", nofile, l, api)
		}
		if n >= 1024 && uint64(l.watchers+2*api+256) > n {
			t.Errorf("nofile %d: %+v needs %d descriptors", nofile, l, l.watchers+2*api+256)
		}
	}
	if l := limitsFor(20000); l.watchers < 10000 {
		t.Errorf("nofile 20000: %d watchers", l.watchers)
	}
}

func TestLimitsChecked(t *testing.T) {
	c := Config{MaxConnections: 100, MaxWatchers: 100}
	if err := c.defaults(); err == nil {
		t.Fatal("MaxWatchers = MaxConnections accepted: no room for the API")
	}
	c = Config{MaxConnections: 100}
	if err := c.defaults(); err != nil || c.MaxWatchers >= 100 || c.MaxWatchersPerClient < 8 || c.MaxConnectionsPerClient < 32 {
		t.Fatalf("defaults under MaxConnections 100: %+v, %v", c, err)
	}
}

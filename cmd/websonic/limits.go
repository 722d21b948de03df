package main

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/websonic/websonic/internal/pgembed"
	"github.com/websonic/websonic/runtime/server"
)

// limits are the flags of `websonic serve` for what a site may change of
// the limits sdk/ABI.md section 8 lists (and a few more knobs of
// server.Config). Their defaults are the runtime's; the table there and
// these flags must agree (TestLimitsAgreeWithABI).
type limits struct {
	callTimeout, acquireTimeout, statementTimeout, updateInterval time.Duration
	memoryPages, highWaterPages, maxResponseBytes                 uint
	maxCalls, poolSize, minWarm                                   int
	rolePrefix                                                    string
	storageQuota, dbBackendMemory, dbTempFileLimit                int64
	dbMaxConnections                                              int
	outboundPrivate                                               string
	realtime                                                      realtimeLimits
	mail                                                          mailFlags // mailflags.go
}

// realtimeLimits are the flags of the realtime hub's main limits (sdk/ABI.md
// section 11 lists them all; server.Config.Realtime has the others).
type realtimeLimits struct{ maxConns, perUser, perIP, eventBytes int }

// realtimeFlags name the realtime hub's flags and their environment
// variables (section 11 of sdk/ABI.md, not section 8's table).
var realtimeFlags = []struct{ flag, env string }{
	{"realtime-max-connections", "WEBSONIC_REALTIME_MAX_CONNECTIONS"},
	{"realtime-max-per-user", "WEBSONIC_REALTIME_MAX_PER_USER"},
	{"realtime-max-per-ip", "WEBSONIC_REALTIME_MAX_PER_IP"},
	{"realtime-max-event-bytes", "WEBSONIC_REALTIME_MAX_EVENT_BYTES"},
}

// limitFlags names each flag and its environment variable.
var limitFlags = []struct{ flag, env string }{
	{"call-timeout", "WEBSONIC_CALL_TIMEOUT"},
	{"memory-limit-pages", "WEBSONIC_MEMORY_LIMIT_PAGES"},
	{"memory-high-water-pages", "WEBSONIC_MEMORY_HIGH_WATER_PAGES"},
	{"max-calls", "WEBSONIC_MAX_CALLS"},
	{"max-response-bytes", "WEBSONIC_MAX_RESPONSE_BYTES"},
	{"pool-size", "WEBSONIC_POOL_SIZE"},
	{"pool-min-warm", "WEBSONIC_POOL_MIN_WARM"},
	{"acquire-timeout", "WEBSONIC_ACQUIRE_TIMEOUT"},
	{"statement-timeout", "WEBSONIC_STATEMENT_TIMEOUT"},
	{"role-prefix", "WEBSONIC_ROLE_PREFIX"},
	{"update-interval", "WEBSONIC_UPDATE_INTERVAL"},
	{"module-storage-quota", "WEBSONIC_MODULE_STORAGE_QUOTA"},
	{"db-backend-memory", "WEBSONIC_DB_BACKEND_MEMORY"},
	{"db-temp-file-limit", "WEBSONIC_DB_TEMP_FILE_LIMIT"},
	{"db-max-connections", "WEBSONIC_DB_MAX_CONNECTIONS"},
}

func (l *limits) register(fs *flagSet) {
	fs.DurationVar(&l.callTimeout, "call-timeout", 10*time.Second, "deadline of each call into a module, a request or an instantiation; past it: 504 (WEBSONIC_CALL_TIMEOUT)")
	fs.UintVar(&l.memoryPages, "memory-limit-pages", 2048, "memory of each module instance, in 64 KiB pages (2048 = 128 MiB); past it the call traps: 500 (WEBSONIC_MEMORY_LIMIT_PAGES)")
	fs.UintVar(&l.highWaterPages, "memory-high-water-pages", 512, "an instance whose memory grew past this many pages is recycled after its call (WEBSONIC_MEMORY_HIGH_WATER_PAGES)")
	fs.IntVar(&l.maxCalls, "max-calls", 10000, "an instance is recycled after this many calls (WEBSONIC_MAX_CALLS)")
	fs.UintVar(&l.maxResponseBytes, "max-response-bytes", 8<<20, "largest encoded response of a module; larger: 502 (WEBSONIC_MAX_RESPONSE_BYTES)")
	fs.IntVar(&l.poolSize, "pool-size", 4, "most instances of a module version at once (WEBSONIC_POOL_SIZE)")
	fs.IntVar(&l.minWarm, "pool-min-warm", 1, "instances of each module kept instantiated and ready (WEBSONIC_POOL_MIN_WARM)")
	fs.DurationVar(&l.acquireTimeout, "acquire-timeout", 2*time.Second, "how long a request waits for a free instance; then 503 (WEBSONIC_ACQUIRE_TIMEOUT)")
	fs.DurationVar(&l.statementTimeout, "statement-timeout", 5*time.Second, "each module role's statement_timeout (WEBSONIC_STATEMENT_TIMEOUT)")
	fs.StringVar(&l.rolePrefix, "role-prefix", "", "start of the site's role names, which are cluster-wide: set it on a new site that shares a PostgreSQL server with another; empty: the site's own (websonic_ for a new site), which cannot change (WEBSONIC_ROLE_PREFIX)")
	fs.DurationVar(&l.updateInterval, "update-interval", 10*time.Minute, "how often to check the registry for updates besides its watch stream (WEBSONIC_UPDATE_INTERVAL)")
	l.storageQuota, l.dbBackendMemory, l.dbTempFileLimit = 1<<30, 256<<20, 1<<30
	fs.Var(sizeFlag{&l.storageQuota}, "module-storage-quota", "each module's storage quota unless set with websonic module quota (e.g. 2GiB); past it the module's database access is suspended (WEBSONIC_MODULE_STORAGE_QUOTA)")
	fs.Var(sizeFlag{&l.dbBackendMemory}, "db-backend-memory", "embedded PostgreSQL: private memory of each server process; a query needing more fails with out of memory (WEBSONIC_DB_BACKEND_MEMORY)")
	fs.Var(sizeFlag{&l.dbTempFileLimit}, "db-temp-file-limit", "embedded PostgreSQL: temporary files of each session (WEBSONIC_DB_TEMP_FILE_LIMIT)")
	fs.IntVar(&l.dbMaxConnections, "db-max-connections", 100, "embedded PostgreSQL: max_connections (WEBSONIC_DB_MAX_CONNECTIONS)")
	fs.IntVar(&l.realtime.maxConns, "realtime-max-connections", 10000, "realtime WebSocket connections of this runtime; past it: 503 (WEBSONIC_REALTIME_MAX_CONNECTIONS)")
	fs.IntVar(&l.realtime.perUser, "realtime-max-per-user", 16, "realtime connections of one signed-in user; past it: 429 (WEBSONIC_REALTIME_MAX_PER_USER)")
	fs.IntVar(&l.realtime.perIP, "realtime-max-per-ip", 8, "anonymous realtime connections of one client address; past it: 429 (WEBSONIC_REALTIME_MAX_PER_IP)")
	fs.IntVar(&l.realtime.eventBytes, "realtime-max-event-bytes", 64<<10, "largest realtime event a module may publish, in bytes of JSON (WEBSONIC_REALTIME_MAX_EVENT_BYTES)")
	for _, f := range append(limitFlags, realtimeFlags...) {
		fs.fromEnv(f.flag, f.env)
	}
	fs.StringVar(&l.outboundPrivate, "outbound-private", "", "comma-separated origins (scheme://host:port) that modules listing them in outbound_http may reach although they are on loopback, private or other non-public addresses, e.g. http://127.0.0.1:9200; empty: none (WEBSONIC_OUTBOUND_PRIVATE)")
	fs.fromEnv("outbound-private", "WEBSONIC_OUTBOUND_PRIVATE")
	l.mail.register(fs)
}

// privateOrigins is --outbound-private as a list.
func (l *limits) privateOrigins() []string {
	var out []string
	for _, o := range strings.Split(l.outboundPrivate, ",") {
		if o = strings.TrimSpace(o); o != "" {
			out = append(out, o)
		}
	}
	return out
}

// validate refuses values the runtime would misread (zero means "the
// default" there, and the page counts are 32-bit).
func (l *limits) validate() error {
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"call-timeout", l.callTimeout}, {"acquire-timeout", l.acquireTimeout}, {"statement-timeout", l.statementTimeout}, {"update-interval", l.updateInterval}} {
		if d.v <= 0 {
			return fmt.Errorf("serve: --%s %v: must be positive", d.name, d.v)
		}
	}
	for _, n := range []struct {
		name           string
		v, least, most int64
	}{
		{"memory-limit-pages", int64(l.memoryPages), 1, 65536}, // wasm32's whole address space
		{"memory-high-water-pages", int64(l.highWaterPages), 1, int64(l.memoryPages)},
		{"max-response-bytes", int64(l.maxResponseBytes), 1, math.MaxUint32},
		{"max-calls", int64(l.maxCalls), 1, math.MaxInt32},
		{"pool-size", int64(l.poolSize), 1, 1024},
		{"pool-min-warm", int64(l.minWarm), 1, int64(l.poolSize)},
		{"module-storage-quota", l.storageQuota, 1 << 20, math.MaxInt64},
		{"db-backend-memory", l.dbBackendMemory, 64 << 20, math.MaxInt64},
		{"db-temp-file-limit", l.dbTempFileLimit, 1 << 20, math.MaxInt64},
		{"db-max-connections", int64(l.dbMaxConnections), 20, 10000},
		{"realtime-max-connections", int64(l.realtime.maxConns), 1, 1 << 20},
		{"realtime-max-per-user", int64(l.realtime.perUser), 1, 1 << 20},
		{"realtime-max-per-ip", int64(l.realtime.perIP), 1, 1 << 20},
		{"realtime-max-event-bytes", int64(l.realtime.eventBytes), 1 << 10, 8 << 20},
	} {
		if n.v < n.least || n.v > n.most {
			return fmt.Errorf("serve: --%s %d: want %d to %d", n.name, n.v, n.least, n.most)
		}
	}
	if err := server.CheckOutboundPrivate(l.privateOrigins()); err != nil {
		return fmt.Errorf("serve: --outbound-private: %w", err)
	}
	return l.mail.validate()
}

// apply sets the limits in cfg.
func (l *limits) apply(cfg *server.Config) {
	cfg.MemoryLimitPages = uint32(l.memoryPages)
	cfg.StatementTimeout = l.statementTimeout
	cfg.RolePrefix = l.rolePrefix
	cfg.UpdateInterval = l.updateInterval
	cfg.Pool.CallTimeout = l.callTimeout
	cfg.Pool.AcquireTimeout = l.acquireTimeout
	cfg.Pool.MaxMemoryPages = uint32(l.highWaterPages)
	cfg.Pool.MaxCalls = l.maxCalls
	cfg.Pool.MaxResponseBytes = uint32(l.maxResponseBytes)
	cfg.Pool.Size = l.poolSize
	cfg.Pool.MinWarm = l.minWarm
	cfg.ModuleStorageQuota = l.storageQuota
	cfg.Outbound.PrivateOrigins = l.privateOrigins()
	cfg.DatabaseLimits = pgembed.Limits{BackendMemory: l.dbBackendMemory, TempFileLimit: l.dbTempFileLimit, MaxConnections: l.dbMaxConnections}
	cfg.Realtime.MaxConnections = l.realtime.maxConns
	cfg.Realtime.MaxPerUser = l.realtime.perUser
	cfg.Realtime.MaxPerAnonymousIP = l.realtime.perIP
	cfg.Realtime.MaxEventBytes = l.realtime.eventBytes
	l.mail.apply(cfg)
}

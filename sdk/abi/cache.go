package abi

// ServiceCache is the host service through which a module purges its own
// entries from the host's response cache (ABI.md, "Host response cache").
// Its payload is a CachePurge; its answer a CachePurged.
const ServiceCache = "cache"

// CachePurge asks the host to drop the calling module's cached responses
// whose path starts with one of Prefixes (each starting with "/"); none
// drops every response of the module. At most MaxCachePurgePrefixes
// prefixes of at most 1024 bytes each.
type CachePurge struct {
	Prefixes []string `json:"prefixes,omitempty"`
}

// CachePurged is the answer of ServiceCache: how many stored responses
// the purge dropped on this runtime.
type CachePurged struct {
	Purged int `json:"purged"`
}

// MaxCachePurgePrefixes bounds CachePurge.Prefixes.
const MaxCachePurgePrefixes = 64

package abihttp

// Headers of the host's response cache (sdk/ABI.md, "Host response cache").
const (
	// CacheScopeHeader is a response header a module sets to say who may
	// be served its cacheable response: CacheScopeShared (the page does
	// not depend on the user: one stored copy for every visitor allowed on
	// the route, signed in or not). Without it, anonymous visitors share a
	// public response and each signed-in user gets a copy of their own.
	// The host removes it.
	CacheScopeHeader = "Websonic-Cache-Scope"
	CacheScopeShared = "shared"
	// CacheStatusHeader is the response header the host sends on a
	// request its cache considered: "hit", "miss" or "revalidated". A
	// module's own is removed.
	CacheStatusHeader = "Websonic-Cache"
)

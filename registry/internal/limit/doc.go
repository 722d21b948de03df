// Package limit keeps the registry up under load and abuse: it tells
// clients apart (Clients, behind trusted proxies), throttles them (Throttle,
// one token bucket per client) and answers refusals with Retry-After
// (Refusal).
package limit

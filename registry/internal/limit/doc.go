// Package limit keeps the registry up under load and abuse: it tells
// clients apart (Clients, behind trusted proxies), caps their connections
// (Listener) and requests in progress (Requests), bounds how slowly
// request bodies arrive (Bodies) and responses are taken (Responses),
// throttles them (Throttle, one token bucket per client) and answers
// refusals with Retry-After (Refusal).
package limit

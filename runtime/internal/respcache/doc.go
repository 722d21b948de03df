// Package respcache is the host's response cache: a bounded, in-memory
// store of module responses that modules mark cacheable with standard HTTP
// headers (RFC 9111), so that a page served again costs the host a map
// lookup instead of a guest call.
//
// # What is stored
//
// A response is stored when all of these hold (Decide):
//   - the request is a GET (a HEAD is answered from a stored GET, never
//     stored itself) without an Authorization header;
//   - the status is 200, 301, 308, 404 or 410 (final answers whose body
//     means the same on every request);
//   - Cache-Control gives an explicit lifetime: s-maxage or, without it,
//     max-age, above zero (capped at Config.MaxTTL); Expires and heuristic
//     freshness are ignored;
//   - Cache-Control has neither no-store nor no-cache (in any form), and
//     the response has no Set-Cookie and no "Vary: *";
//   - the body is at most Config.MaxEntryBytes.
//
// # Who is served a stored response (the user dimension)
//
// Every stored response belongs to exactly one variant of the user:
//   - shared: the module sent "Websonic-Cache-Scope: shared" (and not
//     private): one copy for everyone the route lets in, signed in or not;
//   - anonymous: an anonymous request whose response is public: one copy
//     for all anonymous visitors (a response that is neither public nor
//     shared is not stored for them, since visitors are told apart only by
//     the module's own cookies: the anonymous variant always varies on
//     Cookie, named in Vary or not, so that visitors with cookies never
//     share a copy, and visitors without any share one);
//   - one user: a signed-in user's request, private or public alike: a copy
//     for that user only, keyed by the user's id, names and roles (a role
//     change is a new variant).
//
// So a stored page never crosses users: the user part of the key comes
// from the request, and only a response the module declared shared is ever
// filed where several users look.
//
// # Keys and invalidation
//
// The key is the module's generation (Generation: a number the host takes
// for each running module version, so a new version, a rollback or a restart
// never sees an old version's entries), the variant's user, the request's
// host and URI, and the values of the request headers the response names
// in Vary (as the module received them: without the site's private
// cookies). Purge drops a module's entries under path prefixes (the
// module's own only: the host names the module) and moves its epoch: a
// response computed before a purge is not stored after it (Ticket). The
// host purges a module's entries on its settings change and on enable or
// disable; a new version needs nothing (new generation) but Drop frees the
// old one's memory.
//
// # Memory
//
// The cache holds at most Config.MaxBytes (64 MiB), counting bodies,
// headers and keys. Eviction is least-recently-used, with a per-module
// share: a module holding Config.ModuleBytes (MaxBytes/4) or more evicts
// its own least-recently-used entries to store another, so one busy module
// can take at most its share from the others.
//
// A Cache is safe for concurrent use; entries are immutable once stored.
package respcache

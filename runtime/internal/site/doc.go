// Package site is the runtime's core site: registration, login, sessions and
// roles, and the few pages that go with them (home, register, login, account).
//
// # Ownership
//
// The package owns the rows of websonic.users, user_roles, sessions,
// user_ips and ip_blocks (the schema itself belongs to package coredb and
// is created by coredb.Migrate, which must have run before a Site or Store
// is used). It appends to websonic.audit_log through coredb.Audit:
// user.register, user.login, user.login_failed, user.logout, user.role, and
// the user services' user.ban, user.unban, user.suspend, user.unsuspend,
// user.password, user.role_grant, user.role_revoke, ip.block, ip.unblock and
// user.erase (moderate.go, userdata.go), each naming its Actor. The server owns the chi
// router and the middleware around it; in particular it wraps everything in
// cross-origin protection (http.CrossOriginProtection plus a check of the
// Origin's scheme), which is why the forms here carry no CSRF token, and in
// clientaddr's middleware, which sets RemoteAddr to the client that trusted
// proxies name.
//
// # Wiring
//
//	s, err := site.New(site.Config{Pool: pool, Logger: logger})
//	defer s.Close()
//	r := chi.NewRouter()
//	r.Use(s.BlockedAddresses, s.Sessions) // refuses blocked addresses; puts the signed-in *User in the request context
//	s.Routes(r) // GET /, GET/POST /register, GET/POST /login, POST /logout, GET /account, GET /account/audit
//
// Handlers elsewhere read the user with UserFrom(r.Context()) and answer every
// "not allowed" with Site.Deny, so that anonymous visitors are sent to the
// login page and signed-in users without the role get one 403 page.
//
// # Pages, themes and languages
//
// Every page, a module's page (Frame) included, is rendered by the active
// theme (package theme) with the owner's settings, both read per page
// through Config.Look (one atomic load); the built-in theme without it.
// Text and messages go through the runtime's catalogues (package i18n,
// runtime/internal/locales) in the owner's language, else the browser's
// (Accept-Language); the theme's own catalogue is consulted first.
//
// # Roles
//
// Every user is a member; admin, staff and auditor are granted on top, any
// number of them (websonic.user_roles). Admin implies staff, so
// User.Has(RoleStaff) is true for admins too; auditor implies nothing and
// reads the audit log (GET /account/audit, also open to admins). Roles are
// read from the database on every request, so a role change applies to the
// user's live sessions at once. The last active admin cannot lose admin, be
// banned, suspended or erased (ErrLastAdmin).
//
// # Bans, suspensions and blocks
//
// A banned or suspended user cannot sign in (the message says so, only
// after the right password) and no session of theirs resolves: the session
// lookup itself refuses them, and their sessions are deleted with a user
// event so that every replica closes their sockets. While a ban lasts, the
// addresses the user came from (websonic.user_ips, the newest 20, IPv6 per
// /64) are refused at sign-in and registration. IP blocks (IPv4 or IPv6,
// address or CIDR, with an optional end) refuse every request
// (BlockedAddresses, an in-memory copy refreshed every few seconds). A
// module acting through the user services is held to limits no capability
// lifts (Actor, RATIONALE.md).
//
// # Passwords and sessions
//
// A new password follows NIST SP 800-63B-4 (policy.go): 15 to 1024
// characters, any characters, no composition rules, not containing the
// username, and not on the embedded list of common and breached passwords
// (blocklist/, from zxcvbn) nor an obvious variation of one; a refusal is a
// *PasswordError saying which rule. Passwords are hashed with argon2id
// (m=19456 KiB, t=2, p=1) and stored as PHC strings; verification reads the
// parameters from the stored string, and a hash made with other parameters is
// replaced at the next successful login. At most GOMAXPROCS hashes run at
// once, so memory stays bounded under load. An unknown or invalid username
// costs the same lookup and hash as a wrong password.
//
// A session token is 32 random bytes, sent base64url-encoded in the HttpOnly,
// SameSite=Lax cookie "websonic_session", or, when the request came over
// HTTPS (clientaddr.HTTPS) or Config.SecureCookies is set, in the Secure
// cookie "__Host-websonic_session" (and only that one is read then). Only the
// token's SHA-256 is stored. Logging in always mints a new token (no
// fixation). Passwords and tokens are never logged.
//
// # Login attempts
//
// The login guard (ratelimit.go) slows guessing without locking owners out:
// an exponential backoff per (username, client), one per username that only
// browsers that never signed in to it obey, a bucket per client and a
// site-wide budget of failures against spraying. A refusal is a 429 with
// Retry-After. The client is r.RemoteAddr, which the server's clientaddr
// middleware derives from trusted proxies; IPv6 clients count per /64. A
// browser that signed in (or registered) is known by its device cookie
// (DeviceCookie: a random id, __Host- over HTTPS), not by its address, so
// neither a new address nor an attacker sharing its address locks it out;
// no module reads or sets that cookie. The guard's state is in memory, per
// process: replicas and restarts each start afresh. Login errors say "unknown user" or "wrong password" unless
// Config.GenericLoginErrors is set; the status (401) and the work are the
// same either way.
//
// # Concurrency
//
// Store and Site are safe for concurrent use by any number of goroutines once
// built; their configuration is copied by New and never changes. Site runs one
// background goroutine (the expired-session and rate-limiter sweeper), which
// Close stops; Close waits for it and may be called more than once. Close does
// not close the pool, which belongs to the caller.
package site

// Package admin is the site's admin area: a small server of its own that
// the runtime serves on a separate origin (its own listener, `websonic
// serve --admin-addr`, 127.0.0.1:8081 by default), so that no module
// script can drive it.
//
// Module scripts run on the site's origin, with the signed-in user's
// site session. Were the admin pages on that origin too, a module script
// in an admin's browser could read them (same origin) and post their
// forms with the admin's cookie. Here nothing the site's origin can do
// reaches an admin action:
//
//   - Another origin: the site's scripts cannot read the admin area's
//     pages or responses (the same-origin policy; no CORS is ever
//     granted), nor frame them (frame-ancestors 'none', X-Frame-Options),
//     nor keep a handle on a window they open (Cross-Origin-Opener-Policy:
//     same-origin).
//   - Its own session: a cookie (AdminCookie; HostAdminCookie over HTTPS)
//     that is HttpOnly (no script reads it), SameSite=Strict, host-only,
//     backed by its own table (websonic.admin_sessions): a site session
//     never opens the admin area. Browsers do not keep cookies apart by
//     port, so the site's origin receives this cookie too: the runtime
//     lists it among the private cookies that never reach a module
//     (modhost.Config.PrivateCookies) and that a module cannot set.
//   - Fetch Metadata: another port of the same host is same-site, and
//     SameSite=Strict cookies travel on same-site requests; so every
//     request whose Sec-Fetch-Site is same-site or cross-site is refused,
//     except a top-level navigation (GET, which changes nothing). A
//     state-changing request must say Sec-Fetch-Site: same-origin and
//     carry an Origin of the admin area itself.
//   - A CSRF token in every form, bound to the admin session (an HMAC of
//     the session token), checked in constant time.
//   - Re-authentication: approving a module's capabilities asks for the
//     admin's password again (through the site's login guard).
//
// The area's pages are html/template with no script at all
// (script-src 'none'). RATIONALE.md ("Why is the admin area on another
// origin?") and sdk/ABI.md section 15 say why this design.
//
// The area lives under Prefix (/admin) on its own origin. Every signed-in
// page and action is one entry of the route table (Area.Routes), with the
// rule of who may use it: Admins, or Readers (admins and auditors, who
// read the dashboard, the audit log and the system logs). Admins and
// auditors may sign in; every request is checked against the user's roles
// as they are now, and a POST's form and CSRF token are checked once, by
// the shell, before any handler runs. Pages are html/template files
// (templates/) in one layout with a side navigation; their text goes
// through the site's message catalogues (package locales, internal/i18n)
// in the owner's language, else the browser's.
package admin

// Package outbound is the http.fetch host service (sdk/ABI.md section 14):
// the HTTP requests a module makes, through sdk.HTTPClient, to the origins
// its manifest lists in capabilities.outbound_http and the site owner
// approved.
//
// Every fetch is checked twice. Before anything is sent, the URL is
// normalised (scheme, lower-case IDNA host, explicit port; no user
// information, zones or odd IPv4 spellings) and its origin must be one of
// the caller's approved origins; each redirect (at most five) is checked
// the same way. Then, when a connection is made, the address actually
// dialled — after DNS, in net.Dialer's Control hook — must be on the
// public internet: loopback, private, link-local, CGNAT, unique-local,
// multicast, reserved and cloud metadata addresses (and IPv6 forms that
// carry such an IPv4 address) are refused, so a name that resolves, or is
// rebound, to an internal address reaches nothing. The site owner may let
// a few origins through that second check (Config.PrivateOrigins); a module
// still needs them in its manifest.
//
// Fetches are bounded: a timeout (and the guest call's deadline), dial and
// TLS handshake timeouts, request and response body caps, header caps, and
// a number of fetches in flight per module. TLS is verified against the
// system roots (or Config.RootCAs); no proxy is used; the runtime's
// cookies are never sent, and the module cannot set hop-by-hop or framing
// header fields.
//
// A Service is safe for concurrent use.
package outbound

package limit

import (
	"net/http"
	"net/netip"

	"github.com/websonic/websonic/internal/clientaddr"
)

// Clients tells who a request comes from, for per-client limits, by
// package clientaddr's rules (the same as the runtime's). The zero value
// believes no proxy: the client is the connection's peer.
type Clients struct {
	res *clientaddr.Resolver
}

// NewClients believes the X-Forwarded-For of the proxies in trusted.
func NewClients(trusted []netip.Prefix) Clients { return Clients{res: clientaddr.New(trusted)} }

// trusted reports whether a is one of the trusted proxies.
func (c Clients) trusted(a netip.Addr) bool { return c.res.Trusts(a) }

// Addr returns the address of the request's client (clientaddr): the
// connection's peer, or behind trusted proxies the rightmost untrusted
// hop of X-Forwarded-For. It returns the zero Addr only for a RemoteAddr
// that is not an IP address (a test's fake request).
func (c Clients) Addr(r *http.Request) netip.Addr { return c.res.Client(r) }

// Key returns the request's client key (see KeyOf).
func (c Clients) Key(r *http.Request) string { return KeyOf(c.Addr(r)) }

// PeerAddr parses a RemoteAddr ("ip:port"); the zero Addr if it is not
// one.
func PeerAddr(remote string) netip.Addr {
	a, _ := clientaddr.ParseHost(remote)
	return a
}

// KeyOf groups client addresses for limits: an IPv4 address is its own
// client; IPv6 addresses share their /64, the smallest block a site is
// given (one host can use every address in it). The zero Addr is "-".
func KeyOf(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "-"
	case a.Is4():
		return a.String()
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

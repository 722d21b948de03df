package limit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Clients tells who a request comes from, for per-client limits. The
// zero value believes no proxy: the client is the connection's peer.
type Clients struct {
	// Trusted are the proxies whose X-Forwarded-For header is believed.
	Trusted []netip.Prefix
}

// trusted reports whether a is one of the trusted proxies.
func (c Clients) trusted(a netip.Addr) bool {
	for _, p := range c.Trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Addr returns the address of the request's client: the connection's
// peer, or, when the peer is a trusted proxy, the nearest address in
// X-Forwarded-For that is not one (read from the right: each trusted
// proxy appends the address it saw; what lies left of an untrusted hop
// could have been written by anyone). A malformed entry stops the walk
// at the last address vouched for. It returns the zero Addr only for a
// RemoteAddr that is not an IP address (a test's fake request).
func (c Clients) Addr(r *http.Request) netip.Addr {
	peer := PeerAddr(r.RemoteAddr)
	if !peer.IsValid() || !c.trusted(peer) {
		return peer
	}
	client := peer
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		entries := strings.Split(hops[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(entries[j]))
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !c.trusted(client) {
				return client
			}
		}
	}
	return client
}

// Key returns the request's client key (see KeyOf).
func (c Clients) Key(r *http.Request) string { return KeyOf(c.Addr(r)) }

// PeerAddr parses a RemoteAddr ("ip:port"); the zero Addr if it is not
// one.
func PeerAddr(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		host, _, err := net.SplitHostPort(remote)
		if err != nil {
			return netip.Addr{}
		}
		a, err := netip.ParseAddr(host)
		if err != nil {
			return netip.Addr{}
		}
		return a.Unmap()
	}
	return ap.Addr().Unmap()
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

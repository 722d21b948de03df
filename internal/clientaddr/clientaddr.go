// Package clientaddr derives who a request comes from and whether it came
// over HTTPS, believing the X-Forwarded-For and X-Forwarded-Proto headers
// only when the peer is a configured trusted proxy.
//
// # Semantics
//
// The peer is the host of r.RemoteAddr. When it is not trusted, it is the
// client and every forwarding header is ignored. When it is, the addresses of
// X-Forwarded-For (all its header lines, joined in order) are walked from the
// right: each trusted address is a proxy that appended the address of its own
// peer, and the first address that is not trusted is the client (the
// "rightmost untrusted hop"; anything to its left was written by the client
// and proves nothing). When every address is trusted the leftmost one is the
// client. An entry that does not parse stops the walk: the last trusted hop
// is then the client. X-Forwarded-Proto is believed only from a trusted peer;
// its last value (the one the nearest proxy wrote) counts, and only "http"
// and "https" mean anything.
//
// # Use
//
// Resolver.Middleware runs first in the runtime's chain: it stores the Info in
// the request's context, sets r.RemoteAddr to the derived client (so the
// access log, the login limiter and modules all see the same address), and
// removes the forwarding headers (Forwarded, X-Forwarded-*, X-Real-Ip) so
// that nothing later reads a spoofable copy. A Resolver is immutable and safe
// for concurrent use.
package clientaddr

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Resolver derives client addresses; see the package doc.
type Resolver struct {
	trusted []netip.Prefix
}

// New returns a Resolver that believes the forwarding headers of peers in
// trusted (none: headers are never believed).
func New(trusted []netip.Prefix) *Resolver {
	ps := make([]netip.Prefix, len(trusted))
	for i, p := range trusted {
		ps[i] = p.Masked()
	}
	return &Resolver{trusted: ps}
}

// ParsePrefixes parses a list of CIDR prefixes or single addresses separated
// by commas or white space ("10.0.0.0/8, 127.0.0.1, ::1"). An empty list is
// no prefixes. Each error names the entry at fault.
func ParsePrefixes(list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		if strings.Contains(f, "/") {
			p, err := netip.ParsePrefix(f)
			if err != nil {
				return nil, fmt.Errorf("clientaddr: trusted proxy %q: not a CIDR prefix such as 10.0.0.0/8 or an address", f)
			}
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil || a.Zone() != "" {
			return nil, fmt.Errorf("clientaddr: trusted proxy %q: not a CIDR prefix such as 10.0.0.0/8 or an address", f)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Info is what the Resolver derived for one request.
type Info struct {
	// Client is the client's address; invalid only when RemoteAddr itself
	// is not an address (never with net/http's server).
	Client netip.Addr
	// Peer is r.RemoteAddr as the connection gave it.
	Peer string
	// HTTPS reports whether the client's request came over TLS: r.TLS is
	// set, or a trusted proxy said X-Forwarded-Proto: https.
	HTTPS bool
	// Forwarded reports whether Client came from X-Forwarded-For.
	Forwarded bool
	// Ignored reports forwarding headers from a peer that is not trusted:
	// they were not believed (behind a proxy missing from the trusted
	// ones, every client shares the proxy's address).
	Ignored bool
}

// Trusts reports whether a is a trusted proxy. A nil Resolver trusts none.
func (res *Resolver) Trusts(a netip.Addr) bool {
	if res == nil {
		return false
	}
	a = a.Unmap()
	for _, p := range res.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Client is Resolve(r).Client.
func (res *Resolver) Client(r *http.Request) netip.Addr { return res.Resolve(r).Client }

// Resolve derives r's client and scheme; see the package doc. A nil
// Resolver trusts no proxy.
func (res *Resolver) Resolve(r *http.Request) Info {
	info := Info{Peer: r.RemoteAddr, HTTPS: r.TLS != nil}
	peer, ok := ParseHost(r.RemoteAddr)
	if !ok {
		return info
	}
	info.Client = peer
	if !res.Trusts(peer) {
		for _, h := range forwardingHeaders {
			if _, ok := r.Header[h]; ok {
				info.Ignored = true
				break
			}
		}
		return info
	}
	hops := forwardedFor(r.Header)
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := ParseHost(hops[i])
		if !ok {
			break // a trusted proxy never writes this: attribute to the last trusted hop
		}
		info.Client, info.Forwarded = a, true
		if !res.Trusts(a) {
			break
		}
	}
	if vs := r.Header.Values("X-Forwarded-Proto"); len(vs) > 0 {
		last := vs[len(vs)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		switch strings.ToLower(strings.TrimSpace(last)) {
		case "https":
			info.HTTPS = true
		case "http":
			info.HTTPS = false // the proxy's client used plain HTTP, whatever the proxy's own link
		}
	}
	return info
}

// forwardedFor returns the entries of every X-Forwarded-For line, in order.
func forwardedFor(h http.Header) []string {
	var hops []string
	for _, line := range h.Values("X-Forwarded-For") {
		for _, e := range strings.Split(line, ",") {
			hops = append(hops, strings.TrimSpace(e))
		}
	}
	return hops
}

// ParseHost parses "addr", "addr:port" or "[addr]:port" (a RemoteAddr, a
// forwarding entry) into an unmapped address without zone.
func ParseHost(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")); err == nil {
		return a.Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// forwardingHeaders are removed once the Resolver has read them.
var forwardingHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port", "X-Real-Ip"}

type infoKey struct{}

// Middleware resolves every request, stores the Info in its context (see
// FromContext), sets RemoteAddr to the client ("addr:port" as received when
// the peer is the client, "addr:0" when it came from X-Forwarded-For) and
// removes the forwarding headers.
func (res *Resolver) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info := res.Resolve(r)
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))
		if info.Forwarded {
			r.RemoteAddr = net.JoinHostPort(info.Client.String(), "0")
		}
		for _, h := range forwardingHeaders {
			if _, ok := r.Header[h]; ok {
				r.Header = r.Header.Clone() // the caller's request stays as it was
				for _, h := range forwardingHeaders {
					r.Header.Del(h)
				}
				break
			}
		}
		next.ServeHTTP(w, r)
	})
}

// FromContext returns the Info that Middleware stored, if any.
func FromContext(ctx context.Context) (Info, bool) {
	info, ok := ctx.Value(infoKey{}).(Info)
	return info, ok
}

// HTTPS reports whether r's client used HTTPS: as Middleware derived it
// when it ran, else whether r.TLS is set.
func HTTPS(r *http.Request) bool {
	if info, ok := FromContext(r.Context()); ok {
		return info.HTTPS
	}
	return r.TLS != nil
}

package outbound

import (
	"encoding/binary"
	"net/netip"
)

// Classes of addresses modules may not reach (addrClass's answers).
const (
	classPublic      = ""
	classUnspecified = "unspecified"
	classLoopback    = "loopback"
	classPrivate     = "private"
	classShared      = "shared (carrier-grade NAT)"
	classLinkLocal   = "link-local"
	classSiteLocal   = "site-local"
	classUniqueLocal = "unique local"
	classMulticast   = "multicast"
	classBroadcast   = "broadcast"
	classReserved    = "reserved"
	classDoc         = "documentation"
	classMetadata    = "cloud metadata"
	classTunnel      = "tunnelled (Teredo)"
	classZoned       = "scoped (with a zone)"
	classInvalid     = "invalid"
)

// Cloud metadata services: where a server's credentials live.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack…
	netip.MustParseAddr("fd00:ec2::254"),   // AWS over IPv6
}

type prefixClass struct {
	p     netip.Prefix
	class string
}

// v4Classes are the IPv4 ranges that are not the public internet
// (IANA's special-purpose registry), most specific first.
var v4Classes = []prefixClass{
	{netip.MustParsePrefix("255.255.255.255/32"), classBroadcast},
	{netip.MustParsePrefix("0.0.0.0/8"), classUnspecified}, // "this network"
	{netip.MustParsePrefix("10.0.0.0/8"), classPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), classShared},
	{netip.MustParsePrefix("127.0.0.0/8"), classLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), classLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), classPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), classReserved}, // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), classDoc},
	{netip.MustParsePrefix("192.88.99.0/24"), classReserved}, // 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), classPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), classReserved}, // benchmarking
	{netip.MustParsePrefix("198.51.100.0/24"), classDoc},
	{netip.MustParsePrefix("203.0.113.0/24"), classDoc},
	{netip.MustParsePrefix("224.0.0.0/4"), classMulticast},
	{netip.MustParsePrefix("240.0.0.0/4"), classReserved},
}

// v6Classes are the IPv6 ranges that are not the public internet and do
// not embed an IPv4 address (addrClass handles those).
var v6Classes = []prefixClass{
	{netip.MustParsePrefix("::/128"), classUnspecified},
	{netip.MustParsePrefix("::1/128"), classLoopback},
	{netip.MustParsePrefix("100::/64"), classReserved}, // discard-only
	{netip.MustParsePrefix("2001::/32"), classTunnel},
	{netip.MustParsePrefix("2001:db8::/32"), classDoc},
	{netip.MustParsePrefix("3fff::/20"), classDoc},
	{netip.MustParsePrefix("64:ff9b:1::/48"), classReserved}, // local-use NAT64
	{netip.MustParsePrefix("fc00::/7"), classUniqueLocal},
	{netip.MustParsePrefix("fe80::/10"), classLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), classSiteLocal},
	{netip.MustParsePrefix("ff00::/8"), classMulticast},
	{netip.MustParsePrefix("::/96"), classReserved}, // IPv4-compatible (deprecated)
}

// Ranges whose IPv6 addresses carry an IPv4 address that a translator or
// tunnel would reach: they are as public as that address.
var (
	nat64      = netip.MustParsePrefix("64:ff9b::/96")    // RFC 6052, last 32 bits
	translated = netip.MustParsePrefix("::ffff:0:0:0/96") // SIIT (RFC 2765), last 32 bits
	sixToFour  = netip.MustParsePrefix("2002::/16")       // RFC 3056, bits 16–48
)

// addrClass says why a may not be dialled by a module: classPublic ("")
// for an address on the public internet, else the class of the range it
// lies in. IPv4-mapped, IPv4-translated, NAT64 and 6to4 addresses are
// judged by the IPv4 address they carry.
func addrClass(a netip.Addr) string {
	if !a.IsValid() {
		return classInvalid
	}
	if a.Zone() != "" {
		return classZoned
	}
	a = a.Unmap()
	for _, m := range metadataAddrs {
		if a == m {
			return classMetadata
		}
	}
	if a.Is4() {
		for _, c := range v4Classes {
			if c.p.Contains(a) {
				return c.class
			}
		}
		return classPublic
	}
	b := a.As16()
	switch {
	case nat64.Contains(a), translated.Contains(a):
		return addrClass(netip.AddrFrom4([4]byte(b[12:16])))
	case sixToFour.Contains(a):
		return addrClass(netip.AddrFrom4([4]byte(b[2:6])))
	}
	for _, c := range v6Classes {
		if c.p.Contains(a) {
			return c.class
		}
	}
	// Only the global unicast block 2000::/3 is routed on the internet.
	if binary.BigEndian.Uint16(b[:2])&0xe000 != 0x2000 {
		return classReserved
	}
	return classPublic
}

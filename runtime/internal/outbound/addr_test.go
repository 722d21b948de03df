package outbound

import (
	"net/netip"
	"testing"
)

func TestAddrClass(t *testing.T) {
	for _, tc := range []struct {
		addr, class string
	}{
		// IPv4, public.
		{"8.8.8.8", classPublic},
		{"1.1.1.1", classPublic},
		{"93.184.216.34", classPublic},
		{"100.63.255.255", classPublic},  // just below CGNAT
		{"100.128.0.0", classPublic},     // just above CGNAT
		{"172.15.255.255", classPublic},  // just below 172.16/12
		{"172.32.0.0", classPublic},      // just above
		{"169.253.255.255", classPublic}, // just below link-local
		{"223.255.255.255", classPublic}, // just below multicast
		{"11.0.0.0", classPublic},
		// IPv4, not public.
		{"0.0.0.0", classUnspecified},
		{"0.1.2.3", classUnspecified},
		{"127.0.0.1", classLoopback},
		{"127.255.255.254", classLoopback},
		{"10.0.0.1", classPrivate},
		{"10.255.255.255", classPrivate},
		{"172.16.0.1", classPrivate},
		{"172.31.255.255", classPrivate},
		{"192.168.1.1", classPrivate},
		{"100.64.0.1", classShared},
		{"100.127.255.255", classShared},
		{"100.100.100.200", classShared}, // Alibaba's metadata service
		{"169.254.0.1", classLinkLocal},
		{"169.254.169.254", classMetadata},
		{"192.0.0.170", classReserved},
		{"192.0.2.1", classDoc},
		{"198.51.100.1", classDoc},
		{"203.0.113.1", classDoc},
		{"198.18.0.1", classReserved},
		{"192.88.99.1", classReserved},
		{"224.0.0.1", classMulticast},
		{"239.255.255.250", classMulticast},
		{"240.0.0.1", classReserved},
		{"255.255.255.255", classBroadcast},
		// IPv6, public.
		{"2606:4700:4700::1111", classPublic},
		{"2a00:1450:4001:80b::200e", classPublic},
		// IPv6, not public.
		{"::", classUnspecified},
		{"::1", classLoopback},
		{"fe80::1", classLinkLocal},
		{"febf:ffff::1", classLinkLocal},
		{"fec0::1", classSiteLocal},
		{"fc00::1", classUniqueLocal},
		{"fd12:3456::1", classUniqueLocal},
		{"fd00:ec2::254", classMetadata},
		{"ff02::1", classMulticast},
		{"ff05::2", classMulticast},
		{"2001:db8::1", classDoc},
		{"2001::1", classTunnel},
		{"100::1", classReserved},
		{"64:ff9b:1::1", classReserved},
		{"::2", classReserved},      // IPv4-compatible
		{"::7f00:1", classReserved}, // IPv4-compatible 127.0.0.1
		{"4000::1", classReserved},  // outside 2000::/3
		{"1::1", classReserved},
		// IPv6 forms carrying an IPv4 address: judged by it.
		{"::ffff:127.0.0.1", classLoopback},
		{"::ffff:10.0.0.1", classPrivate},
		{"::ffff:169.254.169.254", classMetadata},
		{"::ffff:8.8.8.8", classPublic},
		{"::ffff:0:127.0.0.1", classLoopback}, // SIIT translated
		{"::ffff:0:8.8.8.8", classPublic},
		{"64:ff9b::127.0.0.1", classLoopback}, // NAT64
		{"64:ff9b::10.1.2.3", classPrivate},
		{"64:ff9b::a9fe:a9fe", classMetadata},
		{"64:ff9b::8.8.8.8", classPublic},
		{"2002:7f00:1::1", classLoopback}, // 6to4 of 127.0.0.1
		{"2002:c0a8:101::1", classPrivate},
		{"2002:a9fe:a9fe::1", classMetadata},
		{"2002:808:808::1", classPublic},
		// Zones.
		{"fe80::1%eth0", classZoned},
		{"2606:4700:4700::1111%eth0", classZoned},
	} {
		t.Run(tc.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tc.addr)
			if got := addrClass(a); got != tc.class {
				t.Errorf("addrClass(%s) = %q, want %q", tc.addr, got, tc.class)
			}
		})
	}
	if got := addrClass(netip.Addr{}); got != classInvalid {
		t.Errorf("zero Addr: %q", got)
	}
}

// FuzzAddrClass: every address gets an answer, and an IPv4 address and
// its mapped form get the same one.
func FuzzAddrClass(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add([]byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		c := addrClass(a)
		if a.Is4() {
			if m := addrClass(netip.AddrFrom16(a.As16())); m != c {
				t.Fatalf("%s is %q, its mapped form %q", a, c, m)
			}
		}
	})
}

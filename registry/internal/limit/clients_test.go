package limit

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientsAddr(t *testing.T) {
	proxies := NewClients([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	tests := []struct {
		name    string
		clients Clients
		remote  string
		xff     []string
		want    string
	}{
		{"no proxy trusted: the peer", Clients{}, "192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1"},
		{"untrusted peer's header ignored", proxies, "192.0.2.1:5000", []string{"198.51.100.7"}, "192.0.2.1"},
		{"trusted proxy: its client", proxies, "10.1.2.3:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		{"rightmost untrusted wins", proxies, "10.1.2.3:5000", []string{"203.0.113.9, 198.51.100.7"}, "198.51.100.7"},
		{"trusted hops skipped", proxies, "10.1.2.3:5000", []string{"198.51.100.7, 10.9.9.9", "10.4.4.4"}, "198.51.100.7"},
		{"only proxies: the leftmost", proxies, "10.1.2.3:5000", []string{"10.2.2.2, 10.3.3.3"}, "10.2.2.2"},
		{"no header: the proxy", proxies, "10.1.2.3:5000", nil, "10.1.2.3"},
		{"garbage stops at the last vouched", proxies, "10.1.2.3:5000", []string{"198.51.100.7, not-an-ip"}, "10.1.2.3"},
		{"garbage left of a real client", proxies, "10.1.2.3:5000", []string{"not-an-ip, 198.51.100.7"}, "198.51.100.7"},
		{"IPv6 peer", proxies, "[2001:db8::1]:443", nil, "2001:db8::1"},
		{"IPv6 proxy", proxies, "[::1]:443", []string{"2001:db8::7"}, "2001:db8::7"},
		{"v4-mapped", Clients{}, "[::ffff:192.0.2.1]:5000", nil, "192.0.2.1"},
		{"not an address", Clients{}, "pipe", nil, "invalid IP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := tt.clients.Addr(r).String(); got != tt.want {
				t.Fatalf("Addr = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestKeyOf(t *testing.T) {
	tests := []struct{ addr, want string }{
		{"192.0.2.1", "192.0.2.1"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
	}
	for _, tt := range tests {
		if got := KeyOf(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("KeyOf(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
	if got := KeyOf(netip.Addr{}); got != "-" {
		t.Errorf("KeyOf(zero) = %q", got)
	}
}

// FuzzClientsAddr: whatever a client writes in X-Forwarded-For, the
// address comes from the peer or from the header behind a trusted proxy,
// and never from the header when the peer is not trusted.
func FuzzClientsAddr(f *testing.F) {
	f.Add("10.0.0.1:80", "198.51.100.7, 10.0.0.2")
	f.Add("192.0.2.1:80", "198.51.100.7")
	f.Add("[::1]:80", ",,, ::ffff:1.2.3.4 ,")
	c := NewClients([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")})
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{"X-Forwarded-For": {xff}}}
		got := c.Addr(r)
		peer := PeerAddr(remote)
		if !c.trusted(peer) && got != peer {
			t.Fatalf("untrusted peer %v: got %v from the header", peer, got)
		}
		_ = KeyOf(got)
	})
}

package clientaddr

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func mustPrefixes(t testing.TB, s string) []netip.Prefix {
	t.Helper()
	ps, err := ParsePrefixes(s)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestParsePrefixes(t *testing.T) {
	ps, err := ParsePrefixes(" 10.1.2.3/8, 127.0.0.1 ::1\tfd00::/8,::ffff:192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "127.0.0.1/32", "::1/128", "fd00::/8", "192.0.2.1/32"}
	if len(ps) != len(want) {
		t.Fatalf("got %v, want %v", ps, want)
	}
	for i, p := range ps {
		if p.String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, p, want[i])
		}
	}
	if ps, err := ParsePrefixes(""); err != nil || len(ps) != 0 {
		t.Errorf("empty list: %v, %v", ps, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example", "10.0.0.1:80", "fe80::1%eth0", "1.2.3.4/"} {
		if _, err := ParsePrefixes("127.0.0.1," + bad); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("ParsePrefixes(%q) = %v, want an error naming it", bad, err)
		}
	}
}

func TestResolve(t *testing.T) {
	res := New(mustPrefixes(t, "10.0.0.0/8, 127.0.0.1, 2001:db8:1::/48"))
	tests := []struct {
		name   string
		remote string
		xff    []string
		proto  []string
		tls    bool
		client string
		https  bool
	}{
		{"direct, no headers", "203.0.113.7:5000", nil, nil, false, "203.0.113.7", false},
		{"untrusted peer's headers are ignored", "203.0.113.7:5000", []string{"198.51.100.1"}, []string{"https"}, false, "203.0.113.7", false},
		{"direct TLS", "203.0.113.7:5000", nil, nil, true, "203.0.113.7", true},
		{"one trusted proxy", "127.0.0.1:4000", []string{"198.51.100.1"}, []string{"https"}, false, "198.51.100.1", true},
		{"client spoofs a left entry", "127.0.0.1:4000", []string{"6.6.6.6, 198.51.100.1"}, nil, false, "198.51.100.1", false},
		{"chain of trusted proxies", "127.0.0.1:4000", []string{"198.51.100.1, 10.0.0.5", "10.2.3.4"}, nil, false, "198.51.100.1", false},
		{"all trusted: leftmost", "127.0.0.1:4000", []string{"10.0.0.9, 10.0.0.5"}, nil, false, "10.0.0.9", false},
		{"garbage stops at the last trusted hop", "127.0.0.1:4000", []string{"198.51.100.1, bogus, 10.0.0.5"}, nil, false, "10.0.0.5", false},
		{"entries with ports", "127.0.0.1:4000", []string{"[2001:db8:9::1]:443, 198.51.100.1:1234"}, nil, false, "198.51.100.1", false},
		{"IPv6 proxy and client", "[2001:db8:1::5]:80", []string{"2001:db8:9::1"}, nil, false, "2001:db8:9::1", false},
		{"mapped peer", "[::ffff:127.0.0.1]:4000", []string{"198.51.100.1"}, nil, false, "198.51.100.1", false},
		{"empty header", "127.0.0.1:4000", []string{""}, nil, false, "127.0.0.1", false},
		{"last proto counts", "127.0.0.1:4000", nil, []string{"http, https"}, false, "127.0.0.1", true},
		{"proxy says http over our TLS", "127.0.0.1:4000", nil, []string{"http"}, true, "127.0.0.1", false},
		{"unknown proto ignored", "127.0.0.1:4000", nil, []string{"gopher"}, false, "127.0.0.1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			for _, v := range tt.proto {
				r.Header.Add("X-Forwarded-Proto", v)
			}
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			info := res.Resolve(r)
			if info.Client.String() != tt.client || info.HTTPS != tt.https || info.Peer != tt.remote {
				t.Errorf("Resolve = %+v, want client %s, https %v", info, tt.client, tt.https)
			}
		})
	}
}

// TestMiddleware runs the middleware in a real server: the handler sees the
// derived client in RemoteAddr and no forwarding headers.
func TestMiddleware(t *testing.T) {
	var seen *http.Request
	h := New(mustPrefixes(t, "127.0.0.0/8")).Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		info, _ := FromContext(r.Context())
		io.WriteString(w, info.Peer)
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	do := func(xff, proto string) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL, nil)
		if xff != "" {
			req.Header.Set("X-Forwarded-For", xff)
		}
		if proto != "" {
			req.Header.Set("X-Forwarded-Proto", proto)
		}
		req.Header.Set("X-Real-Ip", "6.6.6.6")
		req.Header.Set("Forwarded", "for=6.6.6.6")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	do("198.51.100.1", "https")
	if seen.RemoteAddr != "198.51.100.1:0" || !HTTPS(seen) {
		t.Errorf("RemoteAddr %q, HTTPS %v; want 198.51.100.1:0 over HTTPS", seen.RemoteAddr, HTTPS(seen))
	}
	for _, h := range forwardingHeaders {
		if v := seen.Header.Get(h); v != "" {
			t.Errorf("handler still sees %s: %q", h, v)
		}
	}
	do("", "")
	if !strings.HasPrefix(seen.RemoteAddr, "127.0.0.1:") || seen.RemoteAddr == "127.0.0.1:0" || HTTPS(seen) {
		t.Errorf("direct request: RemoteAddr %q, HTTPS %v", seen.RemoteAddr, HTTPS(seen))
	}

	// Over real TLS, without a proxy, HTTPS is true.
	tsrv := httptest.NewTLSServer(h)
	defer tsrv.Close()
	resp, err := tsrv.Client().Get(tsrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !HTTPS(seen) {
		t.Error("TLS request not seen as HTTPS")
	}
}

// FuzzResolve checks that no header makes Resolve panic, that an untrusted
// peer is always the client, and that a derived client is the peer or one of
// the header's entries.
func FuzzResolve(f *testing.F) {
	f.Add("127.0.0.1:1", "198.51.100.1, 10.0.0.1", "https")
	f.Add("203.0.113.1:1", "1.2.3.4", "http")
	f.Add("[::1]:1", "[::1]:5, , ,bogus", ",,")
	f.Add("127.0.0.1", "::ffff:1.2.3.4%eth0", "HTTPS ")
	res := New(mustPrefixes(f, "127.0.0.0/8, ::1, 10.0.0.0/8"))
	f.Fuzz(func(t *testing.T, remote, xff, proto string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		r.Header.Set("X-Forwarded-Proto", proto)
		info := res.Resolve(r)
		peer, ok := ParseHost(remote)
		if !ok {
			if info.Client.IsValid() || info.HTTPS {
				t.Fatalf("unparseable peer %q gave %+v", remote, info)
			}
			return
		}
		if !res.Trusts(peer) {
			if info.Client != peer || info.HTTPS || info.Forwarded {
				t.Fatalf("untrusted peer %q: %+v", remote, info)
			}
			return
		}
		if !info.Forwarded {
			if info.Client != peer {
				t.Fatalf("not forwarded but client %v != peer %v", info.Client, peer)
			}
			return
		}
		for _, e := range forwardedFor(r.Header) {
			if a, ok := ParseHost(e); ok && a == info.Client {
				return
			}
		}
		t.Fatalf("client %v is neither the peer nor an entry of %q", info.Client, xff)
	})
}

package outbound

import (
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		name, raw     string
		url, origin   string
		errorContains string
	}{
		{"plain", "http://a.example/x?y=1", "http://a.example/x?y=1", "http://a.example:80", ""},
		{"https default port", "https://a.example", "https://a.example", "https://a.example:443", ""},
		{"explicit default port", "https://a.example:443/p", "https://a.example/p", "https://a.example:443", ""},
		{"other port", "http://a.example:8080/", "http://a.example:8080/", "http://a.example:8080", ""},
		{"upper case", "HTTPS://API.Example.COM:443/Path", "https://api.example.com/Path", "https://api.example.com:443", ""},
		{"trailing dot", "http://a.example./", "http://a.example/", "http://a.example:80", ""},
		{"idna", "https://bücher.example/", "https://xn--bcher-kva.example/", "https://xn--bcher-kva.example:443", ""},
		{"fragment dropped", "http://a.example/p#frag", "http://a.example/p", "http://a.example:80", ""},
		{"port leading zero", "http://a.example:080/", "http://a.example/", "http://a.example:80", ""},
		{"ipv4", "http://8.8.8.8:8080/", "http://8.8.8.8:8080/", "http://8.8.8.8:8080", ""},
		{"ipv6", "http://[2606:4700:0:0::1111]:80/", "http://[2606:4700::1111]/", "http://[2606:4700::1111]:80", ""},
		{"ipv6 mapped", "http://[::ffff:127.0.0.1]/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:127.0.0.1]:80", ""},
		{"escaped path", "http://a.example/a%2Fb", "http://a.example/a%2Fb", "http://a.example:80", ""},

		{"file", "file:///etc/passwd", "", "", "http:// or https://"},
		{"ftp", "ftp://a.example/", "", "", "http:// or https://"},
		{"javascript", "javascript:alert(1)", "", "", "http:// or https://"},
		{"relative", "/x", "", "", "http:// or https://"},
		{"schemeless", "//a.example/", "", "", "http:// or https://"},
		{"opaque", "http:a.example", "", "", "no host"},
		{"no host", "http:///x", "", "", "no host"},
		{"userinfo", "http://u:p@a.example/", "", "", "user information"},
		{"user only", "http://u@a.example/", "", "", "user information"},
		{"zone", "http://[fe80::1%25eth0]/", "", "", "zone"},
		{"bad ipv6", "http://[::1/", "", "", "URL"},
		{"ipv4 in brackets", "http://[127.0.0.1]/", "", "", "invalid IP-literal"},
		{"decimal ip", "http://2130706433/", "", "", "four decimal numbers"},
		{"octal ip", "http://0177.0.0.1/", "", "", "four decimal numbers"},
		{"hex ip", "http://0x7f.1/", "", "", "four decimal numbers"},
		{"hex ip upper", "http://0X7F000001/", "", "", "four decimal numbers"},
		{"short ip", "http://127.1/", "", "", "four decimal numbers"},
		{"numeric tld", "http://a.example.123/", "", "", "four decimal numbers"},
		{"leading zero octet", "http://127.000.0.1/", "", "", "four decimal numbers"},
		{"port 0", "http://a.example:0/", "", "", "port"},
		{"port too big", "http://a.example:65536/", "", "", "port"},
		{"port empty", "http://a.example:/", "", "", "empty port"},
		{"escaped host", "http://a%2eexample/", "", "", "invalid URL escape"},
		{"nul", "http://a.example\x00/", "", "", "URL"},
		{"space in host", "http://a example/", "", "", "URL"},
		{"underscore", "http://a_b.example/", "", "", "host"},
		{"long", "http://a.example/" + strings.Repeat("a", maxURL), "", "", "exceeds"},
		{"empty", "", "", "", "http:// or https://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, o, err := parseURL(tc.raw)
			if tc.errorContains != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errorContains) {
					t.Fatalf("parseURL(%q) = %v, %v, %v; want an error containing %q", tc.raw, u, o, err, tc.errorContains)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseURL(%q): %v", tc.raw, err)
			}
			if u.String() != tc.url || o.String() != tc.origin {
				t.Errorf("parseURL(%q) = %s, %s; want %s, %s", tc.raw, u, o, tc.url, tc.origin)
			}
		})
	}
}

func TestParseOrigin(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.example.com:443", "https://api.example.com:443"},
		{"https://API.example.com", "https://api.example.com:443"},
		{"http://localhost:8080", "http://localhost:8080"},
		{"https://[2001:db8::1]:8443", "https://[2001:db8::1]:8443"},
		{"https://x.example:443/", ""},
		{"https://x.example:443/path", ""},
		{"https://x.example:443?q", ""},
		{"https://x.example:443#f", ""},
		{"https://me@x.example:443", ""},
		{"ftp://x.example:21", ""},
		{"x.example:443", ""},
	} {
		o, err := parseOrigin(tc.in)
		if tc.want == "" {
			if err == nil {
				t.Errorf("parseOrigin(%q) = %s, want an error", tc.in, o)
			}
			continue
		}
		if err != nil || o.String() != tc.want {
			t.Errorf("parseOrigin(%q) = %s, %v; want %s", tc.in, o, err, tc.want)
		}
	}
}

// FuzzParseURL: parseURL never panics, and what it accepts is stable: the
// URL it returns parses again to itself and the same origin, an http(s)
// URL without user information.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"http://a.example/", "https://[::1]:8443/x?y", "http://2130706433/", "http://u@h/", "http://[fe80::1%25x]/",
		"HTTPS://Bücher.Example.:0443/a%2Fb#f", "http://0x7f.1", "file:///etc/passwd", "http://a.example:/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, o, err := parseURL(raw)
		if err != nil {
			return
		}
		if u.User != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
			t.Fatalf("parseURL(%q) accepted %s", raw, u)
		}
		if o.port < 1 || o.port > 65535 {
			t.Fatalf("parseURL(%q): port %d", raw, o.port)
		}
		u2, o2, err := parseURL(u.String())
		if err != nil {
			t.Fatalf("parseURL(%q) = %s, which does not parse again: %v", raw, u, err)
		}
		if u2.String() != u.String() || o2 != o {
			t.Fatalf("parseURL(%q) = %s %s, then %s %s", raw, u, o, u2, o2)
		}
		if _, err := parseOrigin(o.String()); err != nil {
			t.Fatalf("origin %s of %q does not parse: %v", o, raw, err)
		}
	})
}

package outbound

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// maxURL caps the length of a URL a module may fetch.
const maxURL = 8 << 10

// origin is a normalised origin: scheme http or https, the host in lower
// case ASCII (IDNA for international names, an IP address in its
// canonical form, IPv6 in brackets) and an explicit port.
type origin struct {
	scheme string
	host   string // as in a URL: IPv6 in brackets
	port   int
}

// String is scheme://host:port, the form of capabilities.outbound_http.
func (o origin) String() string { return o.scheme + "://" + o.host + ":" + strconv.Itoa(o.port) }

// hostPort is the host and port as a URL carries them: without the port
// when it is the scheme's default.
func (o origin) hostPort() string {
	if o.port == defaultPort(o.scheme) {
		return o.host
	}
	return o.host + ":" + strconv.Itoa(o.port)
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// parseOrigin reads an origin as capabilities.outbound_http and the
// owner's private approvals write it: scheme://host:port, nothing else
// (the port may be left out for the scheme's default).
func parseOrigin(s string) (origin, error) {
	u, o, err := parseURL(s)
	if err != nil {
		return origin{}, err
	}
	_, rest, _ := strings.Cut(s, "://")
	if u.Path != "" || u.RawQuery != "" || strings.ContainsAny(rest, "/?#") {
		return origin{}, fmt.Errorf("origin %q: want scheme://host:port, without a path", s)
	}
	return o, nil
}

// parseURL checks a URL a module asks for and returns the URL to fetch,
// rebuilt from its normalised origin (so what is dialled is exactly what
// was checked), its path and its query, and the origin. It refuses other
// schemes than http and https, user information, IPv6 zones, and hosts
// that are IPv4 addresses in any form but the dotted-decimal one (some
// resolvers read 2130706433, 0x7f.1 or 0177.0.0.1 as 127.0.0.1).
func parseURL(raw string) (*url.URL, origin, error) {
	if len(raw) > maxURL {
		return nil, origin{}, fmt.Errorf("URL of %d bytes exceeds %d", len(raw), maxURL)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, origin{}, fmt.Errorf("URL %q: %w", clip(raw), errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, origin{}, fmt.Errorf("URL %q: want an absolute http:// or https:// URL", clip(raw))
	}
	if u.Opaque != "" || u.Host == "" {
		return nil, origin{}, fmt.Errorf("URL %q: no host", clip(raw))
	}
	if u.User != nil || strings.Contains(u.Host, "@") {
		return nil, origin{}, fmt.Errorf("URL %q: user information is not allowed (send credentials in a header)", clip(raw))
	}
	host, err := normaliseHost(u.Host, u.Hostname())
	if err != nil {
		return nil, origin{}, fmt.Errorf("URL %q: %w", clip(raw), err)
	}
	o := origin{scheme: u.Scheme, host: host, port: defaultPort(u.Scheme)}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, origin{}, fmt.Errorf("URL %q: port must be 1-65535", clip(raw))
		}
		o.port = n
	} else if strings.HasSuffix(u.Host, ":") {
		return nil, origin{}, fmt.Errorf("URL %q: empty port", clip(raw))
	}
	out := &url.URL{Scheme: o.scheme, Host: o.hostPort(), Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}
	return out, o, nil
}

// normaliseHost returns the canonical form of a URL's host (hostport is
// the URL's Host, name its Hostname).
func normaliseHost(hostport, name string) (string, error) {
	if strings.HasPrefix(hostport, "[") {
		if strings.Contains(name, "%") {
			return "", errors.New("IPv6 zones are not allowed")
		}
		a, err := netip.ParseAddr(name)
		if err != nil || !a.Is6() {
			return "", fmt.Errorf("bad IPv6 address %q", clip(name))
		}
		return "[" + a.String() + "]", nil
	}
	if name == "" {
		return "", errors.New("no host")
	}
	if strings.Contains(name, "%") {
		return "", errors.New("escapes and zones are not allowed in the host")
	}
	if a, err := netip.ParseAddr(name); err == nil {
		if !a.Is4() {
			return "", errors.New("an IPv6 address needs brackets")
		}
		return a.String(), nil
	}
	if !utf8.ValidString(name) {
		return "", errors.New("host is not valid UTF-8")
	}
	ascii, err := idna.Lookup.ToASCII(name)
	if err != nil {
		return "", fmt.Errorf("host %q: %w", clip(name), err)
	}
	ascii = strings.TrimSuffix(strings.ToLower(ascii), ".")
	// The form must be final: the name it is sent as reads back as itself.
	if again, err := idna.Lookup.ToASCII(ascii); err != nil || again != ascii {
		return "", fmt.Errorf("host %q is not a valid name", clip(name))
	}
	if ascii == "" || len(ascii) > 253 || strings.HasSuffix(ascii, ".") {
		return "", fmt.Errorf("host %q is not a valid name", clip(name))
	}
	// A name whose last label is a number is an IPv4 address to URL
	// parsers and to some resolvers (WHATWG URL, inet_aton); only the
	// dotted-decimal form, handled above, is accepted.
	labels := strings.Split(ascii, ".")
	if numeric(labels[len(labels)-1]) {
		return "", fmt.Errorf("host %q: write an IPv4 address as four decimal numbers (a.b.c.d, no leading zeros)", clip(name))
	}
	return ascii, nil
}

// numeric reports whether a label reads as a number: decimal digits, or
// 0x followed by hexadecimal digits (or nothing).
func numeric(label string) bool {
	if l := strings.ToLower(label); strings.HasPrefix(l, "0x") {
		return strings.Trim(l[2:], "0123456789abcdef") == ""
	}
	return label != "" && strings.Trim(label, "0123456789") == ""
}

// clip shortens what a module sent for an error message.
func clip(s string) string {
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return strings.ToValidUTF8(s, "?")
}

// CheckOrigins checks a list of origins as Config.PrivateOrigins takes
// them, naming the first that does not parse.
func CheckOrigins(origins []string) error {
	for _, o := range origins {
		if _, err := parseOrigin(strings.TrimSpace(o)); err != nil {
			return err
		}
	}
	return nil
}

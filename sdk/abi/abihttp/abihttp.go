// Package abihttp holds the rules for carrying HTTP across the ABI that the
// runtime and sdk/sdktest must apply alike: which request headers reach a
// module and which response headers leave it.
package abihttp

import (
	"net/http"
	"strings"

	"github.com/websonic/websonic/sdk/abi"
)

// Response headers a module sets to ask for the site's layout: the body is
// then an HTML fragment that the runtime renders inside the site's page
// (navigation, sign-in state, theme), titled by TitleHeader. The runtime
// removes both headers.
const (
	LayoutHeader = "Websonic-Layout" // value "site"
	TitleHeader  = "Websonic-Title"
	LayoutSite   = "site"
)

// RenderHeader is the response header by which a module asks the host to
// render its page (sdk.Render): its value names a template of the module's
// package (assets/templates/NAME), the body is the page's data as one JSON
// object, and the host executes the template with that data (html/template;
// ABI.md, "Host-rendered pages") and sends the result as text/html. The
// runtime removes the header.
const RenderHeader = "Websonic-Render"

// Render reports whether resp asks the host to render a template, and
// which.
func Render(resp *abi.HTTPResponse) (name string, ok bool) {
	for _, kv := range resp.Headers {
		if http.CanonicalHeaderKey(kv.Name) == RenderHeader {
			return kv.Value, true
		}
	}
	return "", false
}

// AssetsHeader carries, on every request the host sends a module, the URL
// path under which the host serves that module version's signed assets
// ("/static/modules/<name>/<version>~<digest>/", ABI.md section 15); the
// SDK's Asset builds on it. Only the host sets it: RequestHeaders drops a
// client's.
const AssetsHeader = "Websonic-Assets"

// Layout reports whether resp asks for the site layout, and its title.
func Layout(resp *abi.HTTPResponse) (title string, ok bool) {
	for _, kv := range resp.Headers {
		switch http.CanonicalHeaderKey(kv.Name) {
		case LayoutHeader:
			ok = kv.Value == LayoutSite
		case TitleHeader:
			title = kv.Value
		}
	}
	return title, ok
}

// hopHeaders are connection-level headers that never cross the ABI; the
// host sets Content-Length itself.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Content-Length": true,
}

// RequestHeaders is what a module receives of h: hop-by-hop headers and
// AssetsHeader (the host's own) are dropped and the site's private cookies (the session cookie, and any
// other named in private) are removed from Cookie headers, in every
// spelling the site may use (see IsSessionCookie), so a module never sees
// the site's session token.
func RequestHeaders(h http.Header, private ...string) []abi.Header {
	out := make([]abi.Header, 0, len(h))
	for name, vs := range h {
		name = http.CanonicalHeaderKey(name)
		if hopHeaders[name] || name == AssetsHeader {
			continue
		}
		for _, v := range vs {
			if name == "Cookie" {
				if v = stripCookie(v, private); v == "" {
					continue
				}
			}
			out = append(out, abi.Header{Name: name, Value: v})
		}
	}
	return out
}

// IsSessionCookie reports whether a cookie called name is the session
// cookie sessionCookie in any spelling a browser would keep apart from
// other cookies or treat as it: as is, or with the __Host- or __Secure-
// prefix (which the site uses over HTTPS; browsers match prefixes without
// regard to case), surrounding white space ignored.
func IsSessionCookie(name, sessionCookie string) bool {
	name = strings.TrimSpace(name)
	if name == sessionCookie {
		return true
	}
	for _, p := range []string{"__Host-", "__Secure-"} {
		if len(name) == len(p)+len(sessionCookie) && strings.EqualFold(name[:len(p)], p) && name[len(p):] == sessionCookie {
			return true
		}
	}
	return false
}

// stripCookie removes the private cookies from a Cookie header value.
func stripCookie(header string, private []string) string {
	parts := strings.Split(header, ";")
	kept := parts[:0]
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if n, _, _ := strings.Cut(p, "="); !isPrivate(n, private) {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, "; ")
}

// isPrivate reports whether a cookie called name is one of private, in any
// spelling (IsSessionCookie).
func isPrivate(name string, private []string) bool {
	for _, p := range private {
		if IsSessionCookie(name, p) {
			return true
		}
	}
	return false
}

// ResponseHeader adds a module's response headers to dst as the site sends
// them: hop-by-hop headers (Content-Length included: the host sets it),
// the layout headers and the cache headers (cache.go) are dropped, and so
// is any Set-Cookie for one of the private cookies in any spelling (no
// session fixation).
func ResponseHeader(dst http.Header, resp *abi.HTTPResponse, private ...string) {
	for _, kv := range resp.Headers {
		name := http.CanonicalHeaderKey(kv.Name)
		switch {
		case hopHeaders[name], name == LayoutHeader, name == TitleHeader, name == RenderHeader,
			name == CacheScopeHeader, name == CacheStatusHeader:
		case name == "Set-Cookie" && !safeSetCookie(kv.Value, private):
		default:
			dst.Add(name, kv.Value)
		}
	}
}

// safeSetCookie reports whether a module's Set-Cookie may pass: it must
// parse, and not name a private cookie in any spelling (browsers trim the
// name, so "websonic_session =x" would set it).
func safeSetCookie(v string, private []string) bool {
	c, err := http.ParseSetCookie(v)
	if err != nil {
		return false
	}
	n, _, _ := strings.Cut(v, "=")
	return !isPrivate(c.Name, private) && !isPrivate(n, private)
}

package respcache

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/abi/abihttp"
)

// Request is what the cache knows of a request to a module.
type Request struct {
	// Module names the module; Gen is its running version's generation
	// (Cache.Generation).
	Module string
	Gen    uint64
	Method string
	// Host and URI are the request's host and target (path and query).
	Host, URI string
	// Headers are the request headers as the module receives them (the
	// Vary'd ones are part of the key).
	Headers []abi.Header
	// User is the signed-in user, nil when anonymous.
	User *abi.User
}

// Eligible reports whether the cache may answer r at all: a GET or HEAD
// without an Authorization header.
func Eligible(r *Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	for _, h := range r.Headers {
		if http.CanonicalHeaderKey(h.Name) == "Authorization" {
			return false
		}
	}
	return true
}

// The user part of a key for the variants that several users share;
// a user's own variant starts with "u".
const (
	scopeShared = "*"
	scopeAnon   = "-"
)

// Decision is what the cache makes of a response (Decide).
type Decision struct {
	// Store says whether it may be stored; Reason says why not.
	Store  bool
	Reason string
	// Scope is "shared", "anonymous" or "user".
	Scope string
	TTL   time.Duration
	ETag  string
	Vary  []string // canonical header names, sorted, without duplicates
}

// cacheableStatus are the statuses whose responses may be stored.
var cacheableStatus = map[int]bool{
	http.StatusOK: true, http.StatusMovedPermanently: true, http.StatusPermanentRedirect: true,
	http.StatusNotFound: true, http.StatusGone: true,
}

// Decide applies the package's policy (see the package documentation) to
// the response resp of request r, under cfg's limits.
func Decide(cfg Config, r *Request, resp *abi.HTTPResponse) Decision {
	cfg = cfg.defaults()
	no := func(reason string) Decision { return Decision{Reason: reason} }
	if !Eligible(r) || r.Method != http.MethodGet {
		return no("method or authorization")
	}
	if !cacheableStatus[resp.Status] {
		return no("status " + strconv.Itoa(resp.Status))
	}
	if int64(len(resp.Body)) > cfg.MaxEntryBytes {
		return no("body too large")
	}
	var cc, vary []string
	var etag string
	shared := false
	for _, h := range resp.Headers {
		switch http.CanonicalHeaderKey(h.Name) {
		case "Cache-Control":
			cc = append(cc, h.Value)
		case "Set-Cookie":
			return no("Set-Cookie")
		case "Vary":
			for _, v := range strings.Split(h.Value, ",") {
				if v = strings.TrimSpace(v); v == "*" {
					return no("Vary: *")
				} else if v != "" {
					vary = append(vary, http.CanonicalHeaderKey(v))
				}
			}
		case "Etag":
			etag = h.Value
		case abihttp.CacheScopeHeader:
			shared = strings.EqualFold(strings.TrimSpace(h.Value), abihttp.CacheScopeShared)
		}
	}
	d := ParseCacheControl(cc)
	switch {
	case d.Invalid:
		return no("malformed Cache-Control")
	case d.NoStore:
		return no("no-store")
	case d.NoCache:
		return no("no-cache")
	}
	ttl, ok := d.Lifetime()
	if !ok || ttl <= 0 {
		return no("no lifetime")
	}
	slices.Sort(vary)
	dec := Decision{Store: true, TTL: min(ttl, cfg.MaxTTL), ETag: etag, Vary: slices.Compact(vary)}
	switch {
	case shared && !d.Private:
		dec.Scope = "shared"
	case r.User != nil:
		dec.Scope = "user"
	case d.Public && !d.Private:
		dec.Scope = "anonymous"
	default:
		return no("anonymous request, response neither public nor shared")
	}
	return dec
}

// userPart is the user part of r's key for a variant of scope.
func userPart(r *Request, scope string) string {
	switch {
	case scope == "shared":
		return scopeShared
	case r.User == nil:
		return scopeAnon
	}
	u := r.User
	var b strings.Builder
	b.WriteString("u")
	b.WriteString(strconv.FormatInt(u.ID, 10))
	for _, s := range append([]string{u.Username, u.DisplayName}, u.Roles...) {
		b.WriteByte(0)
		b.WriteString(s)
	}
	return b.String()
}

// primaryKey is the key part every variant of a resource shares.
func primaryKey(r *Request) string {
	return r.Module + "\x00" + strconv.FormatUint(r.Gen, 16) + "\x00" + r.Host + "\x00" + r.URI
}

// fullKey is r's key in the variant of scope with the Vary'd headers vary.
func fullKey(primary string, r *Request, scope string, vary []string) string {
	var b strings.Builder
	b.WriteString(primary)
	b.WriteByte(0)
	user := userPart(r, scope)
	b.WriteString(user)
	if user == scopeAnon && !slices.Contains(vary, "Cookie") {
		// Anonymous visitors are told apart by their cookies alone (the
		// module's own): a module that reads one and forgets to name it
		// in Vary must not serve one visitor's page to another, so the
		// anonymous variant always varies on Cookie.
		vary = append(slices.Clone(vary), "Cookie")
	}
	for _, name := range vary {
		b.WriteByte(0)
		b.WriteString(name)
		b.WriteByte(':')
		first := true
		for _, h := range r.Headers {
			if http.CanonicalHeaderKey(h.Name) == name {
				if !first {
					b.WriteByte('\n')
				}
				b.WriteString(h.Value)
				first = false
			}
		}
	}
	return b.String()
}

// ETagMatch reports whether the If-None-Match field values ifNoneMatch
// match etag, by the weak comparison (RFC 9110 section 13.1.2).
func ETagMatch(ifNoneMatch []string, etag string) bool {
	if etag == "" {
		return false
	}
	want := strings.TrimPrefix(etag, "W/")
	for _, v := range ifNoneMatch {
		for _, t := range strings.Split(v, ",") {
			t = strings.TrimSpace(t)
			if t == "*" || (t != "" && strings.TrimPrefix(t, "W/") == want) {
				return true
			}
		}
	}
	return false
}

package sdk

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/abi/abihttp"
)

// CacheScope says who may be served a copy of a cached response (ABI.md,
// "Host response cache").
type CacheScope int

const (
	// CachePublic (the default): anonymous visitors share one copy, and
	// each signed-in user gets a copy of their own. The response is sent
	// "public" to anonymous visitors and "private" to signed-in users, so
	// that no cache downstream shares a signed-in user's page either.
	CachePublic CacheScope = iota
	// CacheShared: the response does not depend on who asks: one copy
	// for everyone the route lets in, signed in or not. Use it for pages
	// that show no user's data (the runtime's layout, which shows the
	// signed-in user, is applied per request anyway: see SitePage).
	CacheShared
	// CachePrivate: a copy per signed-in user only; nothing is stored for
	// anonymous visitors (for a page that depends on the visitor in ways
	// the runtime cannot see, such as your own cookies without Vary).
	CachePrivate
)

// CacheOptions say how the runtime may cache a response (Cache).
type CacheOptions struct {
	// MaxAge is how long the response stays fresh, in whole seconds
	// (below one second: not cached). The runtime caps it at 24 hours.
	MaxAge time.Duration
	// Scope says who may be served a copy (CachePublic).
	Scope CacheScope
	// ETag, when set, is the response's entity tag (the quotes are
	// added): once the response is stale, the runtime asks the module
	// again with If-None-Match, and a 304 (see NotModified) keeps the
	// stored copy for another MaxAge without rendering it again.
	ETag string
	// Vary names the request headers the response depends on (the
	// runtime keeps one copy per combination of their values), such as
	// "Accept-Language".
	Vary []string
}

// Cache marks the response cacheable by the runtime's response cache and
// by browsers: it sets Cache-Control, ETag, Vary and the runtime's scope
// header. Call it before writing the body. The runtime stores a 200, 301,
// 308, 404 or 410 response of a GET with an explicit lifetime, and never
// one that sets a cookie. Module updates, settings changes and Purge drop
// what it stored.
func Cache(w http.ResponseWriter, r *http.Request, o CacheOptions) {
	h := w.Header()
	secs := int64(o.MaxAge / time.Second)
	if secs <= 0 {
		h.Set("Cache-Control", "no-cache")
		return
	}
	vis := "public"
	switch o.Scope {
	case CacheShared:
		h.Set(abihttp.CacheScopeHeader, abihttp.CacheScopeShared)
	case CachePrivate:
		vis = "private"
	default:
		if UserFrom(r) != nil {
			vis = "private"
		}
	}
	h.Set("Cache-Control", vis+", max-age="+strconv.FormatInt(secs, 10))
	if o.ETag != "" {
		h.Set("ETag", quoteETag(o.ETag))
	}
	for _, v := range o.Vary {
		h.Add("Vary", v)
	}
}

// NotModified sets the response's ETag to etag (the quotes are added) and,
// when the request's If-None-Match matches it, answers 304 Not Modified
// and returns true: the handler then returns without writing a body. The
// runtime revalidates a stale cached response this way, so computing the
// etag must be cheaper than the page (a version number, an update time).
func NotModified(w http.ResponseWriter, r *http.Request, etag string) bool {
	tag := quoteETag(etag)
	w.Header().Set("ETag", tag)
	want := strings.TrimPrefix(tag, "W/")
	for _, v := range r.Header.Values("If-None-Match") {
		for _, t := range strings.Split(v, ",") {
			if t = strings.TrimSpace(t); t == "*" || strings.TrimPrefix(t, "W/") == want {
				w.WriteHeader(http.StatusNotModified)
				return true
			}
		}
	}
	return false
}

// quoteETag makes an entity tag of v: as is when already quoted (weak or
// strong), else in quotes, without the characters an entity tag cannot hold.
func quoteETag(v string) string {
	if len(v) >= 2 && v[len(v)-1] == '"' && (v[0] == '"' || strings.HasPrefix(v, `W/"`)) {
		return v
	}
	return `"` + strings.Map(func(r rune) rune {
		if r == '"' || r <= ' ' || r == 0x7f {
			return -1
		}
		return r
	}, v) + `"`
}

// Purge drops this module's responses from the runtime's cache whose path
// starts with one of prefixes (each starting with "/"; none: all of
// them), so that the next request renders them again: call it after a
// change that cached pages show. A module can purge only its own
// responses. The purge reaches the runtime replica that serves the call;
// keep MaxAge short where several replicas serve the site.
func Purge(ctx context.Context, prefixes ...string) error {
	return callHost(ctx, abi.ServiceCache, abi.CachePurge{Prefixes: prefixes}, nil)
}

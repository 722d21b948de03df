package modhost

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/websonic/websonic/runtime/internal/respcache"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/abi/abihttp"
)

// The host response cache (package respcache) around a module's guest
// calls: Config.Cache, when set, answers what modules mark cacheable.
// It stores the module's own response, before the site's layout: a page
// that asks for the layout is framed again on every request, for the user
// who asks it, in the theme of the moment, under the request's own CSP.

// call makes the guest call of req, with the module's database session.
func (m *Module) call(ctx context.Context, req *abi.HTTPRequest) (*abi.HTTPResponse, error) {
	sess := m.db.Session()
	defer sess.Close()
	return m.pool.HTTP(ctx, req, m.env(sess, req.User, req.RequestID))
}

// roundTrip answers req (the request r as the module receives it) through
// the cache when there is one, else with a guest call. answered reports
// that the cache wrote the whole answer to w itself (a 304); otherwise
// the caller writes resp as usual, after roundTrip has set the cache's
// headers on w. The caller may replace resp's fields and change its
// Headers, never its Body's bytes (a stored entry's).
func (m *Module) roundTrip(w http.ResponseWriter, r *http.Request, req *abi.HTTPRequest) (resp *abi.HTTPResponse, answered bool, err error) {
	c := m.h.cfg.Cache
	if c == nil || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
		resp, err = m.call(r.Context(), req)
		return resp, false, err
	}
	// The cache wants whole responses: the client's own condition is
	// answered by the host, below.
	req.Headers = withoutHeader(req.Headers, "If-None-Match")
	cr := &respcache.Request{
		Module: m.m.Name, Gen: m.cacheGen, Method: req.Method, Host: req.Host, URI: req.URI,
		Headers: req.Headers, User: req.User,
	}
	if !respcache.Eligible(cr) {
		resp, err = m.call(r.Context(), req)
		return resp, false, err
	}
	inm := r.Header.Values("If-None-Match")
	e, ticket := c.Lookup(cr)
	now := c.Now()
	if e != nil && e.Fresh(now) {
		w.Header().Set("Age", strconv.FormatInt(int64(e.Age(now).Seconds()), 10))
		// The caller may change the response it writes (a host-rendered
		// page replaces the body and headers), never the stored one.
		hit := &abi.HTTPResponse{Status: e.Response.Status, Headers: slices.Clone(e.Response.Headers), Body: e.Response.Body}
		return m.cacheAnswer(w, hit, "hit", inm)
	}
	if e != nil { // stale, with an ETag: ask the module whether it still holds
		req.Headers = append(req.Headers, abi.Header{Name: "If-None-Match", Value: e.ETag}) // cr.Headers keeps the request's
	}
	if resp, err = m.call(r.Context(), req); err != nil {
		return nil, false, err
	}
	if e != nil && resp.Status == http.StatusNotModified {
		merged, _ := c.Refresh(ticket, cr, e, resp)
		w.Header().Set("Age", "0")
		return m.cacheAnswer(w, merged, "revalidated", inm)
	}
	c.Store(ticket, cr, resp)
	return m.cacheAnswer(w, resp, "miss", inm)
}

// cacheAnswer sets the cache's status header and answers the client's
// If-None-Match with 304 when it matches a 200 response's ETag; never for
// a page in the site's layout or a page the host renders (sdk.Render),
// whose bytes are the host's, per request (the visitor's language, theme
// and sign-in state).
func (m *Module) cacheAnswer(w http.ResponseWriter, resp *abi.HTTPResponse, status string, inm []string) (*abi.HTTPResponse, bool, error) {
	h := w.Header()
	h.Set(abihttp.CacheStatusHeader, status)
	if len(inm) == 0 || resp.Status != http.StatusOK {
		return resp, false, nil
	}
	if _, layout := abihttp.Layout(resp); layout {
		return resp, false, nil
	}
	if _, rendered := abihttp.Render(resp); rendered {
		return resp, false, nil // the host renders it per request, in the visitor's language
	}
	var etag string
	for _, kv := range resp.Headers {
		if http.CanonicalHeaderKey(kv.Name) == "Etag" {
			etag = kv.Value
		}
	}
	if !respcache.ETagMatch(inm, etag) {
		return resp, false, nil
	}
	// RFC 9110 section 15.4.5: the fields a 200 would have carried that
	// describe the representation's caching.
	for _, kv := range resp.Headers {
		switch name := http.CanonicalHeaderKey(kv.Name); name {
		case "Etag", "Cache-Control", "Vary", "Expires", "Last-Modified", "Content-Location", "Date":
			h.Add(name, kv.Value)
		}
	}
	w.WriteHeader(http.StatusNotModified)
	return resp, true, nil
}

// withoutHeader is hs without the header called name (canonical form).
func withoutHeader(hs []abi.Header, name string) []abi.Header {
	for i := range hs {
		if http.CanonicalHeaderKey(hs[i].Name) == name {
			out := make([]abi.Header, 0, len(hs))
			for _, h := range hs {
				if http.CanonicalHeaderKey(h.Name) != name {
					out = append(out, h)
				}
			}
			return out
		}
	}
	return hs
}

// PurgeCache drops every response of the module in the host's cache
// (all its versions'), and keeps responses computed before from being
// stored: the server calls it when the owner enables or disables the
// module. SetConfig calls it too.
func (m *Module) PurgeCache() {
	if c := m.cache(); c != nil {
		c.Purge(m.m.Name)
	}
}

// cache is the host's response cache, nil for none.
func (m *Module) cache() *respcache.Cache {
	if m.h == nil {
		return nil
	}
	return m.h.cfg.Cache
}

// dropCache frees the version's entries once it has stopped.
func (m *Module) dropCache() {
	if c := m.cache(); c != nil {
		c.Drop(m.m.Name, m.cacheGen)
	}
}

// CacheService is the host service abi.ServiceCache over c (nil: no
// cache, nothing to purge): a module purges its own entries, under path
// prefixes; the module is the caller, never named by the payload.
func CacheService(c *respcache.Cache) Service {
	return ServiceFunc(func(ctx context.Context, caller *Caller, payload []byte) ([]byte, error) {
		req, err := decodePurge(payload)
		if err != nil {
			return nil, err
		}
		var out abi.CachePurged
		if c != nil {
			out.Purged = c.Purge(caller.Module, req.Prefixes...)
		}
		return json.Marshal(out)
	})
}

// decodePurge decodes and checks a purge request from a guest.
func decodePurge(payload []byte) (*abi.CachePurge, error) {
	var req abi.CachePurge
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, Invalid("cache: bad purge request: %v", err)
	}
	if dec.More() {
		return nil, Invalid("cache: bad purge request: trailing data")
	}
	if len(req.Prefixes) > abi.MaxCachePurgePrefixes {
		return nil, Invalid("cache: at most %d prefixes", abi.MaxCachePurgePrefixes)
	}
	for _, p := range req.Prefixes {
		if !strings.HasPrefix(p, "/") || len(p) > 1024 {
			return nil, Invalid("cache: a prefix is a path starting with / of at most 1024 bytes, not %q", truncate(p, 64))
		}
	}
	return &req, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}

// CacheMetrics exports the response cache's counters per module.
type CacheMetrics struct{ c *respcache.Cache }

var (
	descCacheHits        = prometheus.NewDesc("websonic_module_cache_hits_total", "Requests answered from the host response cache.", []string{"module"}, nil)
	descCacheMisses      = prometheus.NewDesc("websonic_module_cache_misses_total", "Cacheable-looking requests that went to the module (stale entries included).", []string{"module"}, nil)
	descCacheRevalidated = prometheus.NewDesc("websonic_module_cache_revalidated_total", "Stale entries the module confirmed with 304.", []string{"module"}, nil)
	descCacheStored      = prometheus.NewDesc("websonic_module_cache_stored_total", "Responses stored in the host response cache.", []string{"module"}, nil)
	descCacheEvictions   = prometheus.NewDesc("websonic_module_cache_evictions_total", "Entries evicted for room.", []string{"module"}, nil)
	descCachePurged      = prometheus.NewDesc("websonic_module_cache_purged_total", "Entries dropped by purges, settings changes and new versions.", []string{"module"}, nil)
	descCacheBytes       = prometheus.NewDesc("websonic_module_cache_bytes", "Bytes the module holds in the host response cache.", []string{"module"}, nil)
	descCacheEntries     = prometheus.NewDesc("websonic_module_cache_entries", "Entries the module holds in the host response cache.", []string{"module"}, nil)
)

// NewCacheMetrics registers the cache's metrics on reg.
func NewCacheMetrics(reg prometheus.Registerer, c *respcache.Cache) *CacheMetrics {
	m := &CacheMetrics{c: c}
	reg.MustRegister(m)
	return m
}

// Describe implements prometheus.Collector.
func (m *CacheMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descCacheHits, descCacheMisses, descCacheRevalidated, descCacheStored, descCacheEvictions, descCachePurged, descCacheBytes, descCacheEntries} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (m *CacheMetrics) Collect(ch chan<- prometheus.Metric) {
	for name, s := range m.c.Stats() {
		for _, v := range []struct {
			d *prometheus.Desc
			t prometheus.ValueType
			v float64
		}{
			{descCacheHits, prometheus.CounterValue, float64(s.Hits)},
			{descCacheMisses, prometheus.CounterValue, float64(s.Misses)},
			{descCacheRevalidated, prometheus.CounterValue, float64(s.Revalidated)},
			{descCacheStored, prometheus.CounterValue, float64(s.Stored)},
			{descCacheEvictions, prometheus.CounterValue, float64(s.Evicted)},
			{descCachePurged, prometheus.CounterValue, float64(s.Purged)},
			{descCacheBytes, prometheus.GaugeValue, float64(s.Bytes)},
			{descCacheEntries, prometheus.GaugeValue, float64(s.Entries)},
		} {
			ch <- prometheus.MustNewConstMetric(v.d, v.t, v.v, name)
		}
	}
}

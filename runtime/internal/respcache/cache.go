package respcache

import (
	"bytes"
	"container/list"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

// Config bounds a Cache. Zero fields take the defaults shown.
type Config struct {
	// MaxBytes is the whole cache's budget (64 MiB).
	MaxBytes int64
	// ModuleBytes is one module's share of it (MaxBytes/4): a module at
	// its share evicts its own entries to store another.
	ModuleBytes int64
	// MaxEntryBytes caps one stored body (1 MiB, and at most ModuleBytes).
	MaxEntryBytes int64
	// MaxTTL caps a response's lifetime in the cache (24h), whatever its
	// Cache-Control says.
	MaxTTL time.Duration
	// Now is the clock (time.Now); tests move it.
	Now func() time.Time
}

func (c Config) defaults() Config {
	if c.MaxBytes <= 0 {
		c.MaxBytes = 64 << 20
	}
	if c.ModuleBytes <= 0 || c.ModuleBytes > c.MaxBytes {
		c.ModuleBytes = c.MaxBytes / 4
	}
	if c.MaxEntryBytes <= 0 {
		c.MaxEntryBytes = 1 << 20
	}
	c.MaxEntryBytes = min(c.MaxEntryBytes, c.ModuleBytes)
	if c.MaxTTL <= 0 {
		c.MaxTTL = 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Cache is the response cache; see the package documentation.
type Cache struct {
	cfg Config
	gen atomic.Uint64

	mu      sync.Mutex
	entries map[string]*Entry
	index   map[string]*resource // by primaryKey
	lru     list.List            // of *Entry, most recently used first
	modules map[string]*moduleState
	bytes   int64
}

// resource is what the last stored response of a resource said about
// its variants: the scope and the Vary'd headers.
type resource struct {
	scope string
	vary  []string
	refs  int
}

type moduleState struct {
	lru   list.List // of *Entry, most recently used first
	bytes int64
	// epoch moves with every purge: a response computed before it is not
	// stored after it.
	epoch uint64
	stats Stats
}

// Stats are one module's counters.
type Stats struct {
	// Hits are requests answered from a fresh entry; Misses requests that
	// went to the module (stale entries included); Revalidated stale
	// entries the module confirmed with 304.
	Hits, Misses, Revalidated uint64
	// Stored counts responses stored, Evicted entries dropped for room,
	// Purged entries dropped by a purge or a new generation.
	Stored, Evicted, Purged uint64
	// Entries and Bytes are what the module holds now.
	Entries int
	Bytes   int64
}

// Entry is a stored response. It is immutable: the cache replaces an
// entry, never changes it.
type Entry struct {
	// Response is the module's response as stored: read it, never modify it.
	Response *abi.HTTPResponse
	// ETag is the response's entity tag ("" for none).
	ETag string
	// Stored is when the response was stored or last revalidated;
	// Expires when it goes stale.
	Stored, Expires time.Time

	key, primary, module, path string
	gen                        uint64
	size                       int64
	global, own                *list.Element
}

// Fresh reports whether the entry may be served at now without asking
// the module.
func (e *Entry) Fresh(now time.Time) bool { return now.Before(e.Expires) }

// Age is the entry's age at now, for the Age header.
func (e *Entry) Age(now time.Time) time.Duration { return max(now.Sub(e.Stored), 0) }

// Ticket is what Lookup saw of the module's purge epoch; Store refuses a
// response when a purge came in between.
type Ticket struct {
	module string
	epoch  uint64
}

// New returns an empty cache.
func New(cfg Config) *Cache {
	return &Cache{
		cfg:     cfg.defaults(),
		entries: map[string]*Entry{},
		index:   map[string]*resource{},
		modules: map[string]*moduleState{},
	}
}

// Config is the cache's configuration, defaults filled in.
func (c *Cache) Config() Config { return c.cfg }

// Now is the cache's clock.
func (c *Cache) Now() time.Time { return c.cfg.Now() }

// Generation returns a number never returned before: the host takes one
// for each module version it starts (Request.Gen).
func (c *Cache) Generation() uint64 { return c.gen.Add(1) }

func (c *Cache) module(name string) *moduleState {
	ms := c.modules[name]
	if ms == nil {
		ms = &moduleState{}
		c.modules[name] = ms
	}
	return ms
}

// Lookup finds the entry for r, fresh or stale (nil: none), and counts a
// hit when it is fresh, a miss otherwise. A stale entry without an ETag is
// dropped and not returned: there is nothing to revalidate. The ticket
// goes to Store or Refresh.
func (c *Cache) Lookup(r *Request) (*Entry, Ticket) {
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	ms := c.module(r.Module)
	t := Ticket{module: r.Module, epoch: ms.epoch}
	primary := primaryKey(r)
	res := c.index[primary]
	if res == nil {
		ms.stats.Misses++
		return nil, t
	}
	e := c.entries[fullKey(primary, r, res.scope, res.vary)]
	switch {
	case e == nil:
		ms.stats.Misses++
		return nil, t
	case e.Fresh(now):
		ms.stats.Hits++
	case e.ETag == "":
		c.remove(e)
		ms.stats.Misses++
		return nil, t
	default:
		ms.stats.Misses++
	}
	c.lru.MoveToFront(e.global)
	ms.lru.MoveToFront(e.own)
	return e, t
}

// Store stores resp as the answer to r if the policy allows (Decide) and
// no purge of the module came since the ticket's Lookup. It returns the
// entry, or nil and the reason it was not stored.
func (c *Cache) Store(t Ticket, r *Request, resp *abi.HTTPResponse) (*Entry, string) {
	d := Decide(c.cfg, r, resp)
	if !d.Store {
		return nil, d.Reason
	}
	now := c.cfg.Now()
	primary := primaryKey(r)
	key := fullKey(primary, r, d.Scope, d.Vary)
	path, _, _ := strings.Cut(r.URI, "?")
	// The cache owns what it keeps: a caller may reuse its buffers.
	resp = &abi.HTTPResponse{Status: resp.Status, Headers: slices.Clone(resp.Headers), Body: bytes.Clone(resp.Body)}
	e := &Entry{
		Response: resp, ETag: d.ETag, Stored: now, Expires: now.Add(d.TTL),
		key: key, primary: primary, module: r.Module, path: path, gen: r.Gen,
	}
	e.size = int64(len(resp.Body)+2*len(key)+len(path)) + 256
	for _, h := range resp.Headers {
		e.size += int64(len(h.Name)+len(h.Value)) + 32
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ms := c.module(r.Module)
	if ms.epoch != t.epoch || t.module != r.Module {
		return nil, "purged meanwhile"
	}
	if old := c.entries[key]; old != nil {
		c.remove(old)
	}
	res := c.index[primary]
	if res == nil {
		res = &resource{}
		c.index[primary] = res
	}
	res.scope, res.vary = d.Scope, d.Vary
	res.refs++
	c.entries[key] = e
	e.global = c.lru.PushFront(e)
	e.own = ms.lru.PushFront(e)
	c.bytes += e.size
	ms.bytes += e.size
	ms.stats.Stored++
	for ms.bytes > c.cfg.ModuleBytes && ms.lru.Len() > 1 {
		c.evict(ms.lru.Back().Value.(*Entry))
	}
	for c.bytes > c.cfg.MaxBytes && c.lru.Len() > 1 {
		c.evict(c.lru.Back().Value.(*Entry))
	}
	return e, ""
}

// notModifiedSkip are the header fields of a 304 that do not replace the
// stored ones (RFC 9111 section 3.2).
var notModifiedSkip = map[string]bool{"Content-Length": true, "Content-Encoding": true, "Content-Type": true, "Transfer-Encoding": true}

// Refresh handles the module's 304 to a revalidation of the stale entry
// old: the stored response with the 304's header fields (RFC 9111 section
// 4.3.4), stored again if the policy still allows. It returns that
// response, which answers the request either way, and the new entry (nil:
// not stored; the old one is dropped then).
func (c *Cache) Refresh(t Ticket, r *Request, old *Entry, notModified *abi.HTTPResponse) (*abi.HTTPResponse, *Entry) {
	replaced := map[string]bool{}
	var fresh []abi.Header
	for _, h := range notModified.Headers {
		name := http.CanonicalHeaderKey(h.Name)
		if !notModifiedSkip[name] {
			replaced[name] = true
			fresh = append(fresh, h)
		}
	}
	merged := &abi.HTTPResponse{Status: old.Response.Status, Body: old.Response.Body}
	for _, h := range old.Response.Headers {
		if !replaced[http.CanonicalHeaderKey(h.Name)] {
			merged.Headers = append(merged.Headers, h)
		}
	}
	merged.Headers = append(merged.Headers, fresh...)
	e, _ := c.Store(t, r, merged)
	c.mu.Lock()
	if e == nil && c.entries[old.key] == old {
		c.remove(old)
	}
	if e != nil {
		c.module(r.Module).stats.Revalidated++
	}
	c.mu.Unlock()
	return merged, e
}

// remove drops e; the caller holds c.mu.
func (c *Cache) remove(e *Entry) {
	if c.entries[e.key] != e {
		return
	}
	delete(c.entries, e.key)
	if res := c.index[e.primary]; res != nil {
		if res.refs--; res.refs <= 0 {
			delete(c.index, e.primary)
		}
	}
	ms := c.module(e.module)
	c.lru.Remove(e.global)
	ms.lru.Remove(e.own)
	c.bytes -= e.size
	ms.bytes -= e.size
}

func (c *Cache) evict(e *Entry) {
	c.remove(e)
	c.module(e.module).stats.Evicted++
}

// Purge drops the module's entries whose path starts with one of prefixes
// (a plain string prefix; none: all of them), whatever their generation,
// and moves the module's epoch, so that no response computed before it is
// stored after it. It returns how many entries it dropped.
func (c *Cache) Purge(module string, prefixes ...string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	ms := c.module(module)
	ms.epoch++
	n := 0
	for el := ms.lru.Front(); el != nil; {
		e := el.Value.(*Entry)
		el = el.Next()
		if matchPrefix(e.path, prefixes) {
			c.remove(e)
			n++
		}
	}
	ms.stats.Purged += uint64(n)
	return n
}

func matchPrefix(path string, prefixes []string) bool {
	if len(prefixes) == 0 {
		return true
	}
	for _, p := range prefixes {
		if strings.HasPrefix(path, p) {
			return true
		}
	}
	return false
}

// Drop frees the entries of one generation of the module (a version that
// stopped): nothing could be served from them anymore.
func (c *Cache) Drop(module string, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ms := c.module(module)
	for el := ms.lru.Front(); el != nil; {
		e := el.Value.(*Entry)
		el = el.Next()
		if e.gen == gen {
			c.remove(e)
			ms.stats.Purged++
		}
	}
}

// Stats returns every module's counters.
func (c *Cache) Stats() map[string]Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]Stats, len(c.modules))
	for name, ms := range c.modules {
		s := ms.stats
		s.Entries, s.Bytes = ms.lru.Len(), ms.bytes
		out[name] = s
	}
	return out
}

// Bytes is what the whole cache holds.
func (c *Cache) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

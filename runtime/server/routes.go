package server

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// routeEntry is one path prefix served by a module.
type routeEntry struct {
	prefix  string
	module  string
	methods []string // never empty
	need    site.Role
	public  bool
	mod     *modhost.Module
}

// routeTable maps path prefixes to running modules. It is immutable: the
// server swaps in a new table (atomically) when modules start or stop, so
// requests in flight keep the module they were routed to.
type routeTable struct {
	entries []routeEntry // longest prefix first
	// topics are the running modules' realtime topic patterns: a topic
	// belongs to one module only, as a path does (else a module could
	// publish into, or decide subscriptions to, another's topics).
	topics []topicEntry
}

// topicEntry is one topic pattern of a module's manifest.
type topicEntry struct{ pattern, module string }

// with returns a table that also routes the module of manifest mf, served
// by m, or an error naming the module that already serves an overlapping
// path or owns an overlapping realtime topic. m may be nil to only check for overlaps.
func (t *routeTable) with(mf *manifest.Manifest, m *modhost.Module) (*routeTable, error) {
	next := &routeTable{entries: slices.Clone(t.entries), topics: slices.Clone(t.topics)}
	for _, p := range mf.Capabilities.Topics {
		for _, e := range t.topics {
			if manifest.TopicsOverlap(e.pattern, p) {
				return nil, fmt.Errorf("server: module %s: topic %s overlaps %s of module %s", mf.Name, p, e.pattern, e.module)
			}
		}
		next.topics = append(next.topics, topicEntry{pattern: p, module: mf.Name})
	}
	for _, rt := range mf.Capabilities.Routes {
		for _, e := range t.entries {
			if overlaps(e.prefix, rt.Path) {
				return nil, fmt.Errorf("server: module %s: route %s overlaps %s of module %s", mf.Name, rt.Path, e.prefix, e.module)
			}
		}
		methods := rt.Methods
		if len(methods) == 0 {
			methods = []string{http.MethodGet}
		}
		if slices.Contains(methods, http.MethodGet) && !slices.Contains(methods, http.MethodHead) {
			methods = append(slices.Clone(methods), http.MethodHead) // as net/http does
		}
		need, restricted := roleOf[rt.Access]
		next.entries = append(next.entries, routeEntry{prefix: rt.Path, module: mf.Name, methods: methods, need: need, public: !restricted, mod: m})
	}
	slices.SortFunc(next.entries, func(a, b routeEntry) int { return len(b.prefix) - len(a.prefix) })
	return next, nil
}

// without returns a table with none of the named module's routes.
func (t *routeTable) without(name string) *routeTable {
	next := &routeTable{}
	for _, e := range t.entries {
		if e.module != name {
			next.entries = append(next.entries, e)
		}
	}
	for _, e := range t.topics {
		if e.module != name {
			next.topics = append(next.topics, e)
		}
	}
	return next
}

func overlaps(a, b string) bool {
	return a == b || strings.HasPrefix(a, b+"/") || strings.HasPrefix(b, a+"/")
}

func (t *routeTable) lookup(path string) (routeEntry, bool) {
	for _, e := range t.entries {
		if path == e.prefix || strings.HasPrefix(path, e.prefix+"/") {
			return e, true
		}
	}
	return routeEntry{}, false
}

var roleOf = map[manifest.Access]site.Role{
	manifest.AccessMember: site.RoleMember,
	manifest.AccessStaff:  site.RoleStaff,
	manifest.AccessAdmin:  site.RoleAdmin,
}

// serveModule routes a request the core site does not handle to the module
// that serves its path, after checking the route's methods and access level.
// Paths under abi.HostPathPrefix are the runtime's own calls into modules
// (the health check): no client request reaches a module there.
func (s *Server) serveModule(w http.ResponseWriter, r *http.Request) {
	if p := r.URL.Path; p+"/" == abi.HostPathPrefix || strings.HasPrefix(p, abi.HostPathPrefix) {
		http.NotFound(w, r)
		return
	}
	for try := 0; try < 10; try++ {
		e, ok := s.state.Load().routes.lookup(r.URL.Path)
		if !ok || s.moduleDisabled(e.module) { // a disabled module keeps running, unrouted (modstate.go)
			s.site.NotFound(w, r)
			return
		}
		if rc := chi.RouteContext(r.Context()); rc != nil && try == 0 {
			rc.RoutePatterns = append(rc.RoutePatterns, e.prefix+"/*") // metrics label
		}
		if !slices.Contains(e.methods, r.Method) {
			w.Header().Set("Allow", strings.Join(e.methods, ", "))
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if u := site.UserFrom(r.Context()); !e.public && !u.Has(e.need) {
			s.site.Deny(w, r, u, e.need)
			return
		}
		if e.mod.TryServeHTTP(w, r) {
			return
		}
		// That version closed after the lookup (Swap replaced it, and
		// stores the new table before closing the old version): look again.
	}
	// Only a module closed but still routed gets here, which neither Swap
	// nor Close leaves behind.
	w.Header().Set("Retry-After", "1")
	http.Error(w, "module unavailable", http.StatusServiceUnavailable)
}

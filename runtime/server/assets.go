package server

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/websonic/websonic/runtime/internal/assetserve"
	"github.com/websonic/websonic/runtime/internal/modhost"
)

// servedAssets are one module version's assets, as the site serves them
// under assetserve.Root. The serving state keeps those of every running
// version and of each module's previous version (the one its last update
// replaced), so that a page the previous version rendered keeps its
// scripts after a swap; the next update, or an uninstall, drops them.
type servedAssets struct {
	module, key string
	set         *assetserve.Set
}

func assetsOf(m *modhost.Module) (servedAssets, bool) {
	set, prefix := m.Assets()
	if set == nil {
		return servedAssets{}, false
	}
	mod, key, _, _ := assetserve.Split(prefix + "x")
	if k, err := url.PathUnescape(key); err == nil { // requests are matched decoded
		key = k
	}
	return servedAssets{module: mod, key: key, set: set}, true
}

// assetsAfter is cur once m serves in place of old (nil: m is new): the
// module's assets of old and m, and nothing older.
func assetsAfter(cur []servedAssets, m, old *modhost.Module) []servedAssets {
	name := m.Manifest().Name
	keep := ""
	if old != nil {
		if a, ok := assetsOf(old); ok {
			keep = a.key
		}
	}
	out := slices.DeleteFunc(slices.Clone(cur), func(a servedAssets) bool { return a.module == name && a.key != keep })
	if a, ok := assetsOf(m); ok && !slices.ContainsFunc(out, func(b servedAssets) bool { return b.module == a.module && b.key == a.key }) {
		out = append(out, a)
	}
	return out
}

// assetsWithout drops every version's assets of the module name.
func assetsWithout(cur []servedAssets, name string) []servedAssets {
	return slices.DeleteFunc(slices.Clone(cur), func(a servedAssets) bool { return a.module == name })
}

// serveAsset answers under assetserve.Root from the serving state.
func (s *Server) serveAsset(w http.ResponseWriter, r *http.Request) {
	module, key, p, ok := assetserve.Split(r.URL.Path)
	if ok {
		for _, a := range s.state.Load().assets {
			if a.module == module && a.key == key && !s.moduleDisabled(module) {
				a.set.Serve(w, r, p)
				return
			}
		}
	}
	http.NotFound(w, r)
}

package server

import (
	"net/http"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/clientaddr"
)

// warnUntrustedProxy logs once, the first time a request with forwarding
// headers comes from a loopback or private address that is not a trusted
// proxy: most likely the site's own proxy, missing from TrustedProxies, so
// every client shares its address (one login bucket for all, one address
// in the logs and for modules). Public peers sending such headers are
// clients, whose headers are rightly ignored.
func warnUntrustedProxy(log hclog.Logger) func(http.Handler) http.Handler {
	var once sync.Once
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if info, ok := clientaddr.FromContext(r.Context()); ok && info.Ignored &&
				(info.Client.IsLoopback() || info.Client.IsPrivate()) {
				once.Do(func() {
					log.Warn("requests with X-Forwarded-For come from a proxy that is not trusted: every client behind it shares its address "+
						"(login limits, logs, modules); if it is this site's proxy, name it with --trusted-proxies", "proxy", info.Client)
				})
			}
			next.ServeHTTP(w, r)
		})
	}
}

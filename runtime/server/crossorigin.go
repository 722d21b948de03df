package server

import (
	"net/http"
	"net/url"

	"github.com/websonic/websonic/internal/clientaddr"
)

// crossOrigin refuses cross-origin browser requests that are not safe
// methods: http.CrossOriginProtection, plus the one check it leaves out.
// Without Sec-Fetch-Site (old browsers) it compares only the Origin's host
// with Host, so an http:// page of the same host could post to the https://
// site; here an Origin whose scheme is not the request's (clientaddr.HTTPS)
// is refused too. With Sec-Fetch-Site the browser has compared whole origins
// and its word stands.
func crossOrigin() func(http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	return func(next http.Handler) http.Handler {
		protected := cop.Handler(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if originSchemeMismatch(r) {
				http.Error(w, "cross-origin request refused: the Origin's scheme is not this site's", http.StatusForbidden)
				return
			}
			protected.ServeHTTP(w, r)
		})
	}
}

// originSchemeMismatch reports an unsafe request without Sec-Fetch-Site
// whose Origin names this host with the other scheme.
func originSchemeMismatch(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	if r.Header.Get("Sec-Fetch-Site") != "" {
		return false
	}
	o, err := url.Parse(r.Header.Get("Origin"))
	if err != nil || o.Host == "" || o.Host != r.Host {
		return false // no Origin, or another host: CrossOriginProtection decides
	}
	want := "http"
	if clientaddr.HTTPS(r) {
		want = "https"
	}
	return o.Scheme != want
}

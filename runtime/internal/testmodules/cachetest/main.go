// Command cachetest is the test-only module of the host response cache
// (runtime/server/respcache_test.go). Every page it renders carries a
// nonce, so a test tells a stored copy (same nonce) from a new rendering.
//
//	GET  /cachetest/user     CachePublic: anonymous share, each user their own; shows the user
//	GET  /cachetest/shared   CacheShared, in the site's layout
//	GET  /cachetest/private  CachePrivate
//	GET  /cachetest/cookie   cacheable, but sets a cookie
//	GET  /cachetest/etag     one second fresh, then revalidated: 304 while ?v (the version) is unchanged
//	GET  /cachetest/lang     varies on Accept-Language
//	POST /cachetest/purge    sdk.Purge of the form's prefix values
package main

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"time"

	"github.com/websonic/websonic/sdk"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /cachetest/user", func(w http.ResponseWriter, r *http.Request) {
		sdk.Cache(w, r, sdk.CacheOptions{MaxAge: time.Hour})
		who := "anonymous"
		if u := sdk.UserFrom(r); u != nil {
			who = u.Username
		}
		fmt.Fprintf(w, "user=%s nonce=%s", who, nonce())
	})
	mux.HandleFunc("GET /cachetest/shared", func(w http.ResponseWriter, r *http.Request) {
		sdk.Cache(w, r, sdk.CacheOptions{MaxAge: time.Hour, Scope: sdk.CacheShared})
		sdk.SitePage(w, "Shared")
		fmt.Fprintf(w, "<p>shared nonce=%s</p>", nonce())
	})
	mux.HandleFunc("GET /cachetest/private", func(w http.ResponseWriter, r *http.Request) {
		sdk.Cache(w, r, sdk.CacheOptions{MaxAge: time.Hour, Scope: sdk.CachePrivate})
		fmt.Fprintf(w, "private nonce=%s", nonce())
	})
	mux.HandleFunc("GET /cachetest/cookie", func(w http.ResponseWriter, r *http.Request) {
		sdk.Cache(w, r, sdk.CacheOptions{MaxAge: time.Hour, Scope: sdk.CacheShared})
		http.SetCookie(w, &http.Cookie{Name: "visitor", Value: nonce(), Path: "/cachetest"})
		fmt.Fprintf(w, "cookie nonce=%s", nonce())
	})
	mux.HandleFunc("GET /cachetest/etag", func(w http.ResponseWriter, r *http.Request) {
		sdk.Cache(w, r, sdk.CacheOptions{MaxAge: time.Second, Scope: sdk.CacheShared})
		if sdk.NotModified(w, r, "v"+r.URL.Query().Get("v")) {
			return
		}
		fmt.Fprintf(w, "etag nonce=%s", nonce())
	})
	mux.HandleFunc("GET /cachetest/lang", func(w http.ResponseWriter, r *http.Request) {
		sdk.Cache(w, r, sdk.CacheOptions{MaxAge: time.Hour, Scope: sdk.CacheShared, Vary: []string{"Accept-Language"}})
		fmt.Fprintf(w, "lang=%s nonce=%s", r.Header.Get("Accept-Language"), nonce())
	})
	mux.HandleFunc("POST /cachetest/purge", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		if err := sdk.Purge(r.Context(), r.PostForm["prefix"]...); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprint(w, "purged")
	})
	sdk.Handle(mux)
}

func nonce() string { return rand.Text() }

// main is never called in a wasm reactor; the Go toolchain wants it.
func main() {}

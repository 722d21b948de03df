package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/sdktest"
)

// A page the runtime may keep for a minute: anonymous visitors share one
// copy, each signed-in user has their own. Once it is stale, the runtime
// asks again with If-None-Match, and NotModified answers 304 while the
// page's version has not changed: the page is not rendered again.
func ExampleCache() {
	version := "v7" // e.g. the time the guestbook last changed
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sdk.Cache(w, r, sdk.CacheOptions{MaxAge: time.Minute, Vary: []string{"Accept-Language"}})
		if sdk.NotModified(w, r, version) {
			return
		}
		fmt.Fprint(w, "the guestbook")
	}))

	resp := sdktest.Do(httptest.NewRequest("GET", "/guestbook", nil), nil)
	fmt.Println(resp.Header.Get("Cache-Control"), resp.Header.Get("ETag"), resp.Header.Get("Vary"))
	ada := &sdk.User{ID: 42, Username: "ada", Roles: []string{"member"}}
	resp = sdktest.Do(httptest.NewRequest("GET", "/guestbook", nil), ada)
	fmt.Println(resp.Header.Get("Cache-Control"))

	again := httptest.NewRequest("GET", "/guestbook", nil)
	again.Header.Set("If-None-Match", `"v7"`)
	show(sdktest.Do(again, nil))
	// Output:
	// public, max-age=60 "v7" Accept-Language
	// private, max-age=60
	// 304
}

// A page that shows nobody's data is shared by everyone the route lets
// in; after a change, Purge drops the stored copies (inside the runtime:
// natively it reports sdktest.ErrNotInRuntime).
func ExamplePurge() {
	w := httptest.NewRecorder()
	sdk.Cache(w, httptest.NewRequest("GET", "/news", nil), sdk.CacheOptions{MaxAge: 5 * time.Minute, Scope: sdk.CacheShared})
	fmt.Println(w.Header().Get("Cache-Control"), w.Header().Get("Websonic-Cache-Scope"))

	err := sdk.Purge(context.Background(), "/news")
	fmt.Println(errors.Is(err, sdktest.ErrNotInRuntime))
	// Output:
	// public, max-age=300 shared
	// true
}

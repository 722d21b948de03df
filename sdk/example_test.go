package sdk_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/sdktest"
)

// show prints a response's status and body, or where it redirects.
func show(resp *http.Response) {
	if loc := resp.Header.Get("Location"); loc != "" {
		fmt.Println(resp.StatusCode, "to", loc)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
}

// A module installs one handler, from an init function:
//
//	func init() {
//		mux := http.NewServeMux()
//		mux.HandleFunc("GET /hello", hello)
//		sdk.Handle(mux)
//	}
//
// The runtime then sends it every request for the routes in the module's
// manifest. sdktest.Do sends one natively, through the same encoding.
func ExampleHandle() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Hello, %s!", r.URL.Query().Get("name"))
	})
	sdk.Handle(mux)

	show(sdktest.Do(httptest.NewRequest("GET", "/hello?name=Ada", nil), nil))
	show(sdktest.Do(httptest.NewRequest("DELETE", "/hello", nil), nil))
	// Output:
	// 200 Hello, Ada!
	// 405 Method Not Allowed
}

// The runtime has already enforced the route's access level from the
// manifest; UserFrom is for finer decisions, such as who may edit what.
func ExampleUserFrom() {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := sdk.UserFrom(r)
		if u == nil {
			http.Redirect(w, r, "/login?next=/guestbook", http.StatusSeeOther)
			return
		}
		fmt.Fprintf(w, "Welcome, %s (user %d)", u.DisplayName, u.ID)
	}))

	show(sdktest.Do(httptest.NewRequest("GET", "/guestbook", nil), nil))
	ada := &sdk.User{ID: 42, Username: "ada", DisplayName: "Ada Lovelace", Roles: []string{"member"}}
	show(sdktest.Do(httptest.NewRequest("GET", "/guestbook", nil), ada))
	// Output:
	// 303 to /login?next=/guestbook
	// 200 Welcome, Ada Lovelace (user 42)
}

func ExampleUser_HasRole() {
	u := &sdk.User{Username: "grace", Roles: []string{"staff", "member"}}
	fmt.Println(u.HasRole("member"), u.HasRole("staff"), u.HasRole("admin"))
	// Output: true true false
}

// The request id is the one the runtime's access log and error pages show:
// put it in your own errors and logs so a site owner can match them up.
func ExampleRequestID() {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "could not load the guestbook (request id "+sdk.RequestID(r)+")", http.StatusInternalServerError)
	}))

	r := sdktest.WithRequestID(httptest.NewRequest("GET", "/guestbook", nil), "5f2c9a1e0b7d4c33")
	show(sdktest.Do(r, nil))
	// Output:
	// 500 could not load the guestbook (request id 5f2c9a1e0b7d4c33)
}

// Logger's records go to the site's log, under the module's name, with
// their attributes as key/value pairs. Outside the runtime (as here, under
// go test) they are dropped.
func ExampleLogger() {
	log := sdk.Logger().With("component", "guestbook")
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := sdk.UserFrom(r)
		log.Info("guestbook signed", "user", u.Username, slog.Group("request", "id", sdk.RequestID(r)))
		log.Debug("details", "length", r.ContentLength)
		http.Redirect(w, r, "/guestbook", http.StatusSeeOther)
	}))

	show(sdktest.Do(httptest.NewRequest("POST", "/guestbook", nil), &sdk.User{ID: 1, Username: "ada"}))
	// Output:
	// 303 to /guestbook
}

// Config decodes the module's configuration: the site owner's values for
// the manifest's config_schema, with its defaults filled in. Inside the
// runtime it fills cfg; natively there is no runtime to ask, so it fails
// with sdktest.ErrNotInRuntime, as this example shows.
func ExampleConfig() {
	var cfg struct {
		Title      string `json:"title"`
		MaxEntries int    `json:"max_entries"`
	}
	if err := sdk.Config(&cfg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Title, cfg.MaxEntries)
	// Output:
	// sdk: not running inside the Web Sonic runtime (build with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)
}

// DB is a *sql.DB over the module's own PostgreSQL schema, with $1, $2, …
// placeholders. Inside the runtime this handler returns the number of
// entries; natively every query fails with sdktest.ErrNotInRuntime, as this
// example shows. Test database code inside the runtime.
func ExampleDB() {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int
		err := sdk.DB().QueryRowContext(r.Context(), `SELECT count(*) FROM entries WHERE user_id = $1`, 42).Scan(&n)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d entries", n)
	}))

	show(sdktest.Do(httptest.NewRequest("GET", "/guestbook/count", nil), nil))
	// Output:
	// 500 sdk: not running inside the Web Sonic runtime (build with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)
}

// A health check says whether the module can serve: the runtime calls it
// before a new version takes over from the running one, and keeps the
// running version when it fails. This one checks that the module's table
// answers; natively there is no database, so sdktest.Health, which calls the
// check as the runtime does, reports it unhealthy.
func ExampleHealthCheck() {
	sdk.HealthCheck(func(ctx context.Context) error {
		var n int
		if err := sdk.DB().QueryRowContext(ctx, `SELECT count(*) FROM entries`).Scan(&n); err != nil {
			return fmt.Errorf("entries table: %w", err)
		}
		return nil
	})
	fmt.Println(sdktest.Health())

	sdk.HealthCheck(nil) // no check: healthy once started
	fmt.Println(sdktest.Health())
	// Output:
	// sdktest: module unhealthy: 503 entries table: sdk: not running inside the Web Sonic runtime (build with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared)
	// <nil>
}

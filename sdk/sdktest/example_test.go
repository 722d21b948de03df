package sdktest_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/sdktest"
)

// In a module's own tests, the module's init has already called
// sdk.Handle; a test builds a request, picks a user and checks the
// response. Here the example installs a handler itself.
func ExampleDo() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /guestbook", func(w http.ResponseWriter, r *http.Request) {
		u := sdk.UserFrom(r)
		if u == nil {
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, "%s says %q", u.Username, r.FormValue("message"))
	})
	sdk.Handle(mux)

	post := func() *http.Request {
		r := httptest.NewRequest("POST", "/guestbook", strings.NewReader("message=hello"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		return r
	}
	for _, u := range []*sdk.User{nil, {ID: 1, Username: "ada", Roles: []string{"member"}}} {
		resp := sdktest.Do(post(), u)
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 401 sign in first
	// 200 ada says "hello"
}

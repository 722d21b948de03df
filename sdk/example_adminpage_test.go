package sdk_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/sdktest"
)

// An admin page is declared in module.json:
//
//	"admin_pages": [{"name": "moderation", "label": "Moderation"}]
//
// and registered in init with a plain http.Handler. It writes an HTML
// fragment that the admin area shows in its layout; its forms post back
// to the page (the runtime adds the CSRF token), and a 303 to "?query"
// shows the page again.
func ExampleAdminPage() {
	notices := []string{"Lost cat", "Free piano"}
	sdk.AdminPage("moderation", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			if i := r.FormValue("delete"); i == "0" && len(notices) > 0 {
				notices = notices[1:]
			}
			w.Header().Set("Location", "?deleted=1")
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		fmt.Fprintf(w, "<p>Signed in as %s.</p><ul>", html.EscapeString(sdk.UserFrom(r).Username))
		for i, n := range notices {
			fmt.Fprintf(w, `<li>%s <form method="post"><button name="delete" value="%d">Delete</button></form></li>`, html.EscapeString(n), i)
		}
		fmt.Fprint(w, "</ul>")
	}))

	admin := &sdk.User{ID: 1, Username: "ada", Roles: []string{"admin", "staff", "member"}}
	status, frag, _ := sdktest.AdminPage("moderation", "POST", "", url.Values{"delete": {"0"}}, admin)
	fmt.Println(status, frag)
	status, frag, _ = sdktest.AdminPage("moderation", "GET", "deleted=1", nil, admin)
	fmt.Println(status, frag)
	// Output:
	// 303 ?deleted=1
	// 200 <p>Signed in as ada.</p><ul><li>Free piano <form method="post"><button name="delete" value="0">Delete</button></form></li></ul>
}

package sdk

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/abi/abihttp"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// adminPages are the module's admin pages, by name.
var adminPages = map[string]http.Handler{}

// adminPageCall is the host's body (sdk/ABI.md section 18).
type adminPageCall struct {
	Method string     `json:"method"`
	Query  string     `json:"query"`
	Form   url.Values `json:"form"`
}

// AdminPage registers h as the admin page name, which module.json must
// declare (capabilities.admin_pages, with its label). The site's admins
// open it in the admin area, at /admin/modules/MODULE/pages/NAME, inside
// the area's layout. Call it from an init function.
//
// h serves the admin's request as a plain http.Handler: r.Method is GET
// or POST, r.URL.Query() the page's query, r.FormValue a POST's fields,
// and UserFrom(r) the admin. It writes an HTML fragment (no <html> or
// <body>), or has the runtime render one with Render (in the admin area's
// language), which the runtime sanitizes before showing it: text, headings,
// lists, tables, forms and their controls stay; scripts, styles, images,
// event handlers, password fields and links or forms to anywhere else go.
// Every form is sent to the page itself (POST forms with the admin area's
// CSRF token, which the runtime checks and removes), and a link may only
// change the page's query ("?tab=flagged") or point at an anchor. Write
// status 303 with a Location of "?query" to show the page again after a
// POST (the runtime keeps only the query: a page never sends the admin
// elsewhere). A page runs like a request, under the same deadline, with
// the module's database and configuration.
func AdminPage(name string, h http.Handler) {
	adminPages[name] = h
	onHost(abi.AdminPagePathPrefix, serveAdminPage)
	hostcall.SetHandler(disp.serve)
}

func serveAdminPage(r *http.Request) (int, []byte) {
	name := strings.TrimPrefix(r.URL.Path, abi.AdminPagePathPrefix)
	h := adminPages[name]
	if h == nil {
		return http.StatusNotFound, []byte("this module has no admin page " + name + "\n")
	}
	var call adminPageCall
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&call); err != nil {
		return http.StatusBadRequest, []byte("sdk: the admin page's request: " + err.Error())
	}
	if call.Method != http.MethodGet && call.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, []byte("sdk: an admin page takes GET or POST")
	}
	query, _ := url.ParseQuery(call.Query)
	if call.Form == nil {
		call.Form = url.Values{}
	}
	body := call.Form.Encode()
	u := &url.URL{Path: r.URL.Path, RawQuery: query.Encode()}
	req, err := http.NewRequestWithContext(r.Context(), call.Method, u.String(), strings.NewReader(body))
	if err != nil {
		return http.StatusBadRequest, []byte("sdk: the admin page's request: " + err.Error())
	}
	req.RequestURI = u.RequestURI()
	if call.Method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := &responseWriter{header: http.Header{}}
	h.ServeHTTP(w, req)
	resp := w.result()
	if resp.Status >= 300 && resp.Status < 400 {
		return resp.Status, []byte(w.header.Get("Location"))
	}
	if name := w.header.Get(abihttp.RenderHeader); name != "" {
		// sdk.Render: the body is the page's data, for the host to render.
		disp.hostHeaders = append(disp.hostHeaders, abi.Header{Name: abihttp.RenderHeader, Value: name})
	}
	return resp.Status, bytes.Clone(resp.Body)
}

package sdk

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/abi/abihttp"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// User is the signed-in user of a request.
type User struct {
	ID          int64
	Username    string
	DisplayName string
	// Roles lists the user's roles with the ones they imply: an admin has
	// "admin", "staff" and "member".
	Roles []string
}

// HasRole reports whether the user holds role (directly or implied).
func (u *User) HasRole(role string) bool {
	for _, r := range u.Roles {
		if r == role {
			return true
		}
	}
	return false
}

// callKey keys the request's callInfo in its context.
type callKey struct{}

// callInfo is what the host tells about a request beyond HTTP.
type callInfo struct {
	id   string
	user *User
}

// UserFrom returns the request's signed-in user, or nil for an anonymous
// request. The runtime has already enforced the route's access level from
// the manifest; UserFrom is for finer decisions.
func UserFrom(r *http.Request) *User {
	if c, _ := r.Context().Value(callKey{}).(*callInfo); c != nil {
		return c.user
	}
	return nil
}

// RequestID returns the runtime's id of the request, the one its access log
// and error pages show.
func RequestID(r *http.Request) string {
	if c, _ := r.Context().Value(callKey{}).(*callInfo); c != nil {
		return c.id
	}
	return ""
}

// SitePage makes the response a page of the site: write an HTML fragment
// (no <html> or <body>) and the runtime renders it inside the site's layout,
// with its navigation, sign-in state and theme, under the given title. Call
// it before writing the body.
func SitePage(w http.ResponseWriter, title string) {
	w.Header().Set(abihttp.LayoutHeader, abihttp.LayoutSite)
	w.Header().Set(abihttp.TitleHeader, title)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
}

// Handle installs the module's handler. Call it once, from an init function.
func Handle(h http.Handler) {
	disp.h = h
	hostcall.SetHandler(disp.serve)
}

// disp is the module's one dispatcher: Handle and HealthCheck fill it in
// from init functions, before the host's first call.
var disp dispatcher

// dispatcher decodes host requests, runs the handler (or, for the host's
// health call, the health check), and encodes the response into a buffer it
// reuses.
type dispatcher struct {
	h         http.Handler
	health    func(context.Context) error
	hostPaths map[string]hostHandler // the host's calls into the module (host.go)
	out       []byte
	// w is the response writer of every request, reset between them (an
	// instance serves one request at a time).
	w responseWriter
	// hostHeaders are the headers of the answer to the host call being
	// served (an admin page rendered by the host: abihttp.RenderHeader).
	hostHeaders []abi.Header
}

// serve decodes one request (in is a buffer of its own, never written
// again, so the request's strings share it), runs it and encodes the
// response.
func (d *dispatcher) serve(in []byte) []byte {
	var req abi.HTTPRequest
	if err := req.UnmarshalAlias(in); err != nil {
		return d.reply(&abi.HTTPResponse{Status: http.StatusBadRequest, Body: []byte(err.Error())})
	}
	r, err := newRequest(&req)
	if err != nil {
		return d.reply(&abi.HTTPResponse{Status: http.StatusBadRequest, Body: []byte(err.Error())})
	}
	if p := r.Header.Get(abihttp.AssetsHeader); p != "" {
		assetsPrefix = p // the same for every request of this instance
	}
	// Only the host sends this exact request: the runtime forwards no
	// client request under abi.HostPathPrefix, and no route may lie there.
	if req.Method == http.MethodGet && req.URI == abi.HealthPath {
		return d.reply(d.checkHealth(r.Context()))
	}
	if strings.HasPrefix(req.URI, abi.HostPathPrefix) {
		if h := d.hostRoute(r.URL.Path); h != nil && req.Method == http.MethodPost {
			d.hostHeaders = d.hostHeaders[:0]
			status, body := h(r)
			return d.reply(&abi.HTTPResponse{Status: status, Headers: d.hostHeaders, Body: body})
		}
		return d.reply(&abi.HTTPResponse{Status: http.StatusNotFound, Body: []byte("this module does not serve " + r.URL.Path + "\n")})
	}
	if d.h == nil {
		return d.reply(&abi.HTTPResponse{Status: http.StatusNotFound, Body: []byte("module registered no handler (call sdk.Handle in init)\n")})
	}
	w := &d.w
	w.reset()
	d.h.ServeHTTP(w, r)
	return d.reply(w.result())
}

func (d *dispatcher) reply(resp *abi.HTTPResponse) []byte {
	d.out = resp.AppendMarshal(d.out[:0])
	return d.out
}

func newRequest(req *abi.HTTPRequest) (*http.Request, error) {
	u, err := requestURL(req.URI)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, len(req.Headers))
	vals := make([]string, len(req.Headers)) // one backing array for the usual one value per name
	for i, kv := range req.Headers {
		if vs, ok := h[kv.Name]; ok {
			h[kv.Name] = append(vs, kv.Value)
			continue
		}
		vals[i] = kv.Value
		h[kv.Name] = vals[i : i+1 : i+1]
	}
	info := &callInfo{id: req.RequestID}
	if req.User != nil {
		info.user = &User{ID: req.User.ID, Username: req.User.Username, DisplayName: req.User.DisplayName, Roles: req.User.Roles}
	}
	ctx := context.WithValue(context.Background(), callKey{}, info)
	var body io.ReadCloser = http.NoBody
	if len(req.Body) > 0 {
		body = io.NopCloser(bytes.NewReader(req.Body))
	}
	r := &http.Request{
		Method:        req.Method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          body,
		ContentLength: int64(len(req.Body)),
		Host:          req.Host,
		RemoteAddr:    req.RemoteAddr,
		RequestURI:    req.URI,
	}
	return r.WithContext(ctx), nil
}

// requestURL is url.ParseRequestURI(uri), without its cost for the usual
// URI: a path of characters that need no escaping and a query of visible
// ASCII, which is what the runtime sends for almost every request (parsing
// it the general way is a tenth of a small request's time inside the
// module). The result is the same (FuzzRequestURL).
func requestURL(uri string) (*url.URL, error) {
	if path, query, ok := simpleURI(uri); ok {
		return &url.URL{Path: path, RawQuery: query}, nil
	}
	return url.ParseRequestURI(uri)
}

// simpleURI splits uri into its path and query when both need no decoding
// or checking: a path of unreserved characters and sub-delimiters (no '%',
// nothing url.URL would escape) and a non-empty query of visible ASCII
// without '#'.
func simpleURI(uri string) (path, query string, ok bool) {
	if uri == "" || uri[0] != '/' {
		return "", "", false
	}
	path, query, hasQuery := strings.Cut(uri, "?")
	if hasQuery && query == "" {
		return "", "", false // "/p?" sets url.URL.ForceQuery
	}
	for i := 0; i < len(path); i++ {
		if !plainPath[path[i]] {
			return "", "", false
		}
	}
	for i := 0; i < len(query); i++ {
		if c := query[i]; c < 0x21 || c > 0x7e || c == '#' {
			return "", "", false
		}
	}
	return path, query, true
}

// plainPath are the bytes a path may hold for simpleURI.
var plainPath = func() (t [256]bool) {
	for _, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~$&+,/:;=@" {
		t[c] = true
	}
	return t
}()

// responseWriter buffers a response; the whole body goes back to the host
// when the handler returns.
type responseWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
	// headers is result's list, kept between requests.
	headers []abi.Header
}

// maxKeep is the largest body buffer a responseWriter keeps for the next
// request; a larger one is dropped so one big response does not pin its
// memory.
const maxKeep = 256 << 10

// reset readies w for the next request.
func (w *responseWriter) reset() {
	if w.header == nil {
		w.header = http.Header{}
	}
	clear(w.header)
	w.status = 0
	if w.body.Cap() > maxKeep {
		w.body = bytes.Buffer{}
	}
	w.body.Reset()
	clear(w.headers)
	w.headers = w.headers[:0]
}

var _ http.Flusher = (*responseWriter)(nil)

func (w *responseWriter) Header() http.Header { return w.header }

// WriteHeader panics on a status outside 100-999, as net/http does.
func (w *responseWriter) WriteHeader(status int) {
	if status < 100 || status > 999 {
		panic(fmt.Sprintf("sdk: invalid WriteHeader code %v", status))
	}
	if w.status == 0 {
		w.status = status
	}
}

func (w *responseWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Flush is a no-op: responses are sent whole.
func (w *responseWriter) Flush() {}

// result is the whole response. For HEAD too: the runtime, like net/http,
// answers HEAD with the headers of the full response and drops the body.
func (w *responseWriter) result() *abi.HTTPResponse {
	w.WriteHeader(http.StatusOK)
	body := w.body.Bytes()
	if w.header.Get("Content-Type") == "" && len(body) > 0 {
		w.header.Set("Content-Type", http.DetectContentType(body))
	}
	for name, vs := range w.header {
		for _, v := range vs {
			w.headers = append(w.headers, abi.Header{Name: name, Value: v})
		}
	}
	return &abi.HTTPResponse{Status: w.status, Headers: w.headers, Body: body}
}

package sdktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/internal/modassets"
	"github.com/websonic/websonic/internal/safetmpl"
	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/abi/abihttp"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// The runtime's default limits, which Do applies.
const (
	// MaxRequestBytes caps a request body (the runtime's default, 1 MiB).
	MaxRequestBytes = 1 << 20
	// MaxResponseBytes caps an encoded response (the runtime's default,
	// 8 MiB).
	MaxResponseBytes = 8 << 20
)

// SessionCookie is the core site's session cookie, which never reaches a
// module and which a module cannot set.
const SessionCookie = "websonic_session"

// ErrNotInRuntime is the error of every host call made natively: sdk.DB's
// queries and sdk.Config return it (test with errors.Is).
var ErrNotInRuntime = hostcall.ErrNotInRuntime

type requestIDKey struct{}

// WithRequestID returns a shallow copy of r whose request id, the one
// sdk.RequestID reports to the handler, is id. Without it Do makes up a
// unique id per request.
func WithRequestID(r *http.Request, id string) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), requestIDKey{}, id))
}

var (
	// mu serializes calls: the dispatcher reuses its output buffer and a
	// module instance serves one request at a time.
	mu     sync.Mutex
	lastID atomic.Uint64
)

// Do sends r to the handler the module installed with sdk.Handle, as the
// runtime would for a request by user (nil for an anonymous request), and
// returns the response the site would send. List a user's roles with the
// roles they imply, as the runtime does: an admin has "admin", "staff" and
// "member".
//
// r is typically made with httptest.NewRequest; Do reads and closes its
// body. The response's body is in memory; closing it is optional.
func Do(r *http.Request, user *sdk.User) *http.Response {
	rid, _ := r.Context().Value(requestIDKey{}).(string)
	if rid == "" {
		rid = fmt.Sprintf("%016x", lastID.Add(1))
	}
	var body []byte
	if r.Body != nil {
		b, err := io.ReadAll(io.LimitReader(r.Body, MaxRequestBytes+1))
		r.Body.Close()
		if err != nil {
			return errorResponse(r, http.StatusBadRequest, "could not read the request body")
		}
		if len(b) > MaxRequestBytes {
			return errorResponse(r, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", MaxRequestBytes))
		}
		body = b
	}
	req := abi.HTTPRequest{
		Method:     r.Method,
		URI:        r.URL.RequestURI(),
		Host:       r.Host,
		RemoteAddr: r.RemoteAddr,
		RequestID:  rid,
		Headers:    append(abihttp.RequestHeaders(r.Header, SessionCookie), abi.Header{Name: abihttp.AssetsHeader, Value: AssetsPrefix}),
		Body:       body,
	}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	if req.Host == "" {
		req.Host = r.URL.Host
	}
	if req.RemoteAddr == "" {
		req.RemoteAddr = "192.0.2.1:1234"
	}
	if user != nil {
		req.User = &abi.User{ID: user.ID, Username: user.Username, DisplayName: user.DisplayName, Roles: user.Roles}
	}
	out, ok := dispatch(req.AppendMarshal(nil))
	if !ok {
		return errorResponse(r, http.StatusBadGateway, fmt.Sprintf("%s (request id %s)", http.StatusText(http.StatusBadGateway), rid))
	}
	var resp abi.HTTPResponse
	if err := resp.Unmarshal(out); err != nil {
		return errorResponse(r, http.StatusBadGateway, fmt.Sprintf("%s (request id %s)", http.StatusText(http.StatusBadGateway), rid))
	}
	return response(r, &resp)
}

// AssetsPrefix stands, in Do's requests, for the path under which the
// runtime serves the module's assets (sdk.Asset builds on it).
const AssetsPrefix = "/static/modules/sdktest/0.0.0~0000000000000000/"

// dispatch runs the module's handler on an encoded request and returns a
// copy of the encoded response, or false when it exceeds the runtime's cap.
func dispatch(in []byte) ([]byte, bool) {
	mu.Lock()
	defer mu.Unlock()
	out := hostcall.Dispatch(in)
	if len(out) > MaxResponseBytes {
		return nil, false
	}
	return bytes.Clone(out), true
}

// response turns a module's response into what the site sends.
func response(r *http.Request, resp *abi.HTTPResponse) *http.Response {
	if name, ok := abihttp.Render(resp); ok {
		body, err := render(r, name, resp.Body)
		if err != nil {
			return errorResponse(r, http.StatusInternalServerError, err.Error())
		}
		resp.Body = body
		resp.Headers = slices.DeleteFunc(resp.Headers, func(h abi.Header) bool {
			return http.CanonicalHeaderKey(h.Name) == "Content-Type"
		})
		resp.Headers = append(resp.Headers, abi.Header{Name: "Content-Type", Value: "text/html; charset=utf-8"})
	}
	h := http.Header{}
	abihttp.ResponseHeader(h, resp, SessionCookie)
	h.Set("Content-Length", strconv.Itoa(len(resp.Body)))
	return newResponse(r, resp.Status, h, resp.Body)
}

// assetsDir is the package's assets folder, relative to the test's working
// directory (the module's folder, where go test runs).
const assetsDir = "assets"

// pages are the module's page templates, read once from
// assets/templates/ as the runtime reads them from the package.
var pages = sync.OnceValues(func() (*safetmpl.Pages, error) {
	files, err := modassets.Read(os.DirFS("."), assetsDir)
	if err != nil {
		return nil, err
	}
	return safetmpl.ParsePages(files)
})

// catalog is the module's message catalogue, read once from
// assets/locales/LANG.json as the runtime reads it (nil: none).
var catalog = sync.OnceValues(func() (*i18n.Catalog, error) {
	names, err := filepath.Glob(filepath.Join(assetsDir, "locales", "*.json"))
	if err != nil || len(names) == 0 {
		return nil, err
	}
	files := map[string][]byte{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, err
		}
		files[filepath.Base(n)] = b
	}
	return i18n.Parse(files)
})

// render renders a page as the runtime does for sdk.Render: the template,
// with the data, t translating through the module's catalogue into the
// language r's Accept-Language picks among the catalogue's (English
// otherwise), and the asset helper (AssetsPrefix).
func render(r *http.Request, name string, data []byte) ([]byte, error) {
	p, err := pages()
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("sdk.Render(%q): no templates in %s/%s/ of the package under test", name, assetsDir, safetmpl.PagesDir)
	}
	c, err := catalog()
	if err != nil {
		return nil, fmt.Errorf("sdk.Render(%q): the module's catalogue in %s/locales/: %w", name, assetsDir, err)
	}
	printer := &i18n.Printer{} // English, placeholders filled
	if c != nil {
		printer = c.Printer(c.Negotiate("", r.Header.Get("Accept-Language")))
	}
	var b bytes.Buffer
	err = p.Render(&b, name, data, safetmpl.Env{Printer: printer, Asset: func(a string) (string, error) {
		if _, err := os.Stat(filepath.Join(assetsDir, filepath.FromSlash(a))); err != nil {
			return "", fmt.Errorf("no asset %q in %s/", a, assetsDir)
		}
		return AssetsPrefix + a, nil
	}})
	return b.Bytes(), err
}

// errorResponse is a response the runtime makes itself, with http.Error.
func errorResponse(r *http.Request, status int, msg string) *http.Response {
	body := []byte(msg + "\n")
	h := http.Header{}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	return newResponse(r, status, h, body)
}

func newResponse(r *http.Request, status int, h http.Header, body []byte) *http.Response {
	n := int64(len(body))
	if r.Method == http.MethodHead {
		// No body; the length is what the module declared, if anything.
		body = nil
		var err error
		if n, err = strconv.ParseInt(h.Get("Content-Length"), 10, 64); err != nil {
			n = -1
		}
	}
	return &http.Response{
		Status:        strconv.Itoa(status) + " " + http.StatusText(status),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(body)),
		ContentLength: n,
		Request:       r,
	}
}

// ErrUnhealthy is wrapped by Health's error.
var ErrUnhealthy = errors.New("sdktest: module unhealthy")

// Health calls the module's health entry point (sdk.HealthCheck) as the
// runtime does before a new version of the module serves: GET on the path
// the runtime reserves for it, without a user. It returns nil for a 2xx
// answer, and otherwise an error wrapping ErrUnhealthy with the status and
// the message, as the runtime would log it. A panic in the check reaches
// the test.
func Health() error {
	r, err := http.NewRequest(http.MethodGet, abi.HealthPath, nil)
	if err != nil {
		return err
	}
	resp := Do(r, nil)
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	b, _ := io.ReadAll(resp.Body)
	return fmt.Errorf("%w: %d %s", ErrUnhealthy, resp.StatusCode, strings.TrimSpace(string(b)))
}

package outbound

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/websonic/websonic/sdk/abi"
)

// Limits of a request's header fields.
const (
	maxHeaders     = 100
	maxHeaderBytes = 64 << 10
)

// methods are the methods a module may use. CONNECT would open a tunnel
// and TRACE echoes what the runtime adds.
var methods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true,
	http.MethodPatch: true, http.MethodDelete: true, http.MethodOptions: true,
}

// hostHeaders are the header fields the runtime sets itself: hop-by-hop
// fields, the framing and the target. Names starting with Proxy- are
// refused too.
var hostHeaders = map[string]bool{
	"Host": true, "Connection": true, "Keep-Alive": true, "Transfer-Encoding": true, "Te": true,
	"Trailer": true, "Upgrade": true, "Content-Length": true, "Http2-Settings": true,
}

// fetch is a decoded, checked FetchRequest.
type fetch struct {
	method  string
	url     *url.URL
	origin  origin
	header  http.Header
	body    []byte
	timeout time.Duration // 0: the service's
}

// payloadError is a payload the service refuses: code is abi.HostErrInvalid
// or, for a body over the cap, abi.HostErrLimit.
type payloadError struct {
	code string
	msg  string
}

func (e *payloadError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &payloadError{abi.HostErrInvalid, fmt.Sprintf(format, args...)}
}

// decodeFetch decodes and checks the payload of http.fetch: one JSON
// document with only FetchRequest's fields, a method of methods, an
// absolute http(s) URL (parseURL), at most maxHeaders valid header fields
// that the runtime does not own, and a body of at most maxBody bytes.
func decodeFetch(payload []byte, maxBody int64) (*fetch, error) {
	var req abi.FetchRequest
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, invalid("payload is not a fetch request: %s", clip(err.Error()))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid("payload has data after the request")
	}
	f := &fetch{method: req.Method, header: http.Header{}, body: req.Body}
	if f.method == "" {
		f.method = http.MethodGet
	}
	if !methods[f.method] {
		return nil, invalid("method %q: use GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS", clip(f.method))
	}
	var err error
	if f.url, f.origin, err = parseURL(req.URL); err != nil {
		return nil, invalid("%s", err.Error())
	}
	if int64(len(req.Body)) > maxBody {
		return nil, &payloadError{abi.HostErrLimit, fmt.Sprintf("request body of %d bytes exceeds %d", len(req.Body), maxBody)}
	}
	if req.TimeoutMS < 0 {
		return nil, invalid("timeout_ms %d: must not be negative", req.TimeoutMS)
	}
	if req.TimeoutMS > 0 {
		f.timeout = time.Duration(min(req.TimeoutMS, int64(time.Hour/time.Millisecond))) * time.Millisecond
	}
	if len(req.Headers) > maxHeaders {
		return nil, invalid("%d header fields: at most %d", len(req.Headers), maxHeaders)
	}
	size := 0
	for _, h := range req.Headers {
		name, value := h[0], h[1]
		size += len(name) + len(value) + 4
		if size > maxHeaderBytes {
			return nil, invalid("header fields exceed %d bytes", maxHeaderBytes)
		}
		if !httpguts.ValidHeaderFieldName(name) {
			return nil, invalid("header name %q is not a valid token", clip(name))
		}
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, invalid("header %s: value has control characters", name)
		}
		canon := http.CanonicalHeaderKey(name)
		if hostHeaders[canon] || strings.HasPrefix(canon, "Proxy-") {
			return nil, invalid("header %s is set by the runtime, not by a module", canon)
		}
		f.header.Add(canon, value)
	}
	return f, nil
}

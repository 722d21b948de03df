package sdk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

// maxFetchBody is the largest request body HTTPClient sends: the runtime's
// default cap (ABI.md section 14); a site may set its own.
const maxFetchBody = 1 << 20

// HTTPClient returns an HTTP client whose requests the runtime makes for
// the module (the http.fetch host service, ABI.md section 14). It reaches
// only the origins (scheme://host:port) listed in the module's
// capabilities.outbound_http, as the site owner approved them, and only
// on public addresses unless the owner allowed an origin on a private one.
//
// The runtime follows redirects (at most 5, each to an approved origin)
// and the client follows none itself: a 3xx that reaches the module is the
// final answer. A request's context deadline shortens the runtime's
// per-fetch timeout (10 s by default; the module's call deadline bounds
// it too). Bodies are capped (1 MiB sent, 4 MiB received by default), and
// the runtime sets Host, Content-Length, Connection and the other
// hop-by-hop header fields itself: a request setting them fails.
//
// Errors wrap ErrDenied when the manifest does not allow the origin or it
// resolves to a non-public address, and a *HostError (errors.As) whose
// Code says why otherwise: abi.HostErrInvalid, abi.HostErrLimit (a body
// over its cap, too many fetches at once) or abi.HostErrFailed (the server
// was unreachable, timed out or its certificate was not trusted).
//
// The client is cheap; it holds no connections (the runtime does) and is
// safe for concurrent use.
func HTTPClient() *http.Client {
	return &http.Client{
		Transport:     fetchTransport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// fetchTransport is HTTPClient's transport: each round trip is one
// http.fetch host call.
type fetchTransport struct{}

func (fetchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	if req.URL == nil {
		return nil, errors.New("sdk: HTTPClient: request without a URL")
	}
	if req.Host != "" && req.Host != req.URL.Host {
		return nil, fmt.Errorf("sdk: HTTPClient: Host %q differs from the URL's host: the runtime sets Host", req.Host)
	}
	ctx := req.Context()
	in := abi.FetchRequest{Method: req.Method, URL: req.URL.String()}
	if d, ok := ctx.Deadline(); ok {
		left := time.Until(d)
		if left <= 0 {
			return nil, context.DeadlineExceeded
		}
		in.TimeoutMS = max(1, left.Milliseconds())
	}
	for name, values := range req.Header {
		for _, v := range values {
			in.Headers = append(in.Headers, abi.FetchHeader{name, v})
		}
	}
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, maxFetchBody+1))
		if err != nil {
			return nil, fmt.Errorf("sdk: HTTPClient: reading the request body: %w", err)
		}
		if len(b) > maxFetchBody {
			return nil, fmt.Errorf("sdk: HTTPClient: request body over %d bytes", maxFetchBody)
		}
		in.Body = b
	}
	var out abi.FetchResponse
	if err := callHost(ctx, abi.ServiceFetch, &in, &out); err != nil {
		return nil, fmt.Errorf("sdk: HTTPClient: %s %s: %w", req.Method, req.URL.Redacted(), err)
	}
	resp := &http.Response{
		Status:     strconv.Itoa(out.Status) + " " + http.StatusText(out.Status),
		StatusCode: out.Status,
		Proto:      "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{},
		Body:          io.NopCloser(bytes.NewReader(out.Body)),
		ContentLength: int64(len(out.Body)),
		Request:       req,
	}
	for _, h := range out.Headers {
		resp.Header.Add(h[0], h[1])
	}
	if out.URL != "" && out.URL != req.URL.String() {
		// After redirects: Response.Request is the request that answered,
		// as with net/http's own client.
		if u, err := req.URL.Parse(out.URL); err == nil {
			final := req.Clone(ctx)
			final.URL, final.Host = u, ""
			if !strings.EqualFold(u.Host, req.URL.Host) || u.Scheme != req.URL.Scheme {
				final.Header = http.Header{}
			}
			final.Body, final.GetBody = nil, nil
			resp.Request = final
		}
	}
	return resp, nil
}

package abi

import (
	"encoding/json"
	"errors"
)

// ServiceFetch is the host service that makes an outbound HTTP request for
// a module, to an origin its manifest lists in capabilities.outbound_http
// (ABI.md section 14).
const ServiceFetch = "http.fetch"

// FetchRequest is the payload of ServiceFetch.
type FetchRequest struct {
	// Method is the HTTP method ("" is GET).
	Method string `json:"method,omitempty"`
	// URL is the absolute http:// or https:// URL to fetch.
	URL string `json:"url"`
	// Headers are the request's header fields, in order; a name may repeat.
	Headers []FetchHeader `json:"headers,omitempty"`
	// Body is the request body (base64 in JSON).
	Body []byte `json:"body,omitempty"`
	// TimeoutMS, when positive, shortens the host's per-fetch timeout to
	// this many milliseconds (the guest's own context deadline).
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// FetchResponse is the answer of ServiceFetch: the final response, after
// the redirects the host followed.
type FetchResponse struct {
	Status  int           `json:"status"`
	Headers []FetchHeader `json:"headers,omitempty"`
	Body    []byte        `json:"body,omitempty"`
	// URL is the URL that answered (differs from the request's after a
	// redirect).
	URL string `json:"url"`
}

// FetchHeader is one header field, [name, value] in JSON.
type FetchHeader [2]string

// UnmarshalJSON reads exactly two strings: a longer or shorter array is an
// error, not silently padded or cut as for a plain Go array.
func (h *FetchHeader) UnmarshalJSON(b []byte) error {
	var s []string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if len(s) != 2 {
		return errors.New("abi: a header is [name, value]")
	}
	h[0], h[1] = s[0], s[1]
	return nil
}

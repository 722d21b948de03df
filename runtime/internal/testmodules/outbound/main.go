// Command outbound is a test-only module for the http.fetch host service:
// POST /outbound/fetch with a JSON instruction makes that request through
// sdk.HTTPClient and answers, as JSON, what came back or the error. The
// runtime's tests (runtime/server/outbound_test.go) rewrite its manifest's
// outbound_http with the origins of their own servers.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /outbound/ping", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "pong") })
	mux.HandleFunc("POST /outbound/fetch", fetch)
	sdk.Handle(mux)
}

func main() {}

// instruction is what the test asks the module to fetch.
type instruction struct {
	Method    string      `json:"method"`
	URL       string      `json:"url"`
	Headers   [][2]string `json:"headers"`
	Body      string      `json:"body"`
	TimeoutMS int64       `json:"timeout_ms"` // the request's context deadline
}

// outcome is what the module saw.
type outcome struct {
	Status  int                 `json:"status,omitempty"`
	Headers map[string][]string `json:"headers,omitempty"`
	Body    string              `json:"body,omitempty"`
	BodyLen int                 `json:"body_len"`
	URL     string              `json:"url,omitempty"`
	Error   string              `json:"error,omitempty"`
	Code    string              `json:"code,omitempty"` // the HostError's
	Denied  bool                `json:"denied,omitempty"`
}

func fetch(w http.ResponseWriter, r *http.Request) {
	var in instruction
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	if in.TimeoutMS > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(in.TimeoutMS)*time.Millisecond)
		defer cancel()
	}
	var body io.Reader
	if in.Body != "" {
		body = strings.NewReader(in.Body)
	}
	req, err := http.NewRequestWithContext(ctx, in.Method, in.URL, body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, h := range in.Headers {
		req.Header.Add(h[0], h[1])
	}
	var out outcome
	resp, err := sdk.HTTPClient().Do(req)
	if err != nil {
		out.Error = err.Error()
		out.Denied = errors.Is(err, sdk.ErrDenied)
		var he *sdk.HostError
		if errors.As(err, &he) {
			out.Code = he.Code
		}
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out.Status, out.Headers, out.BodyLen, out.URL = resp.StatusCode, resp.Header, len(b), resp.Request.URL.String()
		if len(b) <= 4096 {
			out.Body = string(b)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(&out)
}

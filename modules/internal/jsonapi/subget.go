package jsonapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// SubGet serves GET path (with its query) through h, the module's own
// mux, as r's user, and decodes the JSON answer into v: how a page reads
// its first state through the same API its script calls. An answer other
// than 200 is returned as the *Error its {"error"} describes, or as a
// plain error quoting the start of the body.
func SubGet(h http.Handler, r *http.Request, path string, v any) error {
	u, err := url.Parse(path)
	if err != nil {
		return err
	}
	sub := r.Clone(r.Context()) // the context carries the user (sdk.UserFrom)
	sub.Method, sub.URL, sub.RequestURI = http.MethodGet, u, u.RequestURI()
	sub.Body, sub.ContentLength = http.NoBody, 0
	sub.Header = http.Header{"Accept": {"application/json"}}
	rec := &recorder{header: http.Header{}}
	h.ServeHTTP(rec, sub)
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	if rec.status != http.StatusOK {
		var e struct {
			Error string `json:"error"`
			Code  string `json:"code"`
		}
		if json.Unmarshal(rec.body.Bytes(), &e) != nil || e.Error == "" {
			return fmt.Errorf("GET %s: %d %q", path, rec.status, cut(rec.body.String(), 200))
		}
		return &Error{Status: rec.status, Code: e.Code, Msg: e.Error}
	}
	if err := json.Unmarshal(rec.body.Bytes(), v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}

// recorder is the http.ResponseWriter of SubGet.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *recorder) Header() http.Header { return c.header }

func (c *recorder) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}

func (c *recorder) Write(p []byte) (int, error) {
	c.WriteHeader(http.StatusOK)
	return c.body.Write(p)
}

// cut shortens s to at most n bytes of whole characters, for messages.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

package limit

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// ErrSlowBody is wrapped by the read error of a request body that stalled
// or arrived below the minimum rate (see Bodies).
var ErrSlowBody = errors.New("limit: request body too slow")

// Bodies bounds how slowly request bodies may arrive, on every request
// that has one (see Middleware). Its zero value bounds nothing.
type Bodies struct {
	// Idle is the longest wait for the next bytes of a body; it is also the
	// grace before MinRate applies. 0 means no bound.
	Idle time.Duration
	// MinRate is the average rate, in bytes per second from the start of the
	// body, below which a body is cut off once Idle has passed. 0 means
	// none.
	MinRate int64
	// Now is the clock (nil for time.Now).
	Now func() time.Time
}

// Middleware bounds the bodies of next's requests:
//
//   - Before each read of the body it sets the connection's read deadline
//     (http.ResponseController.SetReadDeadline) to Idle from now, or
//     earlier to when the body's average rate would fall below MinRate:
//     a body of n bytes so far must bring more by start + Idle + n/MinRate.
//     A read past it fails with an error wrapping ErrSlowBody. The
//     deadline is cleared once the body has been read to its end, so it
//     never touches what comes after (net/http's watch on the connection).
//   - A response written before the body was read to its end carries
//     "Connection: close": net/http then closes the connection instead of
//     first reading up to 256 KiB of the unread body, which a client
//     dripping bytes could make last forever (a refused upload, a 401).
//
// Requests without a body are passed through untouched, so long-lived
// responses (watch streams) never see a read deadline.
func (b Bodies) Middleware(next http.Handler) http.Handler {
	if b.Now == nil {
		b.Now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			next.ServeHTTP(w, r)
			return
		}
		g := &guardedBody{b: b, body: r.Body, rc: http.NewResponseController(w), start: b.Now()}
		g.arm()
		r.Body = g
		next.ServeHTTP(&unreadCloser{ResponseWriter: w, body: g}, r)
	})
}

// guardedBody is a request body read under Bodies' deadlines.
type guardedBody struct {
	b     Bodies
	body  io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	n     int64
	eof   atomic.Bool
}

// arm sets the read deadline for the next bytes.
func (g *guardedBody) arm() {
	if g.b.Idle <= 0 {
		return
	}
	now := g.b.Now()
	d := now.Add(g.b.Idle)
	if g.b.MinRate > 0 {
		byRate := g.start.Add(g.b.Idle + time.Duration(float64(g.n)/float64(g.b.MinRate)*float64(time.Second)))
		if byRate.Before(d) {
			d = byRate
		}
	}
	g.rc.SetReadDeadline(d) // ErrNotSupported: nothing to bound with
}

func (g *guardedBody) Read(p []byte) (int, error) {
	g.arm()
	n, err := g.body.Read(p)
	g.n += int64(n)
	switch {
	case err == io.EOF:
		g.eof.Store(true)
		g.rc.SetReadDeadline(time.Time{})
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = fmt.Errorf("%w: %d bytes in %v (at least %d bytes/s, and no pause of %v): %w",
			ErrSlowBody, g.n, g.b.Now().Sub(g.start).Round(time.Millisecond), g.b.MinRate, g.b.Idle, err)
	}
	return n, err
}

func (g *guardedBody) Close() error { return g.body.Close() }

// unreadCloser closes the connection after a response written before the
// request's body was read to its end.
type unreadCloser struct {
	http.ResponseWriter
	body    *guardedBody
	written bool
}

func (u *unreadCloser) check() {
	if !u.written {
		u.written = true
		if !u.body.eof.Load() {
			u.Header().Set("Connection", "close")
		}
	}
}

func (u *unreadCloser) WriteHeader(code int) {
	if code >= 200 { // informational answers (100 Continue) end nothing
		u.check()
	}
	u.ResponseWriter.WriteHeader(code)
}

func (u *unreadCloser) Write(b []byte) (int, error) {
	u.check()
	return u.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (u *unreadCloser) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// Body returns r's body limited to n bytes. A declared Content-Length
// over n is refused at once, before a byte is read, with the error the
// limited reader returns past n: an *http.MaxBytesError.
func Body(w http.ResponseWriter, r *http.Request, n int64) (io.Reader, error) {
	if r.ContentLength > n {
		return nil, fmt.Errorf("limit: declared Content-Length %d: %w", r.ContentLength, &http.MaxBytesError{Limit: n})
	}
	return http.MaxBytesReader(w, r.Body, n), nil
}

// ReadBody reads r's whole body, at most n bytes (see Body).
func ReadBody(w http.ResponseWriter, r *http.Request, n int64) ([]byte, error) {
	body, err := Body(w, r, n)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(body)
}

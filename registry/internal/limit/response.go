package limit

import (
	"net/http"
	"time"
)

// Responses bounds how slowly clients may take their responses (see
// Middleware). Its zero value bounds nothing.
type Responses struct {
	// Idle is the longest a write of the response may wait for the client
	// to take bytes; it is also the grace before MinRate applies. 0 means
	// no bound.
	Idle time.Duration
	// MinRate is the average rate, in bytes per second from the response's
	// first write, below which a response is cut off once Idle has passed.
	// 0 means none.
	MinRate int64
	// Now is the clock (nil for time.Now).
	Now func() time.Time
}

// Middleware bounds the responses of next, the mirror of Bodies: before
// each write (and at the start, and once more when next returns, for the
// writes net/http makes itself) it sets the connection's write deadline
// (http.ResponseController.SetWriteDeadline; over HTTP/2 the stream's) to
// Idle from now, or earlier to when the response's average rate would fall
// below MinRate: n bytes written so far must be taken by start + Idle +
// n/MinRate, start being the first write (a response may follow a long
// upload). A client that stops reading, or reads a byte at a time, then
// loses its request, with the goroutine and the open file it held; a write
// past the deadline fails and net/http closes the connection (HTTP/2:
// resets the stream).
//
// Long-lived streams that set their own deadline per write (the watch
// stream) must not be behind it: their average rate is near zero by
// design.
func (b Responses) Middleware(next http.Handler) http.Handler {
	if b.Idle <= 0 {
		return next
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := &pacedWriter{ResponseWriter: w, b: b, rc: http.NewResponseController(w)}
		p.arm()
		defer p.arm()
		next.ServeHTTP(p, r)
	})
}

// pacedWriter is a ResponseWriter written under Responses' deadlines.
type pacedWriter struct {
	http.ResponseWriter
	b     Responses
	rc    *http.ResponseController
	start time.Time // of the first write; zero before
	n     int64
}

// arm sets the write deadline for the next bytes.
func (p *pacedWriter) arm() {
	now := p.b.Now()
	d := now.Add(p.b.Idle)
	if p.b.MinRate > 0 && !p.start.IsZero() {
		byRate := p.start.Add(p.b.Idle + time.Duration(float64(p.n)/float64(p.b.MinRate)*float64(time.Second)))
		if byRate.Before(d) {
			d = byRate
		}
	}
	p.rc.SetWriteDeadline(d) // ErrNotSupported: nothing to bound with
}

// started marks the response's first write.
func (p *pacedWriter) started() {
	if p.start.IsZero() {
		p.start = p.b.Now()
	}
}

func (p *pacedWriter) WriteHeader(code int) {
	p.started()
	p.arm()
	p.ResponseWriter.WriteHeader(code)
}

func (p *pacedWriter) Write(b []byte) (int, error) {
	p.started()
	p.arm()
	n, err := p.ResponseWriter.Write(b)
	p.n += int64(n)
	return n, err
}

// Flush flushes what was written (http.Flusher), within the deadline.
func (p *pacedWriter) Flush() {
	p.arm()
	p.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (p *pacedWriter) Unwrap() http.ResponseWriter { return p.ResponseWriter }

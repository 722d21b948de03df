package limit

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// deadlineRecorder is a ResponseWriter that records the read deadlines
// http.ResponseController sets through it, and can make reads fail as if
// the deadline had passed.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

// stepReader returns one byte per Read, advancing the clock by step
// before each.
type stepReader struct {
	c    *clock
	step time.Duration
	left int
	err  error // returned once left is 0 (io.EOF if nil)
}

func (s *stepReader) Read(p []byte) (int, error) {
	if s.left == 0 {
		if s.err != nil {
			return 0, s.err
		}
		return 0, io.EOF
	}
	s.c.t = s.c.t.Add(s.step)
	s.left--
	p[0] = 'x'
	return 1, nil
}

func TestBodiesDeadlines(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	start := c.t
	b := Bodies{Idle: 10 * time.Second, MinRate: 1, Now: c.now}
	rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	var read []byte
	h := b.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var err error
		if read, err = io.ReadAll(r.Body); err != nil {
			t.Errorf("read: %v", err)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	req := httptest.NewRequest(http.MethodPut, "/x", nil)
	req.Body = io.NopCloser(&stepReader{c: c, step: 2 * time.Second, left: 3})
	req.ContentLength = 3
	h.ServeHTTP(rec, req)
	if string(read) != "xxx" {
		t.Fatalf("read %q", read)
	}
	// Armed at the start, then before each read: Idle from now, or the
	// rate's bound (start + Idle + n/MinRate) when earlier; cleared at EOF.
	want := []time.Time{
		start.Add(10 * time.Second), // start
		start.Add(10 * time.Second), // read 1, n=0: the rate's bound
		start.Add(11 * time.Second), // read 2 at +2s, n=1
		start.Add(12 * time.Second), // read 3 at +4s, n=2
		start.Add(13 * time.Second), // read 4 (EOF) at +6s, n=3
		{},                          // cleared
	}
	if len(rec.deadlines) != len(want) {
		t.Fatalf("deadlines %v, want %v", rec.deadlines, want)
	}
	for i := range want {
		if !rec.deadlines[i].Equal(want[i]) {
			t.Errorf("deadline %d = %v, want %v", i, rec.deadlines[i].Sub(start), want[i].Sub(start))
		}
	}
	if rec.Header().Get("Connection") == "close" {
		t.Error("a body read to its end closes the connection")
	}
}

func TestBodiesSlowAndUnread(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	b := Bodies{Idle: time.Second, Now: c.now}
	tests := []struct {
		name      string
		err       error // the body's error after its byte
		read      bool  // the handler reads the body
		wantSlow  bool
		wantClose bool
	}{
		{"deadline passed", os.ErrDeadlineExceeded, true, true, true},
		{"other error", io.ErrUnexpectedEOF, true, false, true},
		{"not read (a refusal)", nil, false, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
			var got error
			h := b.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.read {
					_, got = io.ReadAll(r.Body)
				}
				http.Error(w, "no", http.StatusBadRequest)
			}))
			req := httptest.NewRequest(http.MethodPut, "/x", nil)
			req.Body = io.NopCloser(&stepReader{c: c, left: 1, err: tt.err})
			req.ContentLength = -1
			h.ServeHTTP(rec, req)
			if errors.Is(got, ErrSlowBody) != tt.wantSlow || (tt.read && !errors.Is(got, tt.err)) {
				t.Fatalf("read error %v", got)
			}
			if (rec.Header().Get("Connection") == "close") != tt.wantClose {
				t.Fatalf("Connection %q", rec.Header().Get("Connection"))
			}
		})
	}
}

func TestBodiesSkipRequestsWithoutBody(t *testing.T) {
	rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	h := Bodies{Idle: time.Second}.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := w.(*deadlineRecorder); !ok {
			t.Error("the writer of a request without a body is wrapped")
		}
	}))
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/watch", nil))
	if len(rec.deadlines) != 0 {
		t.Fatalf("deadlines set on a request without a body: %v", rec.deadlines)
	}
}

func TestDeclaredBody(t *testing.T) {
	req := httptest.NewRequest(http.MethodPut, "/x", strings.NewReader("12345"))
	if _, err := ReadBody(httptest.NewRecorder(), req, 4); !isTooLarge(err) {
		t.Fatalf("declared 5 of 4: %v", err)
	}
	req = httptest.NewRequest(http.MethodPut, "/x", strings.NewReader("12345"))
	req.ContentLength = -1
	if _, err := ReadBody(httptest.NewRecorder(), req, 4); !isTooLarge(err) {
		t.Fatalf("undeclared 5 of 4: %v", err)
	}
	req = httptest.NewRequest(http.MethodPut, "/x", strings.NewReader("1234"))
	if b, err := ReadBody(httptest.NewRecorder(), req, 4); err != nil || string(b) != "1234" {
		t.Fatalf("4 of 4: %q %v", b, err)
	}
}

func isTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

package limit

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// writeDeadlines is a ResponseWriter that records the write deadlines
// http.ResponseController sets through it; each write advances the clock
// by step.
type writeDeadlines struct {
	*httptest.ResponseRecorder
	c         *clock
	step      time.Duration
	deadlines []time.Time
}

func (d *writeDeadlines) SetWriteDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

func (d *writeDeadlines) Write(b []byte) (int, error) {
	d.c.t = d.c.t.Add(d.step)
	return d.ResponseRecorder.Write(b)
}

// TestResponsesDeadlines: before each write of a response, the write
// deadline is Idle from now, or earlier the rate's bound, counted from the
// first write (a response may follow a long upload): a client taking the
// response below MinRate meets a deadline in the past.
func TestResponsesDeadlines(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	begin := c.t
	b := Responses{Idle: 10 * time.Second, MinRate: 1, Now: c.now}
	rec := &writeDeadlines{ResponseRecorder: httptest.NewRecorder(), c: c, step: 5 * time.Second}
	h := b.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.t = c.t.Add(time.Minute) // reading a body, say
		for range 4 {
			w.Write([]byte("x"))
		}
	}))
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/x", nil))
	first := begin.Add(time.Minute) // the first write
	want := []time.Time{
		begin.Add(10 * time.Second), // at the start: Idle from now
		first.Add(10 * time.Second), // write 1, n=0: start + Idle
		first.Add(11 * time.Second), // write 2 at +5s, n=1: start + Idle + 1s, before now + Idle
		first.Add(12 * time.Second), // write 3 at +10s, n=2: already past for this 1 B/s client
		first.Add(13 * time.Second), // write 4 at +15s, n=3
		first.Add(14 * time.Second), // when the handler returns, n=4
	}
	if len(rec.deadlines) != len(want) {
		t.Fatalf("deadlines %v, want %v", rec.deadlines, want)
	}
	for i := range want {
		if !rec.deadlines[i].Equal(want[i]) {
			t.Errorf("deadline %d = %v, want %v", i, rec.deadlines[i].Sub(begin), want[i].Sub(begin))
		}
	}
	if rec.Body.String() != "xxxx" {
		t.Fatalf("body %q", rec.Body.String())
	}
}

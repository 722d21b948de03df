package limit

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// clock is a test clock moved by hand.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestThrottle(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	th := NewThrottle("attempts", Rate{Every: 10 * time.Second, Burst: 3}, c.now)
	for i := range 3 {
		if err := th.Check("a"); err != nil {
			t.Fatalf("check %d: %v", i, err)
		}
		if err := th.Take("a"); err != nil {
			t.Fatalf("take %d: %v", i, err)
		}
	}
	err := th.Take("a")
	var ref *Refusal
	if !errors.As(err, &ref) || !errors.Is(err, ErrLimited) {
		t.Fatalf("fourth take = %v, want a Refusal", err)
	}
	if ref.After != 10*time.Second || RetryAfter(ref.After) != "10" {
		t.Fatalf("retry after %v", ref.After)
	}
	if err := th.Check("a"); err == nil {
		t.Fatal("Check passes an empty bucket")
	}
	if err := th.Take("b"); err != nil {
		t.Fatalf("another client: %v", err)
	}
	c.t = c.t.Add(4 * time.Second)
	if err := th.Check("a"); !errors.As(err, &ref) || ref.After != 6*time.Second {
		t.Fatalf("after 4 s: %v", err)
	}
	c.t = c.t.Add(6 * time.Second)
	if err := th.Take("a"); err != nil {
		t.Fatalf("after a refill: %v", err)
	}
}

func TestThrottleBounded(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	th := NewThrottle("x", Rate{Every: time.Second, Burst: 2}, c.now)
	for i := range maxThrottled {
		th.Take(fmt.Sprint(i))
	}
	c.t = c.t.Add(time.Minute) // every bucket refilled: forgettable
	th.Take("new")
	if n := len(th.m); n != 1 {
		t.Fatalf("%d clients remembered after the sweep, want 1", n)
	}
}

func TestRetryAfter(t *testing.T) {
	for d, want := range map[time.Duration]string{0: "1", time.Millisecond: "1", time.Second: "1", 1500 * time.Millisecond: "2", time.Minute: "60"} {
		if got := RetryAfter(d); got != want {
			t.Errorf("RetryAfter(%v) = %s, want %s", d, got, want)
		}
	}
}

package jobs

import (
	"testing"
	"time"
)

func TestSchedule(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		cron, now, prev, next string
	}{
		{"* * * * *", "2026-11-30T12:31:40Z", "2026-11-30T12:31:00Z", "2026-11-30T12:32:00Z"},
		{"* * * * *", "2026-11-30T12:31:00Z", "2026-11-30T12:31:00Z", "2026-11-30T12:32:00Z"},
		{"*/15 * * * *", "2026-11-30T12:31:40Z", "2026-11-30T12:30:00Z", "2026-11-30T12:45:00Z"},
		{"0 3 * * *", "2026-11-30T12:31:40Z", "2026-11-30T03:00:00Z", "2026-12-01T03:00:00Z"},
		{"0 0 1 1 *", "2026-11-30T12:31:40Z", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"},
		// 2026-11-29 is a Sunday: 7 and 0 both name it.
		{"0 12 * * 7", "2026-11-30T12:31:40Z", "2026-11-29T12:00:00Z", "2026-12-06T12:00:00Z"},
		{"0 12 * * 0", "2026-11-30T12:31:40Z", "2026-11-29T12:00:00Z", "2026-12-06T12:00:00Z"},
		{"0 12 * * 6-7", "2026-11-30T12:31:40Z", "2026-11-29T12:00:00Z", "2026-12-05T12:00:00Z"},
		{"0 12 * * 1-5/2", "2026-11-30T12:31:40Z", "2026-11-30T12:00:00Z", "2026-12-02T12:00:00Z"},
		{"0 0 30 2 *", "2026-11-30T12:31:40Z", "", ""}, // never
	} {
		s, err := Parse(tc.cron)
		if err != nil {
			t.Fatalf("%s: %v", tc.cron, err)
		}
		now := at(tc.now)
		fmtT := func(v time.Time) string {
			if v.IsZero() {
				return ""
			}
			return v.Format(time.RFC3339)
		}
		if got := fmtT(s.Prev(now)); got != tc.prev {
			t.Errorf("%q Prev(%s) = %s, want %s", tc.cron, tc.now, got, tc.prev)
		}
		if got := fmtT(s.Next(now)); got != tc.next {
			t.Errorf("%q Next(%s) = %s, want %s", tc.cron, tc.now, got, tc.next)
		}
	}
}

func TestSundaySeven(t *testing.T) {
	for in, want := range map[string]string{"7": "0", "5-7": "0,5,6", "1,7": "0,1", "*/2": "*/2", "1-5": "1-5", "0-7/7": "0", "3/2": "0,3,5"} {
		got, err := sundaySeven(in)
		if err != nil || got != want {
			t.Errorf("sundaySeven(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

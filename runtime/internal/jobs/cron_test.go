package jobs

import (
	"testing"
	"time"

	"github.com/websonic/websonic/sdk/manifest"
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

// FuzzSchedule: any expression the manifest accepts parses, and its ticks
// bracket the time: Prev ≤ t < Next, on minute boundaries.
func FuzzSchedule(f *testing.F) {
	for _, s := range []string{"* * * * *", "*/7 1-5 * * 1-7/2", "0 0 29 2 *", "5,10 */3 1 1-12/4 7"} {
		f.Add(s, int64(1_900_000_000))
	}
	f.Fuzz(func(t *testing.T, expr string, unix int64) {
		m := manifest.Manifest{ManifestVersion: 2, Name: "f", Version: "1.0.0", ABIVersion: 2,
			Capabilities: manifest.Capabilities{Schedules: []manifest.Schedule{{Name: "j", Cron: expr}}}}
		if m.Validate() != nil {
			return
		}
		s, err := Parse(expr)
		if err != nil {
			t.Fatalf("the manifest accepts %q, Parse refuses it: %v", expr, err)
		}
		now := time.Unix(unix%4_000_000_000, 0).UTC()
		if p := s.Prev(now); !p.IsZero() && (p.After(now) || p.Second() != 0) {
			t.Fatalf("%q Prev(%s) = %s", expr, now, p)
		}
		if n := s.Next(now); !n.IsZero() && (!n.After(now) || n.Second() != 0) {
			t.Fatalf("%q Next(%s) = %s", expr, now, n)
		}
	})
}

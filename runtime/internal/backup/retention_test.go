package backup

import (
	"slices"
	"testing"
	"time"
)

// at is a backup made at the given UTC time ("2006-01-02 15:04").
func at(t *testing.T, s string, mods ...func(*Info)) Info {
	t.Helper()
	tm, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		t.Fatal(err)
	}
	i := Info{Name: FileName(tm), Created: tm}
	for _, m := range mods {
		m(&i)
	}
	return i
}

func manual(i *Info) { i.Manual = true }
func good(i *Info)   { v := i.Created.Add(time.Minute); i.Verified = &v }
func bad(i *Info)    { good(i); i.VerifyError = "table mod_chat.messages: 9 rows, want 10" }

// daysFrom is one scheduled backup a day at 03:00 from start, n days.
func daysFrom(t *testing.T, start string, n int) []Info {
	d, _ := time.Parse("2006-01-02", start)
	var out []Info
	for i := range n {
		out = append(out, at(t, d.AddDate(0, 0, i).Format("2006-01-02")+" 03:00", good))
	}
	return out
}

func TestRetentionPlan(t *testing.T) {
	tests := []struct {
		name    string
		r       Retention
		backups []Info
		keep    []string // dates ("2006-01-02 15:04") kept, with their kinds
		kinds   []string
	}{
		{
			name:    "the newest of each day",
			r:       Retention{Daily: 7},
			backups: []Info{at(t, "2026-03-01 03:00"), at(t, "2026-03-01 15:00"), at(t, "2026-03-02 03:00")},
			keep:    []string{"2026-03-02 03:00", "2026-03-01 15:00"},
			kinds:   []string{"daily", "daily"},
		},
		{
			// 2026-01-01 .. 2026-02-09 (a Monday): 7 days, the newest of
			// ISO weeks 7, 6, 5 and 4, of February and January.
			name:    "forty days under the defaults",
			r:       DefaultRetention(),
			backups: daysFrom(t, "2026-01-01", 40),
			keep: []string{"2026-02-09 03:00", "2026-02-08 03:00", "2026-02-07 03:00", "2026-02-06 03:00", "2026-02-05 03:00",
				"2026-02-04 03:00", "2026-02-03 03:00", "2026-02-01 03:00", "2026-01-31 03:00", "2026-01-25 03:00"},
			kinds: []string{"daily,weekly,monthly", "daily,weekly", "daily", "daily", "daily", "daily", "daily", "weekly", "monthly", "weekly"},
		},
		{
			name:    "a year keeps six months",
			r:       Retention{Monthly: 6},
			backups: daysFrom(t, "2025-01-01", 365),
			keep:    []string{"2025-12-31 03:00", "2025-11-30 03:00", "2025-10-31 03:00", "2025-09-30 03:00", "2025-08-31 03:00", "2025-07-31 03:00"},
			kinds:   []string{"monthly", "monthly", "monthly", "monthly", "monthly", "monthly"},
		},
		{
			name:    "a failed backup keeps no day and waits for a newer good one",
			r:       Retention{Daily: 2},
			backups: []Info{at(t, "2026-03-01 03:00", good), at(t, "2026-03-02 03:00", bad), at(t, "2026-03-03 03:00")},
			keep:    []string{"2026-03-03 03:00", "2026-03-02 03:00", "2026-03-01 03:00"},
			kinds:   []string{"daily", "failed", "daily"},
		},
		{
			name:    "a failed backup goes once a newer one verified",
			r:       Retention{Daily: 2},
			backups: []Info{at(t, "2026-03-01 03:00", good), at(t, "2026-03-02 03:00", bad), at(t, "2026-03-03 03:00", good)},
			keep:    []string{"2026-03-03 03:00", "2026-03-01 03:00"},
			kinds:   []string{"daily", "daily"},
		},
		{
			name: "manual backups take no day and are all kept",
			r:    Retention{Daily: 1},
			backups: []Info{at(t, "2026-03-01 03:00"), at(t, "2026-03-02 03:00"), at(t, "2026-03-02 10:00", manual),
				at(t, "2025-01-01 10:00", manual)},
			keep:  []string{"2026-03-02 10:00", "2026-03-02 03:00", "2025-01-01 10:00"},
			kinds: []string{"manual", "daily", "manual"},
		},
		{
			name: "a manual count keeps the newest",
			r:    Retention{Daily: 1, Manual: 2},
			backups: []Info{at(t, "2026-03-01 10:00", manual), at(t, "2026-03-02 10:00", manual), at(t, "2026-03-03 10:00", manual),
				at(t, "2026-03-03 03:00")},
			keep:  []string{"2026-03-03 10:00", "2026-03-03 03:00", "2026-03-02 10:00"},
			kinds: []string{"manual", "daily", "manual"},
		},
		{
			name:    "nothing kept when every count is zero",
			r:       Retention{},
			backups: []Info{at(t, "2026-03-01 03:00")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var keep, kinds []string
			plan := tt.r.Plan(tt.backups)
			if len(plan) != len(tt.backups) {
				t.Fatalf("%d decisions for %d backups", len(plan), len(tt.backups))
			}
			for i, d := range plan {
				if i > 0 && d.Info.Created.After(plan[i-1].Info.Created) {
					t.Errorf("decisions not newest first at %d", i)
				}
				if d.Keep {
					keep = append(keep, d.Info.Created.Format("2006-01-02 15:04"))
					kinds = append(kinds, d.Kind)
				} else if d.Kind != "" {
					t.Errorf("%s goes with kind %q", d.Info.Name, d.Kind)
				}
			}
			if !slices.Equal(keep, tt.keep) || !slices.Equal(kinds, tt.kinds) {
				t.Errorf("kept\n %q\n %q\nwant\n %q\n %q", keep, kinds, tt.keep, tt.kinds)
			}
		})
	}
}

func TestRetentionValidate(t *testing.T) {
	for _, r := range []Retention{{}, {Daily: -1, Weekly: 3}, {Daily: 1, Manual: -1}, {Daily: 1001}} {
		if r.Validate() == nil {
			t.Errorf("%+v accepted", r)
		}
	}
	if err := DefaultRetention().Validate(); err != nil {
		t.Error(err)
	}
}

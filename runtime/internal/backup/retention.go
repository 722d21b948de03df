package backup

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Retention says which backups the store keeps (Prune), in the manner of
// restic's and borg's --keep-daily/weekly/monthly: scheduled backups are
// walked newest first, and each rule keeps the newest backup of each of
// its most recent periods (UTC days, ISO weeks, months) up to its count;
// a backup any rule keeps stays. A scheduled backup whose verification
// failed keeps no period, and is removed once a newer backup verified;
// one not verified yet counts like a good one. Manual backups are kept
// until removed, or only the newest Manual of them when Manual > 0.
type Retention struct {
	// Daily, Weekly and Monthly are how many days, weeks and months keep
	// their newest scheduled backup (0: none; DefaultRetention and the
	// site's settings: 7, 4, 6).
	Daily, Weekly, Monthly int
	// Manual is how many manual backups are kept (0: all, until removed).
	Manual int
}

// DefaultRetention keeps 7 daily, 4 weekly and 6 monthly backups, and
// every manual one.
func DefaultRetention() Retention { return Retention{Daily: 7, Weekly: 4, Monthly: 6} }

// Validate reports a retention that keeps no scheduled backup at all.
func (r Retention) Validate() error {
	if r.Daily < 0 || r.Weekly < 0 || r.Monthly < 0 || r.Manual < 0 {
		return fmt.Errorf("backup: retention counts are 0 or more")
	}
	if r.Daily > 1000 || r.Weekly > 1000 || r.Monthly > 1000 || r.Manual > 1000 {
		return fmt.Errorf("backup: retention counts are at most 1000")
	}
	if r.Daily <= 0 && r.Weekly <= 0 && r.Monthly <= 0 {
		return fmt.Errorf("backup: retention keeps no scheduled backup (daily, weekly and monthly are all 0)")
	}
	return nil
}

// Decision is what Plan decides for one backup.
type Decision struct {
	Info Info
	Keep bool
	// Kind names the rules that keep it ("daily,weekly", "manual"), or
	// is "" when it goes.
	Kind string
}

type rule struct {
	name   string
	count  int
	period func(time.Time) string
}

// Plan decides, for each backup, whether r keeps it; the decisions are
// newest first.
func (r Retention) Plan(backups []Info) []Decision {
	l := slices.Clone(backups)
	sortNewest(l)
	rules := []rule{
		{"daily", r.Daily, func(t time.Time) string { return t.UTC().Format("2006-01-02") }},
		{"weekly", r.Weekly, func(t time.Time) string { y, w := t.UTC().ISOWeek(); return fmt.Sprintf("%d-W%02d", y, w) }},
		{"monthly", r.Monthly, func(t time.Time) string { return t.UTC().Format("2006-01") }},
	}
	kinds := make([][]string, len(l))
	for _, ru := range rules {
		last, n := "", 0
		for i, b := range l {
			if n >= ru.count {
				break
			}
			if b.Manual || b.Bad() {
				continue
			}
			if p := ru.period(b.Created); p != last {
				last = p
				n++
				kinds[i] = append(kinds[i], ru.name)
			}
		}
	}
	out := make([]Decision, len(l))
	manual, newerGood := 0, false
	for i, b := range l {
		d := Decision{Info: b}
		switch {
		case b.Manual:
			manual++
			d.Keep = r.Manual <= 0 || manual <= r.Manual
			if d.Keep {
				d.Kind = "manual"
			}
		case b.Bad():
			d.Keep = !newerGood // kept for inspection until a newer one is good
			if d.Keep {
				d.Kind = "failed"
			}
		default:
			d.Keep, d.Kind = len(kinds[i]) > 0, strings.Join(kinds[i], ",")
		}
		if !b.Manual && b.Good() {
			newerGood = true
		}
		out[i] = d
	}
	return out
}

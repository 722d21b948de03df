package jobs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a parsed five-field cron expression, evaluated in UTC.
type Schedule struct{ s cron.Schedule }

// Parse parses a five-field cron expression (minute hour day-of-month
// month day-of-week; the manifest package validates its syntax). Day of
// week 7 is Sunday, as 0. Like Vixie cron, when both day fields are
// restricted a day matching either runs.
func Parse(expr string) (Schedule, error) {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return Schedule{}, fmt.Errorf("jobs: cron %q: want five fields", expr)
	}
	dow, err := sundaySeven(fields[4])
	if err != nil {
		return Schedule{}, fmt.Errorf("jobs: cron %q: %w", expr, err)
	}
	fields[4] = dow
	s, err := cron.ParseStandard("CRON_TZ=UTC " + strings.Join(fields, " "))
	if err != nil {
		return Schedule{}, fmt.Errorf("jobs: cron %q: %w", expr, err)
	}
	return Schedule{s}, nil
}

// sundaySeven rewrites a day-of-week field that names 7 (Sunday, which the
// parser knows as 0 only) as the explicit list of its days. A field
// starting with "*" is left alone: it is unrestricted (which matters when
// the day of month is restricted), and 7 can only be its step there.
func sundaySeven(f string) (string, error) {
	if strings.HasPrefix(f, "*") {
		return f, nil
	}
	seven := false
	days := map[int]bool{}
	for _, part := range strings.Split(f, ",") {
		rng, stepS, hasStep := strings.Cut(part, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepS)
			if err != nil || n < 1 {
				return "", fmt.Errorf("day of week %q: bad step", f)
			}
			step = n
		}
		lo, hi := 0, 7
		if rng != "*" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = strconv.Atoi(a); err != nil {
				return "", fmt.Errorf("day of week %q: %w", f, err)
			}
			hi = lo
			if isRange {
				if hi, err = strconv.Atoi(b); err != nil {
					return "", fmt.Errorf("day of week %q: %w", f, err)
				}
			} else if hasStep {
				hi = 7
			}
		}
		if lo < 0 || hi > 7 || lo > hi {
			return "", fmt.Errorf("day of week %q: out of 0-7", f)
		}
		for d := lo; d <= hi; d += step {
			if d == 7 {
				seven = true
			}
			days[d%7] = true
		}
	}
	if !seven {
		return f, nil
	}
	var list []string
	for d := range 7 {
		if days[d] {
			list = append(list, strconv.Itoa(d))
		}
	}
	return strings.Join(slices.Clip(list), ","), nil
}

// Next is the first tick after t (zero: none within five years).
func (s Schedule) Next(t time.Time) time.Time { return s.s.Next(t.UTC()) }

// Prev is the last tick at or before t (zero: none within five years).
func (s Schedule) Prev(t time.Time) time.Time {
	t = t.UTC()
	for _, back := range []time.Duration{time.Hour, 25 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour, 5 * 367 * 24 * time.Hour} {
		tick := s.s.Next(t.Add(-back))
		if tick.IsZero() || tick.After(t) {
			continue
		}
		for n := s.s.Next(tick); !n.IsZero() && !n.After(t); n = s.s.Next(n) {
			tick = n
		}
		return tick
	}
	return time.Time{}
}

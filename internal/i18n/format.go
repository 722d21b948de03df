package i18n

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/text/language"
)

// conventions are how a language writes numbers, sizes and dates.
type conventions struct {
	decimal, group string // separators
	byteUnits      [5]string
	months         [12]string
	// date writes day d of month m (an abbreviation) in year y.
	date func(d int, m string, y int) string
}

// nbsp joins a number to its unit, so that they never part at a line's
// end; narrowNBSP groups French thousands (CLDR's separator).
const (
	nbsp       = "\u00a0"
	narrowNBSP = "\u202f"
)

var english = conventions{
	decimal: ".", group: ",",
	byteUnits: [5]string{"B", "KiB", "MiB", "GiB", "TiB"},
	months:    [12]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"},
	date:      func(d int, m string, y int) string { return fmt.Sprintf("%s %d, %d", m, d, y) },
}

// byLanguage holds the conventions of the languages the product speaks,
// by base language; the others write as English does.
var byLanguage = map[string]*conventions{
	"fr": {
		decimal: ",", group: narrowNBSP,
		byteUnits: [5]string{"o", "Kio", "Mio", "Gio", "Tio"},
		months:    [12]string{"janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc."},
		date:      func(d int, m string, y int) string { return fmt.Sprintf("%d %s %d", d, m, y) },
	},
}

func (p *Printer) conventions() *conventions {
	base, _ := language.Make(p.Lang()).Base()
	if c, ok := byLanguage[base.String()]; ok {
		return c
	}
	return &english
}

// Number writes a count or a measure in p's language: integers grouped by
// thousands ("12,345", "12 345" in French), other numbers with at most two
// decimals, trailing zeros dropped ("0.25", "0,25"). v is any Go integer or
// float; anything else is written with fmt.
func (p *Printer) Number(v any) string {
	switch n := v.(type) {
	case int:
		return p.integer(int64(n))
	case int32:
		return p.integer(int64(n))
	case int64:
		return p.integer(n)
	case uint:
		return p.decimals(float64(n), 0)
	case uint32:
		return p.integer(int64(n))
	case uint64:
		return p.decimals(float64(n), 0)
	case float32:
		return p.decimals(float64(n), 2)
	case float64:
		return p.decimals(n, 2)
	}
	return fmt.Sprint(v)
}

func (p *Printer) integer(n int64) string {
	return p.format(strconv.FormatInt(n, 10))
}

// decimals writes v with at most prec decimals, trailing zeros dropped.
func (p *Printer) decimals(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	s := strconv.FormatFloat(v, 'f', prec, 64)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" {
		s = "0"
	}
	return p.format(s)
}

// format turns a number written by strconv ("-12345.5") into p's
// conventions.
func (p *Printer) format(s string) string {
	c := p.conventions()
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	b.WriteString(sign)
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteString(c.group)
		}
		b.WriteRune(r)
	}
	if hasFrac {
		b.WriteString(c.decimal)
		b.WriteString(frac)
	}
	return b.String()
}

// Bytes writes a size in binary units: "512 B", "7.5 MiB" ("512 o",
// "7,5 Mio" in French), with one decimal below 10 units, none above.
func (p *Printer) Bytes(n int64) string {
	c := p.conventions()
	if n < 1024 {
		return p.integer(max(n, 0)) + nbsp + c.byteUnits[0]
	}
	v, u := float64(n), 0
	for v >= 1024 && u < len(c.byteUnits)-1 {
		v /= 1024
		u++
	}
	prec := 0
	if v < 10 {
		prec = 1
	}
	// Rounding may reach the next unit (1023.6 KiB → 1024 KiB).
	if math.Round(v) >= 1024 && u < len(c.byteUnits)-1 {
		v /= 1024
		u++
		prec = 1
	}
	return p.decimals(v, prec) + nbsp + c.byteUnits[u]
}

// Duration writes a duration for people: milliseconds below a second
// ("0.25 ms", "7.5 ms" with two significant decimals below 10 ms, "12 ms"
// above), seconds below a minute ("1.5 s"), then minutes and seconds
// ("2 min 5 s") and hours and minutes ("3 h 5 min"). The units are the
// same in English and French.
func (p *Printer) Duration(d time.Duration) string {
	sign := ""
	if d < 0 {
		sign, d = "-", -d
	}
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case d < 10*time.Millisecond:
		prec := 2
		if ms >= 1 {
			prec = 1
		}
		return sign + p.decimals(ms, prec) + nbsp + "ms"
	case d < time.Second:
		return sign + p.decimals(math.Round(ms), 0) + nbsp + "ms"
	case d < time.Minute:
		return sign + p.decimals(d.Seconds(), 1) + nbsp + "s"
	case d < time.Hour:
		d = d.Round(time.Second)
		m, s := int64(d/time.Minute), int64(d%time.Minute/time.Second)
		if s == 0 {
			return sign + p.integer(m) + nbsp + "min"
		}
		return sign + p.integer(m) + nbsp + "min " + p.integer(s) + nbsp + "s"
	}
	d = d.Round(time.Minute)
	h, m := int64(d/time.Hour), int64(d%time.Hour/time.Minute)
	if m == 0 {
		return sign + p.integer(h) + nbsp + "h"
	}
	return sign + p.integer(h) + nbsp + "h " + p.integer(m) + nbsp + "min"
}

// Time writes a date and time of day in t's own location: "Nov 30, 2026
// 14:05" ("30 nov. 2026 14:05" in French); "" for the zero time.
func (p *Printer) Time(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	c := p.conventions()
	return c.date(t.Day(), c.months[t.Month()-1], t.Year()) + " " + t.Format("15:04")
}

// Clock writes a time of day, "14:05", as the axis of a chart does.
func (p *Printer) Clock(t time.Time) string { return t.Format("15:04") }

// Package chart draws small line charts as inline, accessible SVG on the
// server: the admin area's charts of requests, errors and latency.
//
// A chart is an <svg role="img"> labelled by its <title> and <desc> (a
// summary the caller writes for screen readers), with axis labels and a
// legend that tells its series apart by colour and by dash pattern. Text,
// axes and grid use currentColor, so the chart follows the page's colours
// in light and dark; the series' colours have a contrast of at least 3:1
// against both white and the admin area's dark background (WCAG 1.4.11),
// and each element carries a class (chart-series-N…) a stylesheet may
// restyle. No style attribute or element is emitted: the admin area's
// Content-Security-Policy forbids inline styles.
//
// Every string reaches the SVG through html/template, escaped: a module's
// name in a legend is text, never markup.
package chart

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Point is one value at one time.
type Point struct {
	Time  time.Time
	Value float64
}

// Series is one line of a chart.
type Series struct {
	Name   string
	Points []Point // in time order
}

// Line is a line chart. Zero fields take the defaults shown.
type Line struct {
	// ID prefixes the element ids (for aria-labelledby): unique within the
	// page; characters other than [A-Za-z0-9_-] are dropped ("chart").
	ID string
	// Title names the chart; Desc summarises it for screen readers.
	Title, Desc string
	// YLabel says what the values are ("requests per minute").
	YLabel string
	// NoData is the text shown when no series has a point.
	NoData string
	Series []Series
	// Start and End bound the time axis (the points' first and last).
	Start, End time.Time
	// Location shows times in a time zone (UTC).
	Location *time.Location
	// Value formats a value for the value axis (strconv's shortest 'g');
	// Time a time of the time axis, already in Location ("15:04"). The
	// caller passes its page's language's (i18n.Printer.Number, Clock).
	Value func(float64) string
	Time  func(time.Time) string
	// Width and Height are the chart's size in SVG units (640 × 240); the
	// page scales it to its width.
	Width, Height int
	// Min is the value axis's highest value at least (1): a chart of small
	// numbers does not look like a chart of large ones.
	Min float64
}

// Palette is the series' colours, in order; Dashes their dash patterns.
var (
	Palette = []string{"#0072b2", "#d55e00", "#009e73", "#c4509a"}
	Dashes  = []string{"", "8 4", "2 3", "10 3 2 3"}
)

//go:embed chart.svg.tmpl
var files embed.FS

var tmpl = template.Must(template.ParseFS(files, "chart.svg.tmpl"))

const (
	marginLeft   = 56
	marginRight  = 16
	marginTop    = 16
	marginBottom = 36
	legendRow    = 22
)

// Render draws c as inline SVG.
func Render(c Line) (template.HTML, error) {
	d := c.layout()
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, d); err != nil {
		return "", fmt.Errorf("chart: %w", err)
	}
	return template.HTML(buf.String()), nil //nolint:gosec // html/template's escaped output
}

type tick struct {
	Pos   float64 // x or y in SVG units
	Label string
}

type drawn struct {
	Name, Color, Dash, Class string
	Points                   string // "x,y x,y…"
	Single                   bool   // one point: a marker
	X, Y                     float64
	LegendX, LegendX2        float64
	LegendY                  float64
}

type data struct {
	ID, Title, Desc, YLabel, NoData string
	Width, Height                   int
	Left, Right, Top, Bottom        float64
	YTicks, XTicks                  []tick
	Series                          []drawn
	Empty                           bool
	YLabelX, YLabelY                float64
}

var idChars = regexp.MustCompile(`[^A-Za-z0-9_-]`)

func (c Line) layout() data {
	if c.Width <= 0 {
		c.Width = 640
	}
	if c.Height <= 0 {
		c.Height = 240
	}
	if c.Min <= 0 {
		c.Min = 1
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Time == nil {
		c.Time = func(t time.Time) string { return t.Format("15:04") }
	}
	if c.Value == nil {
		c.Value = func(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }
	}
	c.Title, c.Desc, c.YLabel, c.NoData = valid(c.Title), valid(c.Desc), valid(c.YLabel), valid(c.NoData)
	id := idChars.ReplaceAllString(c.ID, "")
	if id == "" {
		id = "chart"
	}
	start, end, top := c.Start, c.End, c.Min
	for _, s := range c.Series {
		for _, p := range s.Points {
			if c.Start.IsZero() && (start.IsZero() || p.Time.Before(start)) {
				start = p.Time
			}
			if c.End.IsZero() && (end.IsZero() || p.Time.After(end)) {
				end = p.Time
			}
			if !math.IsNaN(p.Value) && !math.IsInf(p.Value, 0) {
				top = max(top, p.Value)
			}
		}
	}
	top = niceCeil(top)
	rows := (len(c.Series) + 1) / 2
	d := data{
		ID: id, Title: c.Title, Desc: c.Desc, YLabel: c.YLabel, NoData: c.NoData,
		Width: c.Width, Height: c.Height + rows*legendRow,
		Left: marginLeft, Right: float64(c.Width - marginRight), Top: marginTop, Bottom: float64(c.Height - marginBottom),
	}
	d.YLabelX, d.YLabelY = 14, (d.Top+d.Bottom)/2
	span := end.Sub(start)
	x := func(t time.Time) float64 {
		if span <= 0 {
			return (d.Left + d.Right) / 2
		}
		return d.Left + (d.Right-d.Left)*float64(t.Sub(start))/float64(span)
	}
	y := func(v float64) float64 {
		v = math.Max(0, math.Min(v, top))
		return d.Bottom - (d.Bottom-d.Top)*v/top
	}
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		d.YTicks = append(d.YTicks, tick{Pos: round(y(v)), Label: valid(c.Value(v))})
	}
	if !start.IsZero() {
		n := 4
		if span <= 0 {
			n = 0
		}
		for i := 0; i <= n; i++ {
			t := start
			if n > 0 {
				t = start.Add(span * time.Duration(i) / time.Duration(n))
			}
			label := valid(c.Time(t.In(c.Location)))
			if k := len(d.XTicks); k > 0 && d.XTicks[k-1].Label == label {
				continue
			}
			d.XTicks = append(d.XTicks, tick{Pos: round(x(t)), Label: label})
		}
	}
	d.Empty = true
	for i, s := range c.Series {
		lx := d.Left + float64(i%2)*float64(c.Width-marginLeft)/2
		dr := drawn{
			Name: valid(s.Name), Color: Palette[i%len(Palette)], Dash: Dashes[i%len(Dashes)],
			Class:   "chart-series-" + strconv.Itoa(i%len(Palette)),
			LegendX: lx, LegendX2: lx + 26, LegendY: float64(c.Height) + float64(i/2)*legendRow + 6,
		}
		var pts []string
		for _, p := range s.Points {
			if math.IsNaN(p.Value) || math.IsInf(p.Value, 0) || p.Time.Before(start) || p.Time.After(end) {
				continue
			}
			px, py := round(x(p.Time)), round(y(p.Value))
			pts = append(pts, ftoa(px)+","+ftoa(py))
			dr.X, dr.Y = px, py
		}
		dr.Points, dr.Single = strings.Join(pts, " "), len(pts) == 1
		if len(pts) > 0 {
			d.Empty = false
		}
		d.Series = append(d.Series, dr)
	}
	return d
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*(1+1e-9) {
			return m * p
		}
	}
	return 10 * p
}

// valid replaces invalid UTF-8 and the control characters XML cannot
// carry.
func valid(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\t' && r != '\n' && r != '\r' || r == 0xFFFE || r == 0xFFFF {
			return '\uFFFD'
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

func round(v float64) float64 { return math.Round(v*10) / 10 }

func ftoa(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

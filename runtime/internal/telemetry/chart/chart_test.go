package chart

import (
	"encoding/xml"
	"flag"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func points(vs ...float64) []Point {
	ps := make([]Point, len(vs))
	for i, v := range vs {
		ps[i] = Point{Time: t0.Add(time.Duration(i) * time.Minute), Value: v}
	}
	return ps
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		c    Line
	}{
		{"two-series", Line{
			ID: "requests", Title: "Requests per minute", Desc: "Requests per minute over the last 5 minutes: latest 12, highest 40.",
			YLabel: "requests", NoData: "No data yet",
			Series: []Series{{Name: "chat", Points: points(3, 12, 40, 22, 12)}, {Name: "tickets", Points: points(0, 1, 2, 1, 0)}},
		}},
		{"escaped", Line{
			ID: `x"><script>`, Title: `<b>Title & "quotes"</b>`, Desc: "</desc><script>alert(1)</script>", YLabel: "ms",
			Series: []Series{{Name: `</text><script>alert(1)</script>`, Points: points(1, 2)}},
		}},
		{"empty", Line{ID: "e", Title: "Errors", Desc: "No data yet.", NoData: "No data yet", Start: t0, End: t0.Add(6 * time.Hour)}},
		{"single-point-nan", Line{ID: "s", Title: "Latency", Series: []Series{{Name: "a", Points: []Point{{t0, 0.25}, {t0.Add(time.Minute), math.NaN()}}}},
			Value: func(v float64) string { return strconv.FormatFloat(v*1000, 'f', 0, 64) + " ms" }}},
		{"five-series", Line{ID: "f", Title: "Many", Series: []Series{
			{Name: "a", Points: points(1, 2)}, {Name: "b", Points: points(2, 3)}, {Name: "c", Points: points(3, 4)},
			{Name: "d", Points: points(4, 5)}, {Name: "e", Points: points(1e6, 3)},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.c)
			if err != nil {
				t.Fatal(err)
			}
			checkXML(t, string(got))
			path := filepath.Join("testdata", tt.name+".svg")
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("%s differs (go test -update to accept):\n%s", path, got)
			}
		})
	}
}

// checkXML: the output is well-formed, the svg is an image labelled by its
// title and description, and no element but the chart's own appears.
func checkXML(t *testing.T, s string) {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(s))
	allowed := map[string]bool{"svg": true, "title": true, "desc": true, "g": true, "line": true, "text": true, "polyline": true, "circle": true}
	first := true
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v\n%s", err, s)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if !allowed[se.Name.Local] {
				t.Errorf("unexpected element <%s>", se.Name.Local)
			}
			for _, a := range se.Attr {
				if a.Name.Local == "style" || strings.HasPrefix(a.Name.Local, "on") {
					t.Errorf("<%s %s>: inline style or handler", se.Name.Local, a.Name.Local)
				}
			}
			if first {
				attrs := map[string]string{}
				for _, a := range se.Attr {
					attrs[a.Name.Local] = a.Value
				}
				if attrs["role"] != "img" || !strings.Contains(attrs["aria-labelledby"], "-title") {
					t.Errorf("svg attributes %v", attrs)
				}
				first = false
			}
		}
	}
}

// TestPaletteContrast: every series colour has 3:1 against white and the
// admin area's dark card background (WCAG 1.4.11, graphical objects).
func TestPaletteContrast(t *testing.T) {
	for _, bg := range []string{"#ffffff", "#f4f6f9", "#1b212b", "#12161d"} {
		for _, c := range Palette {
			if r := contrast(c, bg); r < 3 {
				t.Errorf("%s on %s: %.2f:1", c, bg, r)
			}
		}
	}
	if len(Dashes) != len(Palette) {
		t.Error("each colour needs its dash pattern")
	}
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

func luminance(hex string) float64 {
	ch := func(i int) float64 {
		v, _ := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		c := float64(v) / 255
		if c <= 0.03928 {
			return c / 12.92
		}
		return math.Pow((c+0.055)/1.055, 2.4)
	}
	return 0.2126*ch(0) + 0.7152*ch(1) + 0.0722*ch(2)
}

func TestNiceCeil(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{{0, 1}, {0.7, 1}, {1, 1}, {1.2, 2}, {2.2, 2.5}, {3, 5}, {7, 10}, {40, 50}, {0.012, 0.02}} {
		if got := niceCeil(tt.in); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("niceCeil(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add("chat", "title", 1.0, 2.0)
	f.Add("<x>&\"", "\xff", math.Inf(1), -3.0)
	f.Fuzz(func(t *testing.T, name, title string, a, b float64) {
		got, err := Render(Line{ID: name, Title: title, Desc: title, Series: []Series{{Name: name, Points: points(a, b)}}})
		if err != nil {
			t.Fatal(err)
		}
		checkXML(t, string(got))
	})
}

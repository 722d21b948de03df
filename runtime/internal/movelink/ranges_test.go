package movelink

import (
	"errors"
	"testing"
)

func TestParseContentRange(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ContentRange
		ok   bool
	}{
		{"bytes 0-9/10", ContentRange{0, 9, 10}, true},
		{"bytes 8388608-16777215/20000000", ContentRange{8388608, 16777215, 20000000}, true},
		{"bytes 5-5/6", ContentRange{5, 5, 6}, true},
		{"bytes 0-10/10", ContentRange{}, false}, // past the end
		{"bytes 9-8/10", ContentRange{}, false},  // backwards
		{"bytes */10", ContentRange{}, false},
		{"bytes 0-9/*", ContentRange{}, false},
		{"bytes +0-9/10", ContentRange{}, false},
		{"bytes -1-9/10", ContentRange{}, false},
		{"bytes 0-9/10 ", ContentRange{}, false},
		{"bits 0-9/10", ContentRange{}, false},
		{"bytes 0-9/9999999999999999999", ContentRange{}, false}, // overflow
		{"", ContentRange{}, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseContentRange(tc.in)
			if tc.ok != (err == nil) || got != tc.want {
				t.Fatalf("ParseContentRange(%q) = %v, %v; want %v (ok %v)", tc.in, got, err, tc.want, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrContentRange) {
				t.Fatalf("error %v is not ErrContentRange", err)
			}
		})
	}
}

func TestParseRange(t *testing.T) {
	const size = 100
	for _, tc := range []struct {
		in          string
		first, last int64
		whole       bool
		unsat       bool
	}{
		{"", 0, 99, true, false},
		{"bytes=0-", 0, 99, false, false},
		{"bytes=10-19", 10, 19, false, false},
		{"bytes=90-500", 90, 99, false, false},
		{"bytes=-10", 90, 99, false, false},
		{"bytes=-500", 0, 99, false, false},
		{"bytes=100-", 0, 0, false, true},
		{"bytes=-0", 0, 0, false, true},
		{"bytes=0-1,5-6", 0, 99, true, false}, // several: the whole archive
		{"bytes=5-1", 0, 99, true, false},     // invalid: ignored
		{"items=0-1", 0, 99, true, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			first, last, whole, err := parseRange(tc.in, size)
			if tc.unsat {
				if !errors.Is(err, errUnsatisfiable) {
					t.Fatalf("parseRange(%q) error %v, want unsatisfiable", tc.in, err)
				}
				return
			}
			if err != nil || first != tc.first || last != tc.last || whole != tc.whole {
				t.Fatalf("parseRange(%q) = %d, %d, %v, %v; want %d, %d, %v", tc.in, first, last, whole, err, tc.first, tc.last, tc.whole)
			}
		})
	}
}

// FuzzParseContentRange: whatever a client sends, the parser either
// refuses it or returns a chunk inside its file that prints back the same.
func FuzzParseContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-9/10", "bytes */10", "bytes 1-0/2", "bytes 0-0/1", "bytes 99999999999999999-99999999999999999/999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseContentRange(s)
		if err != nil {
			return
		}
		if c.First < 0 || c.First > c.Last || c.Last >= c.Total || c.Len() <= 0 {
			t.Fatalf("%q gave %+v", s, c)
		}
		if c.String() != s {
			t.Fatalf("%q parsed as %+v, which prints %q", s, c, c.String())
		}
	})
}

// FuzzParseRange: a download's Range never selects bytes outside the
// archive.
func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-", "bytes=-5", "bytes=3-2", "bytes=0-1,2-3", "bytes=99-"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, s string, size int64) {
		if size <= 0 {
			return
		}
		first, last, whole, err := parseRange(s, size)
		if err != nil {
			return
		}
		if first < 0 || last >= size || first > last || (whole && (first != 0 || last != size-1)) {
			t.Fatalf("parseRange(%q, %d) = %d, %d, %v", s, size, first, last, whole)
		}
	})
}

package movelink

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ContentRange is an upload chunk's Content-Range: bytes First..Last
// (inclusive) of a file of Total bytes.
type ContentRange struct{ First, Last, Total int64 }

// Len is the chunk's length.
func (c ContentRange) Len() int64 { return c.Last - c.First + 1 }

func (c ContentRange) String() string { return fmt.Sprintf("bytes %d-%d/%d", c.First, c.Last, c.Total) }

// ErrContentRange is a Content-Range header that is not "bytes a-b/total"
// with a <= b < total.
var ErrContentRange = errors.New("movelink: bad Content-Range: want bytes FIRST-LAST/TOTAL")

// ParseContentRange parses an upload's Content-Range header, "bytes
// a-b/total" (RFC 9110 section 14.4) with 0 <= a <= b < total; the
// unsatisfied form ("bytes */total") and unknown totals ("/*") are refused.
func ParseContentRange(s string) (ContentRange, error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return ContentRange{}, ErrContentRange
	}
	span, total, ok := strings.Cut(rest, "/")
	if !ok {
		return ContentRange{}, ErrContentRange
	}
	a, b, ok := strings.Cut(span, "-")
	if !ok {
		return ContentRange{}, ErrContentRange
	}
	var c ContentRange
	var err error
	if c.First, err = digits(a); err != nil {
		return ContentRange{}, ErrContentRange
	}
	if c.Last, err = digits(b); err != nil {
		return ContentRange{}, ErrContentRange
	}
	if c.Total, err = digits(total); err != nil {
		return ContentRange{}, ErrContentRange
	}
	if c.First > c.Last || c.Last >= c.Total {
		return ContentRange{}, ErrContentRange
	}
	return c, nil
}

// digits parses a non-negative decimal of 1 to 18 digits in canonical
// form (no sign, no spaces, no leading zero: strconv alone would take
// "+1" and "007").
func digits(s string) (int64, error) {
	if len(s) == 0 || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return 0, ErrContentRange
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, ErrContentRange
		}
	}
	return strconv.ParseInt(s, 10, 64)
}

// errUnsatisfiable: a Range that selects nothing of the archive (416).
var errUnsatisfiable = errors.New("movelink: range not satisfiable")

// parseRange reads a download's Range header for an archive of size
// bytes: the one range it selects (first, last inclusive), or whole when
// there is no Range, it is not a bytes range, or it names several ranges
// (all served as the whole archive). A syntactically good range outside
// the archive is errUnsatisfiable.
func parseRange(h string, size int64) (first, last int64, whole bool, err error) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size - 1, true, nil
	}
	spec = strings.TrimSpace(spec)
	a, b, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, size - 1, true, nil
	}
	switch {
	case a == "": // suffix: the last b bytes
		n, err := digits(b)
		if err != nil {
			return 0, size - 1, true, nil
		}
		if n == 0 {
			return 0, 0, false, errUnsatisfiable
		}
		return max(size-n, 0), size - 1, false, nil
	default:
		first, err := digits(a)
		if err != nil {
			return 0, size - 1, true, nil
		}
		last := size - 1
		if b != "" {
			if last, err = digits(b); err != nil || last < first {
				return 0, size - 1, true, nil
			}
			last = min(last, size-1)
		}
		if first >= size {
			return 0, 0, false, errUnsatisfiable
		}
		return first, last, false, nil
	}
}

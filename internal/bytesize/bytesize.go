// Package bytesize reads and writes sizes in bytes the way people write
// them: "512MiB", "2 GiB", "100MB".
package bytesize

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

var sizeRE = regexp.MustCompile(`^([0-9]+)\s*(B|KiB|MiB|GiB|TiB|kB|KB|MB|GB|TB)?$`)

var units = map[string]int64{"": 1, "B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}

// ErrSyntax is returned for what is not a size.
var ErrSyntax = errors.New("bytesize: not a size (e.g. 512MiB, 2GiB, 100MB)")

// Parse reads a whole number of bytes with an optional unit: binary KiB,
// MiB, GiB, TiB or decimal kB, MB, GB, TB (case as written here).
func Parse(s string) (int64, error) {
	m := sizeRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil {
		return 0, fmt.Errorf("%w: %q", ErrSyntax, s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	mult := units[m[2]]
	if err != nil || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("bytesize: %q is too large", s)
	}
	return n * mult, nil
}

// Format writes n bytes in binary units, one decimal: "1.5 GiB".
func Format(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}

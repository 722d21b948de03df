package realtime

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestLimitsAgreeWithABI checks sdk/ABI.md section 11.5 against Limits'
// defaults: each row whose last column names a Limits field (or a serve
// flag standing for one) must give that field's default first in its
// default column, and every field must have a row.
func TestLimitsAgreeWithABI(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "sdk", "ABI.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### 11.5 Limits")
	if !ok {
		t.Fatal("sdk/ABI.md has no section 11.5 Limits")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	flagField := map[string]string{
		"--realtime-max-connections": "MaxConnections",
		"--realtime-max-per-user":    "MaxPerUser",
		"--realtime-max-per-ip":      "MaxPerAnonymousIP",
		"--realtime-max-event-bytes": "MaxEventBytes",
	}
	var l Limits
	l.defaults()
	v := reflect.ValueOf(l)
	documented := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| ([^|]+) \\| ([^|]+) \\| ([^|]+) \\| ([^|]+) \\|$")
	name := regexp.MustCompile("`([^`]+)`")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		limit, def, setting := strings.TrimSpace(m[1]), m[2], strings.TrimSpace(m[4])
		if limit == "limit" || setting == "fixed" || strings.HasPrefix(limit, "---") {
			continue
		}
		names := name.FindAllStringSubmatch(setting, -1)
		if names == nil {
			t.Errorf("row %q: the last column names no field, flag, nor says fixed: %q", limit, setting)
			continue
		}
		for i, n := range names {
			field := n[1]
			if f, ok := flagField[field]; ok {
				field = f
			}
			fv := v.FieldByName(field)
			if !fv.IsValid() {
				t.Errorf("row %q names %s, which is not a field of Limits", limit, n[1])
				continue
			}
			documented[field] = true
			if i > 0 {
				continue // the default column gives the first field's value first
			}
			var got int64
			if d, ok := fv.Interface().(time.Duration); ok {
				got = int64(d)
			} else {
				got = fv.Int()
			}
			if want := docQuantity(t, def); got != want {
				t.Errorf("row %q: default %q in sdk/ABI.md, Limits.%s defaults to %v", limit, strings.TrimSpace(def), field, fv.Interface())
			}
		}
	}
	for i := range v.NumField() {
		if f := v.Type().Field(i).Name; !documented[f] {
			t.Errorf("Limits.%s has no row in sdk/ABI.md section 11.5", f)
		}
	}
}

// docQuantity reads the first quantity of a default column: "10 000",
// "16 KiB", "5 s (and …)", "2 min", "1 h and 100 000".
func docQuantity(t *testing.T, s string) int64 {
	t.Helper()
	m := regexp.MustCompile(`^\s*([0-9]+(?: [0-9]{3})*)\s*(KiB|MiB|s|min|h)?(?:[^0-9A-Za-z]|$)`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no quantity in %q", s)
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(m[1], " ", ""), 10, 64)
	if err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	switch m[2] {
	case "KiB":
		n <<= 10
	case "MiB":
		n <<= 20
	case "s":
		n *= int64(time.Second)
	case "min":
		n *= int64(time.Minute)
	case "h":
		n *= int64(time.Hour)
	}
	return n
}

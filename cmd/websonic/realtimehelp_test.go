package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestRealtimeFlagsAgreeWithABI checks that each realtime flag of serve
// has a row in sdk/ABI.md section 11.5 with the flag's default
// (runtime/internal/realtime's TestLimitsAgreeWithABI checks the hub's).
func TestRealtimeFlagsAgreeWithABI(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "sdk", "ABI.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "### 11.5 Limits")
	if !ok {
		t.Fatal("sdk/ABI.md has no section 11.5 Limits")
	}
	section, _, _ = strings.Cut(section, "\n### ")
	fs := newFlagSet("serve", &bytes.Buffer{}, &bytes.Buffer{})
	var l limits
	l.register(fs)
	for _, f := range realtimeFlags {
		m := regexp.MustCompile("(?m)^\\| ([^|]+) \\| ([^|]+) \\| [^|]+ \\| `--" + regexp.QuoteMeta(f.flag) + "` \\|$").FindStringSubmatch(section)
		if m == nil {
			t.Errorf("--%s has no row in sdk/ABI.md section 11.5", f.flag)
			continue
		}
		fl := fs.Lookup(f.flag)
		if fl == nil {
			t.Fatalf("serve has no --%s", f.flag)
		}
		if got, want := quantity(t, fl.DefValue), quantity(t, m[2]); got != want {
			t.Errorf("row %q: default %q in sdk/ABI.md, --%s defaults to %s", strings.TrimSpace(m[1]), strings.TrimSpace(m[2]), f.flag, fl.DefValue)
		}
	}
}

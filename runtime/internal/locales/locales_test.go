package locales_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/internal/locales"
)

// used finds the strings passed to T: {{.T "…"}} / {{$.T "…"}} in
// templates, .T("…") and i18n.Key("…") in Go code.
var used = regexp.MustCompile(`(?:\.T\(|\.T\s+|i18n\.Key\()("(?:[^"\\]|\\.)*")`)

// TestEveryStringTranslated scans the runtime's and the themes' templates
// and Go code for the strings they translate and fails on any that French
// lacks.
func TestEveryStringTranslated(t *testing.T) {
	c, err := locales.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.Languages(), "fr") {
		t.Fatal("no French catalogue")
	}
	have := map[string]bool{}
	for _, k := range c.Keys("fr") {
		have[k] = true
	}
	missing := map[string][]string{}
	for _, root := range []string{"../..", "../../../templates"} {
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (d.Name() == "testdata" || d.Name() == "testmodules") {
				return filepath.SkipDir
			}
			if d.IsDir() || strings.HasSuffix(p, "_test.go") || !(strings.HasSuffix(p, ".html") || strings.HasSuffix(p, ".go")) {
				return nil
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range used.FindAllSubmatch(b, -1) {
				key, err := strconv.Unquote(string(m[1]))
				if err != nil {
					t.Errorf("%s: %s: %v", p, m[1], err)
					continue
				}
				if !have[key] {
					missing[key] = append(missing[key], p)
				}
			}
			return nil
		})
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range missing {
			if !yield(k) {
				return
			}
		}
	}) {
		t.Errorf("no French for %q (used in %s)", k, strings.Join(slices.Compact(missing[k]), ", "))
	}
}

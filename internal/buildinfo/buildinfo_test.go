package buildinfo_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/buildinfo"
)

// TestLinkTimeVersion builds a real program importing the package, with
// and without the -X flags `make release` passes, and runs it: the version
// and commit are what the linker was told, and a plain build says
// 0.0.0-dev.
func TestLinkTimeVersion(t *testing.T) {
	const pkg = "github.com/websonic/websonic/internal/buildinfo"
	head := regexp.QuoteMeta(runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version())
	for _, tc := range []struct {
		name  string
		flags []string
		want  string // a regexp for the whole output
	}{
		{"release", []string{"-buildvcs=false", "-ldflags", "-X " + pkg + ".version=1.2.3 -X " + pkg + ".commit=0123abcd"},
			`^websonic 1\.2\.3 ` + head + `\ncommit 0123abcd\n$`},
		{"prerelease", []string{"-buildvcs=false", "-ldflags", "-X " + pkg + ".version=2.0.0-beta.1"},
			`^websonic 2\.0\.0-beta\.1 ` + head + `\n$`},
		{"plain", []string{"-buildvcs=false"}, `^websonic 0\.0\.0-dev ` + head + `\n$`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "printversion")
			args := append(append([]string{"build", "-o", bin}, tc.flags...), "./testdata/printversion")
			if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			out, err := exec.Command(bin).Output()
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(tc.want).Match(out) {
				t.Errorf("got %q, want /%s/", out, tc.want)
			}
		})
	}
}

// TestStringInTest: the test binary itself was given no version.
func TestStringInTest(t *testing.T) {
	s := strings.SplitN(buildinfo.String(), "\n", 2)[0]
	if want := "websonic 0.0.0-dev " + runtime.GOOS + "/" + runtime.GOARCH + " " + runtime.Version(); s != want {
		t.Errorf("first line %q, want %q", s, want)
	}
}

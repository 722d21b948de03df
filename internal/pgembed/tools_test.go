package pgembed

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

func TestFindClientTools(t *testing.T) {
	bin, err := FindBinDir()
	if err != nil {
		t.Skip(err)
	}
	v, err := serverMajor(bin)
	if err != nil {
		t.Fatal(err)
	}
	major, _ := strconv.Atoi(v)
	dir, err := FindClientTools(major, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := toolsMajor(dir); err != nil || got != major {
		t.Errorf("FindClientTools(%d) = %s, of version %d (%v)", major, dir, got, err)
	}
	for _, c := range []struct {
		major int
		dir   string
	}{{major + 1, ""}, {major + 1, dir}, {major, t.TempDir()}} {
		_, err := FindClientTools(c.major, c.dir)
		if !errors.Is(err, ErrNoClientTools) || !strings.Contains(err.Error(), "postgresql-client-"+strconv.Itoa(c.major)) {
			t.Errorf("FindClientTools(%d, %q): %v, want ErrNoClientTools naming the package", c.major, c.dir, err)
		}
	}
}

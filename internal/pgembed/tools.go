package pgembed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// ErrNoClientTools means no directory holds pg_dump and pg_restore of the
// wanted major version.
var ErrNoClientTools = errors.New("pgembed: PostgreSQL client tools not found")

// FindClientTools returns the directory holding pg_dump and pg_restore of
// PostgreSQL major version major (a server's: SHOW server_version_num /
// 10000): dir if it is not "" (which must then hold them), else the first
// of /usr/lib/postgresql/<major>/bin, `pg_config --bindir`, the directory of
// pg_dump on PATH, and the other /usr/lib/postgresql/*/bin whose tools are
// of that version. The error wraps ErrNoClientTools and says what to
// install.
func FindClientTools(major int, dir string) (string, error) {
	return findClientTools(major, dir, debianRoot)
}

func findClientTools(major int, dir, root string) (string, error) {
	hint := fmt.Sprintf("install the PostgreSQL %d client tools (Debian/Ubuntu: apt-get install postgresql-client-%d)", major, major)
	if dir != "" {
		got, err := toolsMajor(dir)
		if err != nil {
			return "", fmt.Errorf("%w: %w; %s", ErrNoClientTools, err, hint)
		}
		if got != major {
			return "", fmt.Errorf("%w: %s holds the tools of PostgreSQL %d, the server is %d; %s", ErrNoClientTools, dir, got, major, hint)
		}
		return dir, nil
	}
	candidates := []string{filepath.Join(root, strconv.Itoa(major), "bin")}
	if p, err := exec.LookPath("pg_config"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, p, "--bindir").Output()
		cancel()
		if err == nil {
			candidates = append(candidates, strings.TrimSpace(string(out)))
		}
	}
	if p, err := exec.LookPath("pg_dump"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			candidates = append(candidates, filepath.Dir(real))
		}
		candidates = append(candidates, filepath.Dir(p))
	}
	candidates = append(candidates, versionDirs(root)...)
	var seen []string
	for _, d := range candidates {
		if got, err := toolsMajor(d); err == nil {
			if got == major {
				return d, nil
			}
			seen = append(seen, fmt.Sprintf("%s (%d)", d, got))
		}
	}
	found := "none found"
	if len(seen) > 0 {
		found = "found only " + strings.Join(seen, ", ")
	}
	return "", fmt.Errorf("%w: need pg_dump and pg_restore of PostgreSQL %d, the server's version; %s; %s", ErrNoClientTools, major, found, hint)
}

// toolsMajor returns the major version of dir's pg_dump, checking that
// pg_restore is there too and of the same version.
func toolsMajor(dir string) (int, error) {
	var majors [2]int
	for i, name := range []string{"pg_dump", "pg_restore"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return 0, fmt.Errorf("no executable %s in %s", name, dir)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, p, "--version").Output()
		cancel()
		if err != nil {
			return 0, fmt.Errorf("%s --version: %w", p, err)
		}
		v, err := parseMajor(string(out))
		if err != nil {
			return 0, err
		}
		majors[i], err = strconv.Atoi(strings.Split(v, ".")[0])
		if err != nil {
			return 0, fmt.Errorf("pgembed: %s: version %q", p, v)
		}
	}
	if majors[0] != majors[1] {
		return 0, fmt.Errorf("pg_dump (%d) and pg_restore (%d) in %s differ", majors[0], majors[1], dir)
	}
	return majors[0], nil
}

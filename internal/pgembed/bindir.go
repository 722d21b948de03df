package pgembed

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// installHint tells a user what to do when no server binaries are found.
const installHint = "install the PostgreSQL server (Debian/Ubuntu: apt-get install postgresql) " +
	"or use an external server with --database-url or WEBSONIC_DATABASE_URL"

// debianRoot is where Debian and Ubuntu install one bin directory per major version.
const debianRoot = "/usr/lib/postgresql"

// FindBinDir returns the directory holding the initdb and postgres binaries.
// It looks, in order, at the directory of initdb on PATH (as found, then with
// symlinks resolved), at `pg_config --bindir`, and at /usr/lib/postgresql/*/bin,
// highest major version first. When none holds both binaries the error wraps
// [ErrNoBinaries] and says what to install.
func FindBinDir() (string, error) {
	return findBinDir("", debianRoot)
}

// findBinDir is FindBinDir with the Debian root injectable; when preferMajor
// is set (the PG_VERSION of an existing data directory), a bin directory of
// that major version is preferred over any other.
func findBinDir(preferMajor, root string) (string, error) {
	var found []string
	add := func(dir string) {
		if dir == "" || checkBinDir(dir) != nil {
			return
		}
		for _, d := range found {
			if d == dir {
				return
			}
		}
		found = append(found, dir)
	}

	if p, err := exec.LookPath("initdb"); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			add(filepath.Dir(abs))
			if real, err := filepath.EvalSymlinks(abs); err == nil {
				add(filepath.Dir(real))
			}
		}
	}
	if p, err := exec.LookPath("pg_config"); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := exec.CommandContext(ctx, p, "--bindir").Output()
		cancel()
		if err == nil {
			add(strings.TrimSpace(string(out)))
		}
	}
	for _, d := range versionDirs(root) {
		add(d)
	}

	if len(found) == 0 {
		return "", fmt.Errorf("%w: looked for initdb and postgres on PATH, via `pg_config --bindir` and in %s/*/bin; %s",
			ErrNoBinaries, root, installHint)
	}
	if preferMajor != "" {
		for _, d := range found {
			if v, err := serverMajor(d); err == nil && v == preferMajor {
				return d, nil
			}
		}
	}
	return found[0], nil
}

// versionDirs lists root/*/bin, highest version first.
func versionDirs(root string) []string {
	matches, _ := filepath.Glob(filepath.Join(root, "*", "bin"))
	key := func(p string) []int {
		var k []int
		for _, f := range strings.Split(filepath.Base(filepath.Dir(p)), ".") {
			n, err := strconv.Atoi(f)
			if err != nil {
				n = -1
			}
			k = append(k, n)
		}
		return k
	}
	sort.SliceStable(matches, func(i, j int) bool {
		a, b := key(matches[i]), key(matches[j])
		for n := 0; n < len(a) && n < len(b); n++ {
			if a[n] != b[n] {
				return a[n] > b[n]
			}
		}
		return len(a) > len(b)
	})
	return matches
}

// checkBinDir reports, wrapping ErrNoBinaries, when dir lacks an executable
// initdb or postgres.
func checkBinDir(dir string) error {
	for _, name := range []string{"initdb", "postgres"} {
		p := filepath.Join(dir, name)
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			return fmt.Errorf("%w: no executable %s in %s; %s", ErrNoBinaries, name, dir, installHint)
		}
	}
	return nil
}

// serverMajor returns the major version of the postgres binary in binDir,
// in the form PG_VERSION uses ("15", or "9.6" for old releases).
func serverMajor(binDir string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(binDir, "postgres"), "-V").Output()
	if err != nil {
		return "", fmt.Errorf("pgembed: %s -V: %w", filepath.Join(binDir, "postgres"), err)
	}
	return parseMajor(string(out))
}

// parseMajor turns "postgres (PostgreSQL) 15.13 (Debian ...)" into "15".
func parseMajor(out string) (string, error) {
	_, rest, ok := strings.Cut(out, "(PostgreSQL)")
	fields := strings.Fields(rest)
	if !ok || len(fields) == 0 {
		return "", fmt.Errorf("pgembed: unrecognized postgres version %q", strings.TrimSpace(out))
	}
	v := fields[0]
	// Strip suffixes such as "16beta1" or "17rc1".
	if i := strings.IndexFunc(v, func(r rune) bool { return (r < '0' || r > '9') && r != '.' }); i >= 0 {
		v = v[:i]
	}
	parts := strings.Split(v, ".")
	if parts[0] == "" {
		return "", fmt.Errorf("pgembed: unrecognized postgres version %q", strings.TrimSpace(out))
	}
	if n, _ := strconv.Atoi(parts[0]); n < 10 && len(parts) > 1 {
		return parts[0] + "." + parts[1], nil
	}
	return parts[0], nil
}

// readPGVersion returns the trimmed content of data/PG_VERSION, or "" when absent.
func readPGVersion(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if os.IsNotExist(err) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("pgembed: %w", err)
	}
	return string(bytes.TrimSpace(b)), nil
}

package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/modbuild"
)

// TestExecAndJobs runs `websonic exec` and `websonic jobs` against a
// running `websonic serve --modules-dir` (no registry): the request queue
// answers, text prints as it is, a table in columns, --json for scripts,
// errors name what exists and exit non-zero, escape sequences from a
// module never reach the terminal.
func TestExecAndJobs(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	mods := t.TempDir()
	for _, src := range []string{"../../runtime/internal/testmodules/cmdjobs", "../../runtime/internal/testmodules/hostile"} {
		if err := modbuild.Package(ctx, src, filepath.Join(mods, filepath.Base(src))); err != nil {
			t.Fatal(err)
		}
	}
	data := dataDir(t)
	env := []string{"WEBSONIC_DATABASE_URL="}
	site := startSite(t, ctx, bin, "", env, "serve", "--data-dir", data, "--addr", "127.0.0.1:0", "--modules-dir", mods, "--dev-approve-local")
	defer site.stop(t)

	exec := func(args ...string) result {
		return cliRun(t, ctx, bin, "", env, "", append([]string{"exec", "--data-dir", data}, args...)...)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string // exactly, when not a regexp
		re     string // stdout or stderr matches
	}{
		{"text", []string{"cmdjobs", "greet", "--name", "Ada", "--times", "2", "--loud"}, 0, "HELLO ADA x2 ratio=0.5\n", ""},
		{"json", []string{"--json", "cmdjobs", "greet", "--name=Bob", "--ratio", "-1.5"}, 0, `{"text":"hello Bob x1 ratio=-1.5"}` + "\n", ""},
		// The tick job runs every minute, so the table may already hold rows.
		{"table", []string{"cmdjobs", "runs"}, 0, "", `(?m)^JOB\s+TICK\s+RUNS\n(?:[a-z]+\s+\d{4}-\d\d-\d\dT\S+\s+\d+\n)*\(\d+ rows?\)\n\z`},
		{"who", []string{"cmdjobs", "whoami"}, 0, "", `actor=terminal \(\S+\) user=none`},
		{"list", []string{"cmdjobs"}, 0, "", `(?s)greet: Greets someone.*--name string \(required\)  Who to greet\n    --times integer \(default 1\)`},
		{"unknown command", []string{"cmdjobs", "nope"}, 1, "", `no such admin command: cmdjobs has no command "nope" \(its commands: greet, runs, whoami, fail`},
		{"unknown module", []string{"nosuch", "greet"}, 1, "", `no such module is running: "nosuch" \(running modules with commands: cmdjobs, hostile\)`},
		{"bad type", []string{"cmdjobs", "greet", "--name", "Ada", "--times", "many"}, 1, "", `bad arguments: cmdjobs greet: --times: "many" is not an integer \(its arguments: --name string \(required\)`},
		{"unknown argument", []string{"cmdjobs", "greet", "--name", "Ada", "--colour", "red"}, 1, "", `--colour: is not an argument of greet`},
		// Positional arguments first, in the order the command declares
		// them (websonic exec chat ban alice), then --name value.
		{"positional", []string{"cmdjobs", "greet", "Ada", "2", "--loud"}, 0, "HELLO ADA x2 ratio=0.5\n", ""},
		{"positional and named", []string{"cmdjobs", "greet", "Bob", "--ratio", "2"}, 0, "hello Bob x1 ratio=2\n", ""},
		{"too many", []string{"cmdjobs", "greet", "Ada", "2", "0.5", "true", "more"}, 1, "", `greet takes 4 arguments \(--name, --times, --ratio, --loud\), not 5`},
		{"given twice", []string{"cmdjobs", "greet", "Ada", "--name", "Bob"}, 1, "", `--name given twice`},
		{"not an argument", []string{"cmdjobs", "greet", "--times", "2", "Ada"}, 1, "", `want arguments as --name value, not "Ada" \(positional arguments come first\)`},
		{"fails", []string{"cmdjobs", "fail"}, 1, "", `the command failed: cmdjobs fail: this command always fails`},
		{"no module", nil, 1, "", `which module\?`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := exec(tc.args...)
			if r.code != tc.code || tc.stdout != "" && r.stdout != tc.stdout || tc.re != "" && !regexp.MustCompile(tc.re).MatchString(r.stdout+r.stderr) {
				t.Fatalf("websonic exec %s: exit %d\nstdout: %q\nstderr: %s", strings.Join(tc.args, " "), r.code, r.stdout, r.stderr)
			}
		})
	}
	t.Run("escape sequences", func(t *testing.T) {
		r := exec("hostile", "escape")
		if r.code != 0 || strings.ContainsAny(r.stdout, "\x1b\x07") || !strings.Contains(r.stdout, "before") || !strings.Contains(r.stdout, "after") {
			t.Fatalf("hostile escape: exit %d, stdout %q", r.code, r.stdout)
		}
	})
	t.Run("jobs", func(t *testing.T) {
		r := cliRun(t, ctx, bin, "", env, "", "jobs", "--data-dir", data)
		if r.code != 0 || !regexp.MustCompile(`(?m)^MODULE\s+JOB\s+SCHEDULE \(UTC\)\s+NEXT RUN\s+LAST RUN\s+DURATION\s+RESULT$`).MatchString(r.stdout) ||
			!regexp.MustCompile(`(?m)^cmdjobs\s+tick\s+\* \* \* \* \*\s+\d{4}-\d\d-\d\d \d\d:\d\d\s`).MatchString(r.stdout) ||
			!regexp.MustCompile(`(?m)^hostile\s+loop\s+0 0 1 1 \*`).MatchString(r.stdout) {
			t.Fatalf("websonic jobs: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
	})
}

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// TestHelp: every command's -h (and --help, and `websonic help CMD`)
// prints its arguments, what it does, its flags and the environment
// variables it reads, to stdout, and succeeds; a group's -h lists its
// verbs. Run through the binary, so the exit status is the real one.
func TestHelp(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// What each command's help must name besides its flags' variables.
	wantEnv := map[string][]string{
		"serve":          {"WEBSONIC_DATA_DIR", "WEBSONIC_DATABASE_URL", "WEBSONIC_CALL_TIMEOUT", "WEBSONIC_ROLE_PREFIX"},
		"admin create":   {"WEBSONIC_ADMIN_PASSWORD", "WEBSONIC_DATA_DIR"},
		"keys generate":  {"WEBSONIC_KEY_PASSWORD", "WEBSONIC_KEY_DIR"},
		"keys init":      {"WEBSONIC_KEY_PASSWORD", "WEBSONIC_REGISTRY_TOKEN"},
		"module publish": {"WEBSONIC_KEY_PASSWORD", "WEBSONIC_REGISTRY"},
		"module install": {"WEBSONIC_DATA_DIR", "WEBSONIC_DATABASE_URL"},
		"registry serve": {"WEBSONIC_ONLINE_KEY_PASSWORD", "WEBSONIC_REGISTRY_DATA_DIR"},
	}
	for _, name := range commandNames() {
		for _, form := range [][]string{append(strings.Fields(name), "-h"), append(strings.Fields(name), "--help"), append([]string{"help"}, strings.Fields(name)...)} {
			t.Run(strings.Join(form, " "), func(t *testing.T) {
				r := cliRun(t, ctx, bin, "", nil, "", form...)
				info := commands[name]
				if r.code != 0 || !strings.HasPrefix(r.stdout, "usage: websonic "+name+" "+info.args+"\n") || !strings.Contains(r.stdout, info.help) ||
					!strings.Contains(r.stdout, "flags:") {
					t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
				}
				for _, e := range wantEnv[name] {
					if !strings.Contains(r.stdout, e) {
						t.Errorf("the help does not name %s:\n%s", e, r.stdout)
					}
				}
				if strings.Contains(r.stdout+r.stderr, "flag: help requested") {
					t.Errorf("help reported as an error:\n%s%s", r.stdout, r.stderr)
				}
				// A `quoted` phrase in a flag's usage becomes its argument's name
				// (package flag): "-modules-dir websonic module approve NAME".
				_, flags, _ := strings.Cut(r.stdout, "\nflags:\n")
				for line := range strings.Lines(flags) {
					if strings.HasPrefix(line, "  -") && len(strings.Fields(line)) > 2 {
						t.Errorf("a flag's argument is named by a phrase (a `quoted` part of its usage): %q", strings.TrimSpace(line))
					}
				}
			})
		}
	}
	for _, group := range []string{"admin", "data-key", "keys", "module", "registry", "theme", "user"} {
		t.Run(group+" -h", func(t *testing.T) {
			r := cliRun(t, ctx, bin, "", nil, "", group, "-h")
			if r.code != 0 || !strings.Contains(r.stdout, "verbs:") {
				t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
			}
			for _, name := range commandNames() {
				if g, verb, _ := strings.Cut(name, " "); g == group && !strings.Contains(r.stdout, "  "+verb+" "+commands[name].args) {
					t.Errorf("%s -h does not list %s:\n%s", group, verb, r.stdout)
				}
			}
		})
	}
	t.Run("group without a verb", func(t *testing.T) {
		if r := cliRun(t, ctx, bin, "", nil, "", "module"); r.code != 1 || !strings.Contains(r.stderr, "install NAME[@VERSION]") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
	t.Run("bad flag", func(t *testing.T) {
		if r := cliRun(t, ctx, bin, "", nil, "", "serve", "--frobnicate"); r.code != 1 || !strings.Contains(r.stderr, "serve: flag provided but not defined: -frobnicate (see websonic serve -h)") {
			t.Fatalf("exit %d\n%s", r.code, r.stderr)
		}
	})
}

// TestLimitsAgreeWithABI: sdk/ABI.md's limits table and serve's limit
// flags agree: every row naming a flag names one that exists, with the
// same default, and every limit flag is in the table or known to be no
// module limit.
func TestLimitsAgreeWithABI(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "sdk", "ABI.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "## 8. Limits")
	if !ok {
		t.Fatal("sdk/ABI.md has no section 8. Limits")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	fs := newFlagSet("serve", &bytes.Buffer{}, &bytes.Buffer{})
	var l limits
	l.register(fs)
	inTable := map[string]bool{}
	row := regexp.MustCompile("(?m)^\\| ([^|]+) \\| ([^|]+) \\| ([^|]+) \\| ([^|]+) \\|$")
	flagRE := regexp.MustCompile("`--([a-z-]+)`")
	for _, m := range row.FindAllStringSubmatch(section, -1) {
		limit, def, setting := m[1], m[2], m[4]
		if limit == "limit" {
			continue // the heading
		}
		f := flagRE.FindStringSubmatch(setting)
		if f == nil {
			if strings.TrimSpace(setting) != "fixed" {
				t.Errorf("row %q: the last column says neither a flag nor fixed: %q", limit, setting)
			}
			continue
		}
		fl := fs.Lookup(f[1])
		if fl == nil {
			t.Errorf("row %q names --%s, which serve does not have", limit, f[1])
			continue
		}
		inTable[f[1]] = true
		if got, want := quantity(t, fl.DefValue), quantity(t, def); got != want {
			t.Errorf("row %q: default %q in sdk/ABI.md, --%s defaults to %s", limit, def, f[1], fl.DefValue)
		}
	}
	notModuleLimits := map[string]bool{"role-prefix": true, "update-interval": true,
		"db-backend-memory": true, "db-temp-file-limit": true, "db-max-connections": true}
	for _, f := range limitFlags {
		if !inTable[f.flag] && !notModuleLimits[f.flag] {
			t.Errorf("--%s is not in sdk/ABI.md's limits table", f.flag)
		}
	}
}

// quantity reads "10 s", "10s", "2048 pages (128 MiB)", "8 MiB",
// "8388608" as one number in base units (nanoseconds, bytes, pages,
// counts).
func quantity(t *testing.T, s string) int64 {
	t.Helper()
	s = strings.TrimSpace(s)
	if d, err := time.ParseDuration(strings.ReplaceAll(s, " ", "")); err == nil {
		return int64(d)
	}
	m := regexp.MustCompile(`^([0-9][0-9 ]*)\s*(KiB|MiB|GiB)?`).FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no quantity in %q", s)
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(m[1], " ", ""), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n << map[string]int{"": 0, "KiB": 10, "MiB": 20, "GiB": 30}[m[2]]
}

// TestServeLimitFlags: each limit reaches the runtime's Config, from its
// flag or its environment variable; bad values are refused, naming the
// flag or variable.
func TestServeLimitFlags(t *testing.T) {
	parse := func(t *testing.T, args ...string) (server.Config, error) {
		t.Helper()
		fs := newFlagSet("serve", &bytes.Buffer{}, &bytes.Buffer{})
		var l limits
		l.register(fs)
		if err := fs.parse(args); err != nil {
			return server.Config{}, err
		}
		if err := l.validate(); err != nil {
			return server.Config{}, err
		}
		var cfg server.Config
		l.apply(&cfg)
		return cfg, nil
	}
	cfg, err := parse(t, "--call-timeout", "3s", "--memory-limit-pages", "1024", "--memory-high-water-pages", "256", "--max-calls", "7",
		"--max-response-bytes", "4096", "--pool-size", "8", "--pool-min-warm", "2", "--acquire-timeout", "1s",
		"--statement-timeout", "2s", "--role-prefix", "shop_", "--update-interval", "1h",
		"--module-storage-quota", "2GiB", "--db-backend-memory", "512MiB", "--db-temp-file-limit", "100MB", "--db-max-connections", "50")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ModuleStorageQuota != 2<<30 || cfg.DatabaseLimits.BackendMemory != 512<<20 || cfg.DatabaseLimits.TempFileLimit != 100e6 ||
		cfg.DatabaseLimits.MaxConnections != 50 {
		t.Fatalf("storage and database flags did not reach the Config: %+v %+v", cfg.ModuleStorageQuota, cfg.DatabaseLimits)
	}
	if cfg.Pool.CallTimeout != 3*time.Second || cfg.MemoryLimitPages != 1024 || cfg.Pool.MaxMemoryPages != 256 || cfg.Pool.MaxCalls != 7 ||
		cfg.Pool.MaxResponseBytes != 4096 || cfg.Pool.Size != 8 || cfg.Pool.MinWarm != 2 || cfg.Pool.AcquireTimeout != time.Second ||
		cfg.StatementTimeout != 2*time.Second || cfg.RolePrefix != "shop_" || cfg.UpdateInterval != time.Hour {
		t.Fatalf("flags did not reach the Config: %+v", cfg)
	}
	t.Setenv("WEBSONIC_CALL_TIMEOUT", "4s")
	t.Setenv("WEBSONIC_ROLE_PREFIX", "env_")
	if cfg, err = parse(t); err != nil || cfg.Pool.CallTimeout != 4*time.Second || cfg.RolePrefix != "env_" {
		t.Fatalf("environment: %+v %v", cfg, err)
	}
	if cfg, err = parse(t, "--call-timeout", "6s"); err != nil || cfg.Pool.CallTimeout != 6*time.Second {
		t.Fatalf("the flag must win over the environment: %v %v", cfg.Pool.CallTimeout, err)
	}
	for _, tt := range []struct {
		name, env string
		args      []string
		want      string
	}{
		{"bad environment value", "WEBSONIC_POOL_SIZE=many", nil, `WEBSONIC_POOL_SIZE="many"`},
		{"zero deadline", "", []string{"--call-timeout", "0s"}, "--call-timeout 0s: must be positive"},
		{"memory past wasm32", "", []string{"--memory-limit-pages", "70000"}, "--memory-limit-pages 70000: want 1 to 65536"},
		{"warm above the pool", "", []string{"--pool-size", "2", "--pool-min-warm", "3"}, "--pool-min-warm 3: want 1 to 2"},
		{"a size without a number", "", []string{"--module-storage-quota", "lots"}, `"lots": want a size`},
		{"a tiny quota", "", []string{"--module-storage-quota", "1KiB"}, "--module-storage-quota 1024: want 1048576"},
		{"a size in the environment", "WEBSONIC_DB_BACKEND_MEMORY=huge", nil, "WEBSONIC_DB_BACKEND_MEMORY"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				k, v, _ := strings.Cut(tt.env, "=")
				t.Setenv(k, v)
			}
			if _, err := parse(t, tt.args...); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestConfirm: approving capabilities takes a "yes" typed on a terminal;
// anything else, or no terminal at all, is a refusal that points at --yes.
func TestConfirm(t *testing.T) {
	tests := []struct {
		name     string
		terminal bool
		typed    string
		ok       bool
	}{
		{"y", true, "y\n", true},
		{"yes", true, "Yes\n", true},
		{"enter", true, "\n", false},
		{"no", true, "no\n", false},
		{"end of input", true, "", false},
		{"no terminal", false, "y\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prompt bytes.Buffer
			err := confirm(strings.NewReader(tt.typed), &prompt, tt.terminal, "install hello@1.0.0?")
			if (err == nil) != tt.ok {
				t.Fatalf("confirm = %v, want ok %v", err, tt.ok)
			}
			if tt.terminal && !strings.Contains(prompt.String(), "install hello@1.0.0? [y/N]") {
				t.Errorf("prompt %q", prompt.String())
			}
			if !tt.terminal && (!errors.Is(err, errNotConfirmed) || !strings.Contains(err.Error(), "--yes") || prompt.Len() != 0) {
				t.Errorf("without a terminal: %v, prompt %q", err, prompt.String())
			}
		})
	}
}

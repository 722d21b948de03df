package deploy

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// needTool returns the path of a tool the test runs. A missing tool skips
// the test on a developer's machine and fails it in CI (CI=true), where
// .ci/run must install it.
func needTool(t *testing.T, name, debianPackage string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s is missing: .ci/run must apt-get install %s", name, debianPackage)
	}
	t.Skipf("%s is missing (apt-get install %s)", name, debianPackage)
	return ""
}

// unitDirectives parses a systemd unit: "Section.Key" → values in order.
func unitDirectives(t *testing.T, unit []byte) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(unit))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("unit line %d: %q", n, line)
			}
			out[section+"."+k] = append(out[section+"."+k], v)
		}
	}
	return out
}

// TestSystemdUnitContract checks the directives THE CONTRACT and the
// issue name: how the runtime is started, told apart from its children and
// reloaded, and the hardening that must not be lost in an edit.
func TestSystemdUnitContract(t *testing.T) {
	d := unitDirectives(t, SystemdUnit)
	for _, tc := range []struct{ key, want string }{
		{"Service.Type", "notify"},
		{"Service.NotifyAccess", "all"},
		{"Service.ExecStart", "/var/lib/websonic/bin/websonic serve"},
		{"Service.ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Service.EnvironmentFile", "/etc/websonic/websonic.env"},
		{"Service.User", "websonic"},
		{"Service.NoNewPrivileges", "yes"},
		{"Service.ProtectSystem", "strict"},
		{"Service.ProtectHome", "yes"},
		{"Service.PrivateTmp", "yes"},
		{"Service.PrivateDevices", "yes"},
		{"Service.ReadWritePaths", "/var/lib/websonic"},
		{"Service.AmbientCapabilities", "CAP_NET_BIND_SERVICE"},
		{"Service.CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"},
		{"Service.SystemCallArchitectures", "native"},
		{"Service.LockPersonality", "yes"},
		{"Service.Restart", "on-failure"},
		{"Service.KillMode", "mixed"},
		// wazero writes machine code, then maps it executable.
		{"Service.MemoryDenyWriteExecute", "no"},
		{"Install.WantedBy", "multi-user.target"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			got := d[tc.key]
			if len(got) != 1 || got[0] != tc.want {
				t.Errorf("%s = %q, want exactly %q", tc.key, got, tc.want)
			}
		})
	}
}

// TestSystemdUnitVerifies runs systemd-analyze verify on the unit (any
// warning, such as an unknown or misspelled directive, fails) and its
// offline security review, which must rate it below 2.5 ("OK").
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := needTool(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	// verify checks that ExecStart's binary exists: point it at one.
	bin := filepath.Join(dir, "websonic")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := strings.ReplaceAll(string(SystemdUnit), "/var/lib/websonic/bin/websonic", bin)
	path := filepath.Join(dir, "websonic.service")
	if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(analyze, "security", "--offline=yes", "--threshold=25", "--no-pager", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("Overall exposure level")) {
		t.Fatalf("systemd-analyze security said:\n%s", out)
	}
}

package release_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/release"
)

// writeFiles writes files (slash paths relative to dir → content).
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBuildIgnoresWorkspaces: a release is built from the module's own
// go.mod and nothing else. A go.work file in a folder above the checkout
// (a developer's workspace) or named by GOWORK in the environment can
// replace any dependency with other source; the release must not pick it
// up. The module here is a small stand-in (ModuleDir) whose one dependency
// says who built it.
func TestBuildIgnoresWorkspaces(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries")
	}
	for _, tc := range []struct {
		name   string
		gowork func(ws string) string // the GOWORK to set ("" none)
	}{
		{"go.work above the module", func(string) string { return "" }},
		{"GOWORK in the environment", func(ws string) string { return filepath.Join(ws, "elsewhere", "go.work") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ws := t.TempDir()
			writeFiles(t, ws, map[string]string{
				"m/go.mod":               "module example.com/m\n\ngo 1.26\n\nrequire example.com/dep v0.0.0\n\nreplace example.com/dep => ./dep\n",
				"m/dep/go.mod":           "module example.com/dep\n\ngo 1.26\n",
				"m/dep/dep.go":           "package dep\n\nconst Who = \"honest\"\n",
				"m/cmd/websonic/main.go": "package main\n\nimport (\n\t\"fmt\"\n\n\t\"example.com/dep\"\n)\n\nfunc main() { fmt.Println(dep.Who) }\n",
				"evil/go.mod":            "module example.com/dep\n\ngo 1.26\n",
				"evil/dep.go":            "package dep\n\nconst Who = \"evil\"\n",
				"go.work":                "go 1.26\n\nuse ./m\n\nreplace example.com/dep => ./evil\n",
				"elsewhere/go.work":      "go 1.26\n\nuse ../m\n\nreplace example.com/dep => ../evil\n",
			})
			if gw := tc.gowork(ws); gw != "" {
				os.Remove(filepath.Join(ws, "go.work"))
				t.Setenv("GOWORK", gw)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			out := filepath.Join(ws, "dist")
			m, err := release.Build(ctx, release.Config{Version: "1.0.0", SourceDateEpoch: 1, OutDir: out,
				ModuleDir: filepath.Join(ws, "m"), Platforms: []string{"linux/amd64"}})
			if err != nil {
				t.Fatal(err)
			}
			said, err := exec.Command(filepath.Join(out, m.Binaries[0].File)).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(said)); got != "honest" {
				t.Fatalf("the release binary was built from the workspace's source: it says %q", got)
			}
		})
	}
}

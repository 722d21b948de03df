// Package modbuild compiles Web Sonic modules with the standard Go
// toolchain: GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared.
package modbuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Build compiles the Go module package in dir to the wasm file out.
func Build(ctx context.Context, dir, out string) error {
	abs, err := filepath.Abs(out)
	if err != nil {
		return fmt.Errorf("modbuild: %w", err)
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-trimpath", "-o", abs, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("modbuild: go build in %s: %w\n%s", dir, err, stderr.Bytes())
	}
	return nil
}

// PackageDir builds the module in dir and lays out a package folder for it
// (module.json, module.wasm, migrations) in a test temp dir, returning that
// folder.
func PackageDir(t testing.TB, dir string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(dir))
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := Build(context.Background(), dir, filepath.Join(out, "module.wasm")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "module.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "module.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "migrations")); err == nil {
		if err := os.CopyFS(filepath.Join(out, "migrations"), os.DirFS(filepath.Join(dir, "migrations"))); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

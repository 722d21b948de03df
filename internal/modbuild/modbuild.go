// Package modbuild compiles Web Sonic modules with the standard Go
// toolchain (GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared) and lays
// them out as package folders the runtime loads: module.json, module.wasm,
// the migrations folder and the assets folder (checked by package
// modassets: a bad path, a symlink or a file past the limits fails the
// build).
package modbuild

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/websonic/websonic/internal/modassets"
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

// Package builds the module whose source is in src into the package folder
// out (created if needed; its migrations and assets are replaced).
func Package(ctx context.Context, src, out string) error {
	assets, err := modassets.Read(os.DirFS(src), modassets.Dir) // before the slow build
	if err != nil {
		return fmt.Errorf("modbuild: %s: %w", src, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("modbuild: %w", err)
	}
	if err := Build(ctx, src, filepath.Join(out, "module.wasm")); err != nil {
		return err
	}
	raw, err := os.ReadFile(filepath.Join(src, "module.json"))
	if err != nil {
		return fmt.Errorf("modbuild: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "module.json"), raw, 0o644); err != nil {
		return fmt.Errorf("modbuild: %w", err)
	}
	if err := os.RemoveAll(filepath.Join(out, "migrations")); err != nil {
		return fmt.Errorf("modbuild: %w", err)
	}
	if _, err := os.Stat(filepath.Join(src, "migrations")); err == nil {
		if err := os.CopyFS(filepath.Join(out, "migrations"), os.DirFS(filepath.Join(src, "migrations"))); err != nil {
			return fmt.Errorf("modbuild: %w", err)
		}
	}
	return writeAssets(assets, out)
}

// writeAssets replaces out's assets folder by assets.
func writeAssets(assets modassets.Files, out string) error {
	dst := filepath.Join(out, modassets.Dir)
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("modbuild: %w", err)
	}
	for _, p := range assets.Paths() {
		f := filepath.Join(dst, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			return fmt.Errorf("modbuild: %w", err)
		}
		if err := os.WriteFile(f, assets[p], 0o644); err != nil {
			return fmt.Errorf("modbuild: %w", err)
		}
	}
	return nil
}

// PackageDir packages the module in src into a test temp folder and
// returns that folder.
func PackageDir(t testing.TB, src string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(src))
	if err := Package(context.Background(), src, out); err != nil {
		t.Fatal(err)
	}
	return out
}

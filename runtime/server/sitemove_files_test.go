package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/internal/sitemove"
)

// TestImportTakesOnlyMovedFiles: an archive's files/ entries are the
// source's to name, and a move carries uploads only (moveFiles). An
// archive naming the updater's package store, the import identity, the
// signing key, the site key or TLS files must not get them into the
// target's data folder: installed packages come from the registry,
// verified, and the keys are the target's own.
func TestImportTakesOnlyMovedFiles(t *testing.T) {
	dir := t.TempDir()
	m := &moveSite{dataDir: dir, incoming: filepath.Join(dir, sitemove.ImportDir, "incoming")}
	for _, p := range []string{
		"updates/modules/hello/1.0.0/module.wasm",
		"import/identity.age",
		"site-signing.key",
		"data-keys.json",
		"tls/key.pem",
		"uploadsx/a.txt",
	} {
		if err := m.keepFile(p, strings.NewReader("planted")); err == nil {
			t.Errorf("keepFile(%q) took it", p)
		}
	}
	if err := m.keepFile("uploads/sub/a.txt", strings.NewReader("an upload")); err != nil {
		t.Fatalf("keepFile of an upload: %v", err)
	}
	if err := m.placeFiles(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "uploads", "sub", "a.txt")); err != nil || string(b) != "an upload" {
		t.Errorf("the upload: %q, %v", b, err)
	}
	for _, p := range []string{"updates", "site-signing.key", "data-keys.json", "tls", "import/identity.age"} {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(p))); err == nil {
			t.Errorf("%s was placed in the data folder", p)
		}
	}
}

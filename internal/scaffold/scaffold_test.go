package scaffold_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/scaffold"
	"github.com/websonic/websonic/sdk/manifest"
)

// repoRoot is this repository's root.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, ok := scaffold.FindRepo(".")
	if !ok {
		t.Fatal("FindRepo(.) does not find this repository")
	}
	return root
}

// TestWriteOutside writes a module outside the repository: its manifest
// decodes, its go.mod requires the SDK and replaces it with the checkout
// at the checkout's go version.
func TestWriteOutside(t *testing.T) {
	root := repoRoot(t)
	dir := filepath.Join(t.TempDir(), "shop")
	res, err := scaffold.Write(scaffold.Options{Name: "shop", Dir: dir, SDKDir: root})
	if err != nil {
		t.Fatal(err)
	}
	if res.InRepo || res.Dir != dir {
		t.Fatalf("result %+v", res)
	}
	want := []string{"module.json", "migrations/001_notes.sql", "main.go", "assets/templates/notes.html", "README.md", "go.mod"}
	if !slices.Equal(res.Files, want) {
		t.Fatalf("files %v, want %v", res.Files, want)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "module.json"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Name != "shop" || m.Capabilities.Routes[0].Path != "/shop" || len(m.Migrations) != 1 {
		t.Fatalf("manifest %+v", m)
	}
	for _, mig := range m.Migrations {
		if _, err := os.Stat(filepath.Join(dir, mig)); err != nil {
			t.Errorf("the manifest lists %s: %v", mig, err)
		}
	}
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	sdkMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := strings.SplitN(strings.SplitN(string(sdkMod), "\ngo ", 2)[1], "\n", 2)[0]
	for _, line := range []string{
		"module example.com/shop",
		"go " + goLine,
		"require github.com/websonic/websonic v0.0.0",
		"replace github.com/websonic/websonic => " + root,
	} {
		if !strings.Contains(string(goMod), "\n"+line+"\n") && !strings.HasPrefix(string(goMod), line+"\n") {
			t.Errorf("go.mod lacks the line %q:\n%s", line, goMod)
		}
	}
}

// TestWriteInRepo writes a module inside a Web Sonic repository (which
// builds it): no go.mod of its own, and the README links the manifest
// reference relatively. The repository is a stand-in in a temporary
// folder, so that the test writes nothing into this one.
func TestWriteInRepo(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module github.com/websonic/websonic\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := scaffold.Write(scaffold.Options{Name: "notes", Dir: filepath.Join(root, "modules", "notes")})
	if err != nil {
		t.Fatal(err)
	}
	if !res.InRepo || slices.Contains(res.Files, "go.mod") {
		t.Fatalf("in the repository: %+v", res)
	}
	readme, err := os.ReadFile(filepath.Join(res.Dir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "(../../sdk/manifest/README.md)") || !strings.Contains(string(readme), "make run-local") {
		t.Fatalf("README:\n%s", readme)
	}

	// Another module's folder is outside, even inside this tree.
	other := filepath.Join(root, "modules", "other")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := scaffold.FindRepo(filepath.Join(other, "x")); ok {
		t.Fatal("FindRepo: a folder of another Go module counts as the repository")
	}
}

// TestWriteRefuses: an invalid name, a name whose page the core site
// reserves, a folder that is not empty or is a file, and a folder outside
// the repository without an SDK are refused, and nothing is written.
func TestWriteRefuses(t *testing.T) {
	root := repoRoot(t)
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "main.go"), []byte("package main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		o       scaffold.Options
		want    string
		wantErr error
	}{
		{"uppercase", scaffold.Options{Name: "Shop"}, `"Shop" cannot name a module: manifest: name: "Shop" must be 2-30 of a-z, 0-9, _ starting with a letter`, manifest.ErrInvalid},
		{"one letter", scaffold.Options{Name: "s"}, "manifest: name:", manifest.ErrInvalid},
		{"a dash", scaffold.Options{Name: "my-shop"}, "manifest: name:", manifest.ErrInvalid},
		{"a path", scaffold.Options{Name: "../shop"}, "manifest: name:", manifest.ErrInvalid},
		{"empty", scaffold.Options{Name: ""}, "manifest: name:", manifest.ErrInvalid},
		{"reserved page", scaffold.Options{Name: "admin"}, `capabilities.routes[0].path: "/admin" is reserved by the core site`, manifest.ErrInvalid},
		{"folder not empty", scaffold.Options{Name: "shop", Dir: full}, full + " holds main.go: choose a new folder", scaffold.ErrExists},
		{"folder is a file", scaffold.Options{Name: "shop", Dir: file}, file + " exists and is not a folder", nil},
		{"no SDK", scaffold.Options{Name: "shop"}, "outside the Web Sonic repository", scaffold.ErrNoSDK},
		{"not a checkout", scaffold.Options{Name: "shop", SDKDir: t.TempDir()}, "is not a checkout of github.com/websonic/websonic", nil},
		{"a checkout's subfolder", scaffold.Options{Name: "shop", SDKDir: filepath.Join(root, "sdk")}, "is not a checkout", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			if o.Dir == "" {
				o.Dir = filepath.Join(t.TempDir(), "new")
			}
			_, err := scaffold.Write(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.wantErr)
			}
			if o.Dir != full && o.Dir != file {
				if _, err := os.Stat(o.Dir); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s was written: %v", o.Dir, err)
				}
			}
			if entries, _ := os.ReadDir(full); len(entries) != 1 {
				t.Errorf("the full folder changed: %v", entries)
			}
		})
	}
}

// TestWriteIntoEmptyFolder accepts a folder that exists and is empty.
func TestWriteIntoEmptyFolder(t *testing.T) {
	dir := t.TempDir()
	if _, err := scaffold.Write(scaffold.Options{Name: "shop", Dir: dir, SDKDir: repoRoot(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		t.Fatal(err)
	}
}

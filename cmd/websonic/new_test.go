package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestModuleNew runs `websonic module new` in-process. From inside this
// repository (the test's folder), a module outside it gets a go.mod that
// replaces the SDK with this checkout; the output lists the files and the
// next steps. (runtime/server's TestNewModuleServes builds such a module
// and serves its page.)
func TestModuleNew(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shop")
	var out, errOut bytes.Buffer
	if err := run([]string{"module", "new", "shop", "--dir", dir}, strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("module new: %v\n%s", err, errOut.String())
	}
	t.Logf("output:\n%s", out.String())
	for _, want := range []string{
		"created module shop in " + dir + ":\n",
		"  module.json\n", "  migrations/001_notes.sql\n", "  main.go\n", "  assets/templates/notes.html\n", "  README.md\n", "  go.mod\n",
		"  go mod tidy\n",
		"  GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o module.wasm .\n",
		"websonic serve --modules-dir ../dev-modules --dev-approve-local --data-dir ../dev-site\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(goMod), "\nreplace github.com/websonic/websonic => "+root+"\n") {
		t.Errorf("go.mod does not replace the SDK with this checkout (%s):\n%s", root, goMod)
	}
}

// TestModuleNewRefuses: no name, two names, an invalid name, a name whose
// page the site reserves, and a folder that exists and is not empty are
// refused with a message saying so, and nothing is written.
func TestModuleNewRefuses(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "notes.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no name", nil, "module new: want one module name: websonic module new NAME [--dir DIR]"},
		{"two names", []string{"a1", "b1"}, "want one module name"},
		{"invalid name", []string{"My-Shop"}, `module new: scaffold: "My-Shop" cannot name a module: manifest: name: "My-Shop" must be 2-30 of a-z, 0-9, _ starting with a letter`},
		{"reserved page", []string{"login"}, `"/login" is reserved by the core site`},
		{"folder not empty", []string{"shop", "--dir", full}, "the folder exists and is not empty: " + full + " holds notes.txt: choose a new folder (or pass --dir)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "new")
			args := append([]string{"module", "new"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "--dir") {
				args = append(args, "--dir", dir)
			}
			var out, errOut bytes.Buffer
			err := run(args, strings.NewReader(""), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("%s was written", dir)
			}
			if b, _ := os.ReadFile(filepath.Join(full, "notes.txt")); string(b) != "mine" {
				t.Errorf("the existing folder's file changed")
			}
		})
	}
}

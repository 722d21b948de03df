package main

import (
	"bytes"
	"context"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/ocipkg"
)

// TestModuleBuild runs `websonic module build` in-process on examples/hello:
// the layout it writes holds an artifact, tagged with the module's version
// and the extra tag, whose files are the module's own; a second build gives
// the same digest.
func TestModuleBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a module to wasm")
	}
	src := filepath.Join("..", "..", "examples", "hello")
	layout := filepath.Join(t.TempDir(), "layout")
	build := func(extra ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		args := append([]string{"module", "build", src, "--out", layout}, extra...)
		if err := run(args, strings.NewReader(""), &out, &errOut); err != nil {
			t.Fatalf("run %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}
	out := build("--tag", "latest")
	m := regexp.MustCompile(`(?m)^digest: +(sha256:[0-9a-f]{64})$`).FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "module:    hello 1.0.0\n") ||
		!strings.Contains(out, "reference: "+layout+":1.0.0\n") || !strings.Contains(out, "reference: "+layout+":latest\n") {
		t.Fatalf("output:\n%s", out)
	}
	t.Logf("output:\n%s", out)

	for _, ref := range []string{"1.0.0", "latest", m[1]} {
		files, err := ocipkg.Fetch(context.Background(), layout, ref)
		if err != nil {
			t.Fatalf("Fetch(%s): %v", ref, err)
		}
		if !bytes.HasPrefix(files["module.wasm"], []byte("\x00asm\x01\x00\x00\x00")) {
			t.Fatalf("module.wasm is not wasm")
		}
		for _, name := range []string{"module.json", "migrations/001_entries.sql"} {
			want, err := os.ReadFile(filepath.Join(src, filepath.FromSlash(name)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(files[name], want) {
				t.Fatalf("%s differs from the source", name)
			}
		}
		// module.wasm, module.json, the migration and the assets layer
		// (the page template).
		if _, ok := files["assets/templates/guestbook.html"]; !ok || len(files) != 4 {
			t.Fatalf("files %v", slices.Sorted(maps.Keys(files)))
		}
	}

	// Flags before DIR work too, and the build is reproducible.
	var again, errOut bytes.Buffer
	if err := run([]string{"module", "build", "--out", layout, src}, strings.NewReader(""), &again, &errOut); err != nil {
		t.Fatalf("second build: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(again.String(), "digest:    "+m[1]+"\n") {
		t.Fatalf("second build gave another digest:\n%s\nfirst: %s", again.String(), m[1])
	}
}

func TestModuleBuildErrors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "layout")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no dir", []string{"module", "build", "--out", out}, "want exactly one module folder"},
		{"two dirs", []string{"module", "build", "a", "b", "--out", out}, "want exactly one module folder"},
		{"no out", []string{"module", "build", "."}, "--out is required"},
		{"not a module", []string{"module", "build", t.TempDir(), "--out", out}, "module.json: no such file"},
		{"unknown subcommand", []string{"module", "push"}, `unknown command "module push"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WEBSONIC_OCI_LAYOUT", "")
			var stdout, stderr bytes.Buffer
			err := run(tt.args, strings.NewReader(""), &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// TestErrorsNameTheAuthorsFiles: module build and publish work on a
// temporary copy of the author's folder; their errors name the author's
// own files, never that copy.
func TestErrorsNameTheAuthorsFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a module to wasm")
	}
	copyHello := func(t *testing.T, edit func(manifest string) string) string {
		t.Helper()
		// Inside this Go module, which the copy imports (the SDK).
		parent, err := os.MkdirTemp(".", "testmodule-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(parent) })
		dir := filepath.Join(parent, "mymodule")
		if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", "hello"))); err != nil {
			t.Fatal(err)
		}
		mf := filepath.Join(dir, "module.json")
		raw, err := os.ReadFile(mf)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(mf, []byte(edit(string(raw))), 0o644); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	tests := []struct {
		name string
		edit func(string) string
		want string // besides the folder
	}{
		{"bad manifest", func(m string) string { return strings.Replace(m, `"access": "public"}`, `"access": "everyone"}`, 1) }, "module.json"},
		{"missing migration", func(m string) string {
			return strings.Replace(m, `"migrations/001_entries.sql"]`, `"migrations/001_entries.sql", "migrations/002_missing.sql"]`, 1)
		}, "002_missing.sql"},
	}
	for _, tt := range tests {
		for _, verb := range []string{"build", "publish"} {
			t.Run(tt.name+"/"+verb, func(t *testing.T) {
				t.Setenv("WEBSONIC_KEY_PASSWORD", "pw")
				t.Setenv("WEBSONIC_REGISTRY_TOKEN", "wsp_unused")
				keys := t.TempDir()
				for _, name := range []string{"root", "targets"} {
					if err := run([]string{"keys", "generate", "--out", keys, "--name", name}, strings.NewReader(""), io.Discard, io.Discard); err != nil {
						t.Fatal(err)
					}
				}
				os.WriteFile(filepath.Join(keys, "root.json"), []byte("{}"), 0o644)
				dir := copyHello(t, tt.edit)
				args := []string{"module", verb, dir, "--out", filepath.Join(t.TempDir(), "layout")}
				if verb == "publish" {
					args = []string{"module", verb, dir, "--keys", keys, "--registry", "http://127.0.0.1:1"}
				}
				var out, errOut bytes.Buffer
				err := run(args, strings.NewReader(""), &out, &errOut)
				if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), tt.want) ||
					strings.Contains(err.Error(), os.TempDir()+"/websonic-") {
					t.Fatalf("err = %v\nwant it to name %s and %s, and no temporary copy", err, dir, tt.want)
				}
				t.Log(err)
			})
		}
	}
}

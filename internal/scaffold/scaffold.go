// Package scaffold writes a new module's folder (`websonic module new`): a
// manifest, a first migration, a main.go that serves one page from the
// module's own table, a README of next steps and, for a module outside the
// Web Sonic repository, a go.mod requiring the SDK. What it writes builds
// with abi.GoBuildCommand and serves in a runtime as it is.
package scaffold

import (
	"bufio"
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/template"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// ModulePath is the Web Sonic repository's Go module, which holds the SDK.
const ModulePath = "github.com/websonic/websonic"

// manifestDoc is the manifest reference, relative to the repository's root.
const manifestDoc = "sdk/manifest/README.md"

// Options say what to write and where.
type Options struct {
	// Name is the module's name (manifest rules: 2-30 of a-z, 0-9, _,
	// starting with a letter); its page is /Name.
	Name string
	// Dir is the folder to create. It must not exist, or be empty.
	Dir string
	// SDKDir is a checkout of the Web Sonic repository. A module outside
	// the repository builds against it (a replace directive in its go.mod).
	SDKDir string
	// SDKVersion is the SDK version a module outside the repository
	// requires when there is no SDKDir (a release, e.g. "v1.2.0").
	SDKVersion string
	// GoVersion is the go.mod go line when there is no SDKDir (whose own
	// go line is used); it must be at least the SDK's.
	GoVersion string
	// GoModulePath is a module outside the repository's go.mod module path
	// ("example.com/" + Name).
	GoModulePath string
}

// Result is what Write wrote.
type Result struct {
	Dir   string   // the folder, absolute
	Files []string // relative to Dir, in the order written
	// InRepo says the folder is inside the Web Sonic repository, which
	// builds it (no go.mod of its own).
	InRepo bool
}

var (
	// ErrExists is wrapped when the folder exists and is not empty.
	ErrExists = errors.New("scaffold: the folder exists and is not empty")
	// ErrNoSDK is wrapped when a folder outside the repository needs a
	// go.mod and Options name no SDK for it.
	ErrNoSDK = errors.New("scaffold: outside the Web Sonic repository a module needs a go.mod, and no SDK was given for it")
)

//go:embed files/*.tmpl
var files embed.FS

// Write creates the module folder o.Dir. An invalid name, a folder that
// exists and is not empty, or (outside the repository) no SDK to build
// against is an error before anything is written; if writing fails
// halfway, the folder is removed again.
func Write(o Options) (*Result, error) {
	// The name on its own first, for an error about the name alone; then
	// the manifest as the runtime will read it, which refuses a name whose
	// page the core site reserves (/admin).
	named := manifest.Manifest{ManifestVersion: manifest.FormatVersion, Name: o.Name, Version: "0.1.0", ABIVersion: abi.Version}
	if err := named.Validate(); err != nil {
		return nil, fmt.Errorf("scaffold: %q cannot name a module: %w", o.Name, err)
	}
	title := strings.ToUpper(o.Name[:1]) + strings.ReplaceAll(o.Name[1:], "_", " ")
	d := data{Name: o.Name, Title: title, BuildCommand: abi.GoBuildCommand, GoModulePath: o.GoModulePath,
		ManifestVersion: manifest.FormatVersion, ABIVersion: abi.Version}
	mf, err := render("module.json.tmpl", d)
	if err != nil {
		return nil, err
	}
	if _, err := manifest.Decode(mf); err != nil {
		return nil, fmt.Errorf("scaffold: %q cannot name a module: %w", o.Name, err)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	if err := checkEmpty(dir); err != nil {
		return nil, err
	}
	root, inRepo := FindRepo(filepath.Dir(dir))
	d.InRepo = inRepo
	if inRepo {
		if d.ManifestDoc, err = filepath.Rel(dir, filepath.Join(root, manifestDoc)); err != nil {
			return nil, fmt.Errorf("scaffold: %w", err)
		}
	} else if err := d.fillGoMod(o); err != nil {
		return nil, err
	}
	out := []file{
		{name: manifest.FileName, content: mf},
		{name: "migrations/001_notes.sql", template: "001_notes.sql.tmpl"},
		{name: "main.go", template: "main.go.tmpl"},
		{name: "assets/templates/notes.html", template: "notes.html.tmpl"},
		{name: "README.md", template: "README.md.tmpl"},
	}
	if !inRepo {
		out = append(out, file{name: "go.mod", template: "go.mod.tmpl"})
	}
	for i, f := range out {
		if f.template != "" {
			if out[i].content, err = render(f.template, d); err != nil {
				return nil, err
			}
		}
	}

	_, err = os.Stat(dir)
	created := errors.Is(err, fs.ErrNotExist)
	res := &Result{Dir: dir, InRepo: inRepo}
	for _, f := range out {
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(f.name)), f.content); err != nil {
			if created {
				os.RemoveAll(dir)
			}
			return nil, err
		}
		res.Files = append(res.Files, f.name)
	}
	return res, nil
}

// checkEmpty refuses a dir that exists and is not an empty folder.
func checkEmpty(dir string) error {
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("scaffold: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("scaffold: %s exists and is not a folder", dir)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("scaffold: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("%w: %s holds %s: choose a new folder", ErrExists, dir, entries[0].Name())
	}
	return nil
}

// file is one file Write writes: a template of files/, or content.
type file struct {
	name     string // slash-separated, relative to the folder
	template string
	content  []byte
}

// data is what the templates see.
type data struct {
	Name, Title  string
	InRepo       bool
	BuildCommand string
	ManifestDoc  string // a link to the manifest reference
	// the current manifest format and ABI, so that the module may use
	// every capability (topics, schedules, admin commands…) at once
	ManifestVersion int
	ABIVersion      uint32
	// go.mod, outside the repository
	GoModulePath, GoVersion, SDKVersion, SDKDir string
}

// fillGoMod decides the go.mod of a module outside the repository.
func (d *data) fillGoMod(o Options) error {
	if d.GoModulePath == "" {
		d.GoModulePath = "example.com/" + o.Name
	}
	switch {
	case o.SDKDir != "":
		root, err := filepath.Abs(o.SDKDir)
		if err != nil {
			return fmt.Errorf("scaffold: %w", err)
		}
		path, goVersion, err := readGoMod(filepath.Join(root, "go.mod"))
		if err != nil || path != ModulePath {
			return fmt.Errorf("scaffold: %s is not a checkout of %s (its go.mod: %q, %v)", root, ModulePath, path, err)
		}
		d.SDKDir, d.GoVersion, d.SDKVersion = root, goVersion, "v0.0.0"
		d.ManifestDoc = filepath.Join(root, manifestDoc)
	case o.SDKVersion != "":
		if o.GoVersion == "" {
			return errors.New("scaffold: no go version for go.mod")
		}
		d.SDKVersion, d.GoVersion = o.SDKVersion, o.GoVersion
		d.ManifestDoc = "https://" + ModulePath + "/blob/" + o.SDKVersion + "/" + manifestDoc
	default:
		return fmt.Errorf("%w: give the path of a checkout of %s", ErrNoSDK, ModulePath)
	}
	return nil
}

// FindRepo looks for the Web Sonic repository holding dir (or dir itself):
// the nearest folder upwards with a go.mod, if that go.mod is ModulePath's.
func FindRepo(dir string) (root string, ok bool) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for {
		if path, _, err := readGoMod(filepath.Join(dir, "go.mod")); err == nil {
			return dir, path == ModulePath
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

// readGoMod returns a go.mod's module path and go version.
func readGoMod(name string) (path, goVersion string, err error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return "", "", err
	}
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if rest, ok := strings.CutPrefix(line, "module "); ok {
			path = strings.Trim(strings.TrimSpace(rest), `"`)
		}
		if rest, ok := strings.CutPrefix(line, "go "); ok {
			goVersion = strings.TrimSpace(rest)
		}
	}
	if path == "" {
		return "", "", fmt.Errorf("scaffold: %s has no module line", name)
	}
	return path, goVersion, nil
}

func render(name string, d data) ([]byte, error) {
	t, err := template.New(name).Delims("[[", "]]").Funcs(template.FuncMap{"quote": quote}).ParseFS(files, "files/"+name)
	if err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, d); err != nil {
		return nil, fmt.Errorf("scaffold: %w", err)
	}
	return b.Bytes(), nil
}

// quote quotes a go.mod path that needs it (spaces, quotes, comments).
func quote(s string) string {
	if strings.ContainsAny(s, " \t\"'`\\") || strings.Contains(s, "//") {
		return strconv.Quote(s)
	}
	return s
}

func writeFile(name string, content []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("scaffold: %w", err)
	}
	if err := os.WriteFile(name, content, 0o644); err != nil {
		return fmt.Errorf("scaffold: %w", err)
	}
	return nil
}

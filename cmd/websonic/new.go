package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/websonic/websonic/internal/scaffold"
	"github.com/websonic/websonic/sdk/abi"
)

// moduleNew is `websonic module new NAME [--dir DIR]`: a working module
// folder to start from (package scaffold).
func moduleNew(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("module new", stdout, stderr)
	dir := fs.String("dir", "", "the folder to create, which must not exist or be empty (default: NAME in the current folder)")
	sdkDir := fs.String("sdk", env("WEBSONIC_SDK_DIR", ""), "for a module outside the Web Sonic repository: the checkout whose SDK its go.mod uses (default: the checkout holding the current folder) (WEBSONIC_SDK_DIR)")
	modPath := fs.String("module-path", "", "for a module outside the Web Sonic repository: its go.mod module path (default: example.com/NAME)")
	names, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(names) != 1 {
		return errors.New("module new: want one module name: websonic module new NAME [--dir DIR] (see websonic module new -h)")
	}
	name := names[0]
	o := scaffold.Options{Name: name, Dir: *dir, SDKDir: *sdkDir, GoModulePath: *modPath, GoVersion: strings.TrimPrefix(runtime.Version(), "go")}
	if o.Dir == "" {
		o.Dir = name
	}
	if o.SDKDir == "" {
		if root, ok := scaffold.FindRepo("."); ok {
			o.SDKDir = root
		} else if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Path == scaffold.ModulePath &&
			bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			o.SDKVersion = bi.Main.Version // a released websonic
		}
	}
	res, err := scaffold.Write(o)
	if err != nil {
		if errors.Is(err, scaffold.ErrExists) {
			return fmt.Errorf("module new: %w (or pass --dir)", err)
		}
		if errors.Is(err, scaffold.ErrNoSDK) {
			return fmt.Errorf("module new: %s is outside the Web Sonic repository, so the module gets a go.mod requiring the SDK: run this inside a Web Sonic checkout, or pass --sdk CHECKOUT", o.Dir)
		}
		return fmt.Errorf("module new: %w", err)
	}
	rel := res.Dir
	if wd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(wd, res.Dir); err == nil && !strings.HasPrefix(r, "..") {
			rel = r
		}
	}
	fmt.Fprintf(stdout, "created module %s in %s:\n", name, rel)
	for _, f := range res.Files {
		fmt.Fprintf(stdout, "  %s\n", f)
	}
	fmt.Fprintln(stdout, "\nnext steps (README.md says more):")
	fmt.Fprintf(stdout, "  cd %s\n", rel)
	if !res.InRepo {
		fmt.Fprintln(stdout, "  go mod tidy")
	}
	fmt.Fprintf(stdout, "  %s\n", abi.GoBuildCommand)
	if res.InRepo {
		fmt.Fprintln(stdout, "  make run-local    # from the repository's root; `make modules` builds modules/* and examples/*")
	} else {
		fmt.Fprintf(stdout, "  mkdir -p ../dev-modules && ln -sfn \"$PWD\" ../dev-modules/%s\n  websonic serve --modules-dir ../dev-modules --dev-approve-local --data-dir ../dev-site\n", name)
	}
	return nil
}

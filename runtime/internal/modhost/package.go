package modhost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// WasmFile is the compiled module's file name in a package.
const WasmFile = "module.wasm"

// MaxWasmSize bounds a module's code.
const MaxWasmSize = 64 << 20

// Package is a module as it arrives: its manifest, code and migrations.
type Package struct {
	Manifest   *manifest.Manifest
	Wasm       []byte
	Migrations map[string][]byte // manifest path -> SQL
}

// ErrPackage wraps every problem with a package's files.
var ErrPackage = errors.New("modhost: bad module package")

// LoadDir reads a package from a folder holding module.json, module.wasm
// and the migrations the manifest lists.
func LoadDir(dir string) (*Package, error) {
	return LoadFS(os.DirFS(dir), dir)
}

// LoadFS reads a package from fsys; name is used in errors.
func LoadFS(fsys fs.FS, name string) (*Package, error) {
	raw, err := fs.ReadFile(fsys, manifest.FileName)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPackage, name, err)
	}
	m, err := manifest.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPackage, filepath.Join(name, manifest.FileName), err)
	}
	if st, err := fs.Stat(fsys, WasmFile); err != nil {
		return nil, fmt.Errorf("%w: %s: %w (build it in the module's folder with %s)", ErrPackage, name, err, abi.GoBuildCommand)
	} else if st.Size() > MaxWasmSize {
		return nil, fmt.Errorf("%w: %s: %s is larger than %d bytes", ErrPackage, name, WasmFile, MaxWasmSize)
	}
	wasm, err := fs.ReadFile(fsys, WasmFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPackage, name, err)
	}
	p := &Package{Manifest: m, Wasm: wasm, Migrations: map[string][]byte{}}
	for _, mig := range m.Migrations {
		sql, err := fs.ReadFile(fsys, mig)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: migration %w", ErrPackage, name, err)
		}
		p.Migrations[mig] = sql
	}
	return p, nil
}

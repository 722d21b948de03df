package modhost

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/websonic/websonic/internal/modassets"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// WasmFile is the compiled module's file name in a package.
const WasmFile = "module.wasm"

// MaxWasmSize bounds a module's code.
const MaxWasmSize = 64 << 20

// Package is a module as it arrives: its manifest, code, migrations and
// static assets.
type Package struct {
	Manifest   *manifest.Manifest
	Wasm       []byte
	Migrations map[string][]byte // manifest path -> SQL
	// Assets are the files of the package's assets/ folder, checked by
	// package modassets (nil: none). The host serves them (server's
	// /static/modules/) while this version serves and while it is the
	// previous one.
	Assets modassets.Files
	// AssetsDigest is the hex SHA-256 of the assets' layer
	// (modassets.Digest; "" without assets): it names this version's
	// assets in their URLs, so a rebuild never reuses a cached URL.
	AssetsDigest string
}

// ErrPackage wraps every problem with a package's files.
var ErrPackage = errors.New("modhost: bad module package")

// LoadDir reads a package from a folder holding module.json, module.wasm,
// the migrations the manifest lists and, optionally, an assets folder.
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
	if p.Assets, err = modassets.Read(fsys, modassets.Dir); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPackage, name, err)
	}
	if len(p.Assets) > 0 {
		if p.AssetsDigest, err = modassets.Digest(p.Assets); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrPackage, name, err)
		}
	}
	return p, nil
}

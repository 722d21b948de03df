package theme

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"sync"

	"github.com/websonic/websonic/templates"
)

// Origins of a theme, as Info.Origin says.
const (
	OriginBuiltin  = "built-in" // the runtime's own theme
	OriginBundled  = "bundled"  // shipped with the runtime (templates/)
	OriginRegistry = "registry" // installed from the registry
)

// BuiltinName is the built-in theme's name: the theme of a new site, and
// the one the site falls back to when the active theme cannot be loaded.
const BuiltinName = "builtin"

// Info describes a theme a Source offers.
type Info struct {
	Name, Version, Description string
	Origin                     string // OriginBuiltin, OriginBundled, OriginRegistry
}

// ErrNotFound is a theme a Source does not have.
var ErrNotFound = errors.New("theme: no such theme")

// Source is where the site's themes come from: the bundled ones, those
// installed from the registry. Implementations are safe for concurrent use.
type Source interface {
	// List lists the themes, each name once.
	List(ctx context.Context) ([]Info, error)
	// Files returns the named theme's files (theme.json at the root), or
	// an error wrapping ErrNotFound.
	Files(ctx context.Context, name string) (fs.FS, error)
}

//go:embed builtin
var builtinFS embed.FS

// BuiltinFS is the built-in theme's files.
func BuiltinFS() fs.FS {
	sub, err := fs.Sub(builtinFS, "builtin")
	if err != nil {
		panic(err) // the embedded folder exists
	}
	return sub
}

// defaults are the built-in theme's page contents, which every theme's
// pages default to.
var defaults = func() (d struct{ pages map[string][]byte }) {
	d.pages = map[string][]byte{}
	for _, p := range Pages {
		b, err := fs.ReadFile(BuiltinFS(), PagesDir+"/"+p+".html")
		if err != nil {
			panic(err) // the built-in theme has every page
		}
		d.pages[p] = b
	}
	return d
}()

// Builtin returns the built-in theme, loaded once.
var Builtin = sync.OnceValue(func() *Theme {
	t, err := Load(BuiltinFS())
	if err != nil {
		panic(err) // the tests load it
	}
	return t
})

// bundled is the source of the built-in theme and the themes of
// package templates.
type bundled struct{ infos []Info }

// Bundled returns the source of the built-in theme and the bundled
// themes (templates/).
func Bundled() Source { return bundledSource() }

var bundledSource = sync.OnceValue(func() *bundled {
	b := &bundled{}
	add := func(fsys fs.FS, origin string) {
		raw, err := fs.ReadFile(fsys, ManifestFile)
		if err != nil {
			panic(err)
		}
		var m Manifest
		if err := json.Unmarshal(raw, &m); err != nil {
			panic(err)
		}
		b.infos = append(b.infos, Info{Name: m.Name, Version: m.Version, Description: m.Description, Origin: origin})
	}
	add(BuiltinFS(), OriginBuiltin)
	for _, n := range templates.Names {
		sub, err := fs.Sub(templates.FS, n)
		if err != nil {
			panic(err)
		}
		add(sub, OriginBundled)
	}
	return b
})

func (b *bundled) List(context.Context) ([]Info, error) { return append([]Info(nil), b.infos...), nil }

func (b *bundled) Files(_ context.Context, name string) (fs.FS, error) {
	if name == BuiltinName {
		return BuiltinFS(), nil
	}
	for _, i := range b.infos {
		if i.Name == name {
			return fs.Sub(templates.FS, name)
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
}

// Combine returns a source of every theme of sources; where two have a
// theme of one name, the first wins (list the registry's before the
// bundled themes, so an installed update of a bundled theme is used).
func Combine(sources ...Source) Source { return combined(sources) }

type combined []Source

func (c combined) List(ctx context.Context) ([]Info, error) {
	var out []Info
	seen := map[string]bool{}
	for _, s := range c {
		infos, err := s.List(ctx)
		if err != nil {
			return nil, err
		}
		for _, i := range infos {
			if !seen[i.Name] {
				seen[i.Name] = true
				out = append(out, i)
			}
		}
	}
	return out, nil
}

func (c combined) Files(ctx context.Context, name string) (fs.FS, error) {
	for _, s := range c {
		f, err := s.Files(ctx, name)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
}

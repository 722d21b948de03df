package theme

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"
	"text/template/parse"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/internal/modassets"
	"github.com/websonic/websonic/internal/safetmpl"
	"github.com/websonic/websonic/runtime/internal/assetserve"
)

// Version is the theme format this runtime reads (theme.json's
// theme_version).
const Version = 1

// Files of a theme.
const (
	ManifestFile = "theme.json"
	LayoutFile   = "layout.html"
	PagesDir     = "pages"
	PartialsDir  = "partials"
	AssetsDir    = "assets"
	LocalesDir   = "locales"
)

// Limits, checked by Load.
const (
	MaxManifestSize = 64 << 10  // theme.json
	MaxTemplateSize = 256 << 10 // one template file
	MaxOutput       = 2 << 20   // one page rendered with the sample data
	MaxFiles        = modassets.MaxFiles
	MaxFileSize     = modassets.MaxFileSize
	MaxTotal        = modassets.MaxTotal
)

// AssetExtensions are the only extensions a theme's assets may have: styles,
// images and fonts. A theme carries no scripts.
var AssetExtensions = []string{".css", ".png", ".jpg", ".jpeg", ".webp", ".svg", ".ico", ".woff2", ".woff"}

// AssetRoot is the URL path under which the site serves the active
// theme's assets: AssetRoot + name + "/" + key + "/" + path.
const AssetRoot = "/static/site/themes/"

// ErrTheme wraps every refusal of a theme.
var ErrTheme = errors.New("theme: bad theme")

// Manifest is theme.json.
type Manifest struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Description  string `json:"description,omitempty"`
	ThemeVersion int    `json:"theme_version"`
	// ColorSchemes the theme supports: "light", "dark" (default: light).
	ColorSchemes []string `json:"color_schemes,omitempty"`
	Author       string   `json:"author,omitempty"`
	License      string   `json:"license,omitempty"`
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]{1,64})?$`)
)

func (m *Manifest) check() error {
	switch {
	case !nameRE.MatchString(m.Name):
		return fmt.Errorf("name %q: use 1-64 of a-z, 0-9, _ and - starting with a letter or digit", m.Name)
	case !semverRE.MatchString(m.Version):
		return fmt.Errorf("version %q is not a semantic version such as 1.2.0", m.Version)
	case m.ThemeVersion != Version:
		return fmt.Errorf("theme_version %d: this runtime reads theme_version %d", m.ThemeVersion, Version)
	case len(m.Description) > 1024 || len(m.Author) > 200 || len(m.License) > 100:
		return errors.New("description (1024), author (200) or license (100) too long")
	}
	for _, s := range m.ColorSchemes {
		if s != "light" && s != "dark" {
			return fmt.Errorf("color_schemes: %q is neither light nor dark", s)
		}
	}
	return nil
}

// Theme is a loaded, validated theme: its templates parsed once, its
// assets ready to serve. It is immutable and safe for concurrent use.
type Theme struct {
	Manifest Manifest
	key      string // version~digest: the URL segment of this build's assets
	base     string // the assets' URL prefix, ending in "/"
	pages    map[string]*template.Template
	assets   *assetserve.Set
	catalog  *i18n.Catalog // nil: none
}

// Name is the theme's name.
func (t *Theme) Name() string { return t.Manifest.Name }

// Key names this build of the theme: its version and the first 16 hex
// digits of the SHA-256 of its files. Two builds never share a key.
func (t *Theme) Key() string { return t.key }

// Catalog is the theme's own messages (locales/), nil when it has none.
func (t *Theme) Catalog() *i18n.Catalog { return t.catalog }

// AssetURL is the URL of the asset at p (relative to assets/).
func (t *Theme) AssetURL(p string) string { return t.base + p }

// Option changes how Load prepares a theme.
type Option func(*options)

type options struct{ base string }

// WithAssetBase serves the theme's assets under base + name + "/" + key +
// "/" instead of AssetRoot (the admin area's preview, on its own origin).
func WithAssetBase(base string) Option { return func(o *options) { o.base = base } }

// Validate checks the theme in fsys as Load does (the distribution's
// hook, before a theme is installed).
func Validate(fsys fs.FS) error {
	_, err := Load(fsys)
	return err
}

// Load reads, checks and prepares the theme in fsys (theme.json at its
// root). It refuses, with an error naming the file (and line for a
// template) and wrapping ErrTheme: a file of a kind a theme may not carry
// (scripts, anything outside layout.html, pages/, partials/, assets/ and
// locales/), a path that is not clean, files over the size caps, a bad
// theme.json or catalogue, a template that does not parse, uses script or
// refers to an asset that does not exist, and a theme whose pages fail to
// render the sample data (signed in and out, errors, English and French)
// or do not show what every page must (the site's name, logo and accent
// colour, the page's language, the content).
func Load(fsys fs.FS, opts ...Option) (*Theme, error) {
	t, err := load(fsys, opts)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTheme, err)
	}
	return t, nil
}

func load(fsys fs.FS, opts []Option) (*Theme, error) {
	o := options{base: AssetRoot}
	for _, f := range opts {
		f(&o)
	}
	files, err := readFiles(fsys)
	if err != nil {
		return nil, err
	}
	raw, ok := files[ManifestFile]
	if !ok {
		return nil, fmt.Errorf("%s is missing", ManifestFile)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: more than one JSON value", ManifestFile)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	t := &Theme{Manifest: m}
	t.key = m.Version + "~" + digest(files)[:16]
	t.base = o.base + m.Name + "/" + t.key + "/"

	assets, locales := modassets.Files{}, map[string][]byte{}
	for p, b := range files {
		switch {
		case strings.HasPrefix(p, AssetsDir+"/"):
			assets[strings.TrimPrefix(p, AssetsDir+"/")] = b
		case strings.HasPrefix(p, LocalesDir+"/"):
			locales[strings.TrimPrefix(p, LocalesDir+"/")] = b
		}
	}
	if err := checkCSS(assets); err != nil {
		return nil, err
	}
	t.assets = assetserve.NewSet(assets)
	if len(locales) > 0 {
		if t.catalog, err = i18n.Parse(locales); err != nil {
			return nil, fmt.Errorf("%s: %w", LocalesDir, err)
		}
	}
	if t.pages, err = parsePages(files, assets, t.AssetURL); err != nil {
		return nil, err
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}

// readFiles reads every file of fsys, checking paths, kinds and sizes.
func readFiles(fsys fs.FS) (map[string][]byte, error) {
	files := map[string][]byte{}
	var total int64
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		if err := modassets.CheckPath(name); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", name)
		}
		limit, err := kind(name)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if len(files) == MaxFiles {
			return fmt.Errorf("more than %d files", MaxFiles)
		}
		b, err := readBounded(fsys, name, limit)
		if err != nil {
			return err
		}
		if total += int64(len(b)); total > MaxTotal {
			return fmt.Errorf("more than %d bytes in all", MaxTotal)
		}
		files[name] = b
		return nil
	})
	if err != nil {
		return nil, err
	}
	return files, nil
}

// kind accepts the path of a theme file and returns its size cap.
func kind(p string) (int64, error) {
	dir, file := path.Split(p)
	ext := strings.ToLower(path.Ext(p))
	switch {
	case p == ManifestFile:
		return MaxManifestSize, nil
	case p == LayoutFile:
		return MaxTemplateSize, nil
	case dir == PagesDir+"/" && ext == ".html":
		if !slices.Contains(Pages, strings.TrimSuffix(file, ".html")) {
			return 0, fmt.Errorf("not a page the site renders (%s)", strings.Join(Pages, ", "))
		}
		return MaxTemplateSize, nil
	case dir == PartialsDir+"/" && ext == ".html":
		return MaxTemplateSize, nil
	case dir == LocalesDir+"/" && ext == ".json":
		return 1 << 20, nil
	case strings.HasPrefix(p, AssetsDir+"/"):
		if slices.Contains(AssetExtensions, ext) {
			return MaxFileSize, nil
		}
		if ext == ".js" || ext == ".mjs" || ext == ".wasm" {
			return 0, errors.New("a theme carries no scripts")
		}
		return 0, fmt.Errorf("assets may be only %s files", strings.Join(AssetExtensions, " "))
	case ext == ".js" || ext == ".mjs" || ext == ".wasm":
		return 0, errors.New("a theme carries no scripts")
	}
	return 0, fmt.Errorf("a theme holds only %s, %s, %s/*.html, %s/*.html, %s/** and %s/<lang>.json",
		ManifestFile, LayoutFile, PagesDir, PartialsDir, AssetsDir, LocalesDir)
}

func readBounded(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, limit)
	}
	return b, nil
}

// digest is the hex SHA-256 over every file's path and content.
func digest(files map[string][]byte) string {
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(files)) {
		fmt.Fprintf(h, "%s\x00%d\x00", p, len(files[p]))
		h.Write(files[p])
	}
	return hex.EncodeToString(h.Sum(nil))
}

// parsePages parses, for every page, the layout, the partials and the
// page's content (the theme's own, else the built-in theme's).
func parsePages(files map[string][]byte, assets modassets.Files, url func(string) string) (map[string]*template.Template, error) {
	if _, ok := files[LayoutFile]; !ok {
		return nil, fmt.Errorf("%s is missing", LayoutFile)
	}
	funcs := template.FuncMap{
		"asset": func(p string) (string, error) {
			if _, ok := assets[p]; !ok {
				return "", fmt.Errorf("no asset %q in %s/", p, AssetsDir)
			}
			return url(p), nil
		},
	}
	var partials []string
	for p := range files {
		if strings.HasPrefix(p, PartialsDir+"/") {
			partials = append(partials, p)
		}
	}
	slices.Sort(partials)
	pages := make(map[string]*template.Template, len(Pages))
	for _, page := range Pages {
		name := PagesDir + "/" + page + ".html"
		content, ok := files[name]
		if !ok {
			content, ok = defaults.pages[page]
			name = "built-in " + name
			if !ok {
				return nil, fmt.Errorf("%s is missing", name)
			}
		}
		t := template.New("theme").Funcs(funcs)
		srcs := append([]string{LayoutFile}, partials...)
		for _, s := range append(srcs, name) {
			text := content
			if s != name {
				text = files[s]
			}
			nt, err := t.New(s).Parse(string(text))
			if err != nil {
				return nil, err
			}
			if err := checkTree(nt, assets); err != nil {
				return nil, err
			}
			if err := checkTemplateMarkup(nt); err != nil {
				return nil, err
			}
		}
		if t.Lookup("layout") == nil {
			return nil, fmt.Errorf(`%s: defines no "layout" template`, LayoutFile)
		}
		if err := safetmpl.CheckCalls(t, "layout"); err != nil {
			return nil, err
		}
		if t.Lookup("content") == nil {
			return nil, fmt.Errorf(`%s: defines no "content" template`, name)
		}
		pages[page] = t
	}
	return pages, nil
}

// forbidden are markup a theme's templates may not write: scripts and
// what loads or runs them, and what redirects a page elsewhere.
var forbidden = regexp.MustCompile(`(?i)<\s*(script|iframe|object|embed|base|frame|frameset|applet)\b|<\s*meta[^>]*http-equiv|\son[a-z]+\s*=|javascript:|vbscript:`)

// checkTree refuses script in a template's text and an asset call whose
// constant argument names no asset.
func checkTree(t *template.Template, assets modassets.Files) error {
	for _, tt := range t.Templates() {
		if tt.Tree == nil || tt.Tree.Root == nil {
			continue
		}
		var err error
		safetmpl.Walk(tt.Tree.Root, func(n parse.Node) {
			if err != nil {
				return
			}
			switch n := n.(type) {
			case *parse.TextNode:
				if m := forbidden.Find(n.Text); m != nil {
					loc, _ := tt.Tree.ErrorContext(n)
					err = fmt.Errorf("%s: %q: a theme runs no script and loads nothing from elsewhere", loc, m)
				}
			case *parse.RangeNode:
				if c := n.Pipe.Cmds; len(c) == 1 && len(c[0].Args) == 1 {
					if _, ok := c[0].Args[0].(*parse.NumberNode); ok {
						loc, _ := tt.Tree.ErrorContext(n)
						err = fmt.Errorf("%s: a theme ranges over its data, not over a number", loc)
					}
				}
			case *parse.CommandNode:
				if len(n.Args) == 2 {
					if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "asset" {
						if s, ok := n.Args[1].(*parse.StringNode); ok {
							if _, found := assets[s.Text]; !found {
								loc, _ := tt.Tree.ErrorContext(n)
								err = fmt.Errorf("%s: asset %q: no such file in %s/", loc, s.Text, AssetsDir)
							}
						}
					}
				}
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// cssURL finds url(...) references and @import in a stylesheet.
var (
	cssURL    = regexp.MustCompile(`(?i)url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]*))\s*\)`)
	cssImport = regexp.MustCompile(`(?i)@import`)
	cssBad    = regexp.MustCompile(`(?i)expression\s*\(|javascript:|behavior\s*:|-moz-binding`)
)

// checkCSS refuses a stylesheet that imports, loads anything from
// elsewhere, or refers to an asset that does not exist.
func checkCSS(assets modassets.Files) error {
	for _, p := range slices.Sorted(maps.Keys(assets)) {
		if strings.ToLower(path.Ext(p)) != ".css" {
			continue
		}
		css := string(assets[p])
		line := func(i int) int { return 1 + strings.Count(css[:i], "\n") }
		if loc := cssImport.FindStringIndex(css); loc != nil {
			return fmt.Errorf("%s/%s:%d: @import: link each stylesheet from the layout instead", AssetsDir, p, line(loc[0]))
		}
		if loc := cssBad.FindStringIndex(css); loc != nil {
			return fmt.Errorf("%s/%s:%d: %q is not allowed", AssetsDir, p, line(loc[0]), css[loc[0]:loc[1]])
		}
		for _, m := range cssURL.FindAllStringSubmatchIndex(css, -1) {
			var ref string
			for g := 1; g <= 3; g++ {
				if m[2*g] >= 0 {
					ref = css[m[2*g]:m[2*g+1]]
				}
			}
			ref, _, _ = strings.Cut(ref, "#")
			ref, _, _ = strings.Cut(ref, "?")
			switch {
			case ref == "" || strings.HasPrefix(ref, "data:"):
				continue
			case strings.Contains(ref, ":") || strings.HasPrefix(ref, "/"):
				return fmt.Errorf("%s/%s:%d: url(%s): a theme loads only its own assets, by relative URL", AssetsDir, p, line(m[0]), ref)
			}
			target := path.Join(path.Dir(p), ref)
			if _, ok := assets[target]; !ok {
				return fmt.Errorf("%s/%s:%d: url(%s): no such file %s/%s", AssetsDir, p, line(m[0]), ref, AssetsDir, target)
			}
		}
	}
	return nil
}

// Render writes page (one of Pages) with data d to w. The output is
// buffered by the caller. A page writing more than MaxOutput bytes fails
// there (an error wrapping safetmpl.ErrTooLarge).
func (t *Theme) Render(w io.Writer, page string, d *Page) error {
	tmpl := t.pages[page]
	if tmpl == nil {
		return fmt.Errorf("theme: no page %q", page)
	}
	d.Name = page
	return tmpl.ExecuteTemplate(&safetmpl.Writer{W: w, Max: MaxOutput}, "layout", d)
}

// ServeAsset answers a GET or HEAD for the asset at p of the build key.
func (t *Theme) ServeAsset(w http.ResponseWriter, r *http.Request, key, p string) {
	if key != t.key {
		http.NotFound(w, r)
		return
	}
	t.assets.Serve(w, r, p)
}

// SplitAssetPath cuts a URL path under base (AssetRoot for the site) into
// theme name, build key and asset path.
func SplitAssetPath(base, urlPath string) (name, key, p string, ok bool) {
	rest, found := strings.CutPrefix(urlPath, base)
	if !found {
		return "", "", "", false
	}
	name, rest, ok1 := strings.Cut(rest, "/")
	key, p, ok2 := strings.Cut(rest, "/")
	if !ok1 || !ok2 || name == "" || key == "" || p == "" {
		return "", "", "", false
	}
	return name, key, p, true
}

package ocipkg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
	"testing/fstest"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"

	"github.com/websonic/websonic/internal/modassets"
)

// Media types of a theme artifact (see the package doc's "Themes").
const (
	// ArtifactTypeTheme is the image manifest's artifactType.
	ArtifactTypeTheme = "application/vnd.websonic.theme.v1"
	// MediaTypeThemeConfig is the config blob: the theme's identity.
	MediaTypeThemeConfig = "application/vnd.websonic.theme.config.v1+json"
	// MediaTypeThemeManifest is theme.json, as the publisher wrote it.
	MediaTypeThemeManifest = "application/vnd.websonic.theme.manifest.v1+json"
	// MediaTypeThemeFiles is one deterministic tar (package modassets'
	// format) of every other file: templates and assets.
	MediaTypeThemeFiles = "application/vnd.websonic.theme.files.v1.tar"
)

// Names in a theme folder and artifact.
const (
	ThemeManifestFile = "theme.json"
	ThemeFilesFile    = "theme.tar"
)

// MaxThemeManifestSize bounds theme.json.
const MaxThemeManifestSize = 64 << 10

// MaxThemeDescription bounds theme.json's description (as a module
// manifest's, and a signed release's).
const MaxThemeDescription = 300

// ThemeExtensions are the only file name extensions a theme may carry
// (compared in lower case): templates, styles, images, fonts and JSON
// data. A theme carries no scripts.
var ThemeExtensions = []string{".html", ".css", ".png", ".jpg", ".jpeg", ".webp", ".svg", ".ico", ".woff2", ".woff", ".json"}

// ErrTheme wraps every problem with a theme folder or artifact.
var ErrTheme = errors.New("ocipkg: bad theme")

// ThemeMeta is what the distribution path reads of theme.json; other
// fields (the theme package's) ride along untouched in Theme.Files.
type ThemeMeta struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Description  string `json:"description,omitempty"`
	ThemeVersion uint32 `json:"theme_version"`
}

// Theme is a theme's files as read from a folder or a verified artifact:
// theme.json, the templates and assets/..., by slash-separated path.
type Theme struct {
	Meta  ThemeMeta
	Files map[string][]byte
}

// FS returns the theme's files as a read-only file system.
func (t *Theme) FS() fs.FS {
	m := make(fstest.MapFS, len(t.Files))
	for p, b := range t.Files {
		m[p] = &fstest.MapFile{Data: b, Mode: 0o444}
	}
	return m
}

// themeConfig is a theme artifact's config blob.
type themeConfig struct {
	Theme themeIdentity `json:"websonic.theme"`
}

type themeIdentity struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	ThemeVersion uint32 `json:"theme_version"`
}

var (
	themeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	semverRE    = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?$`)
)

// DecodeThemeMeta reads theme.json loosely (unknown fields are the theme
// package's) and checks what distribution relies on: a name as module
// names go, a semantic version without build metadata, a theme_version.
func DecodeThemeMeta(raw []byte) (ThemeMeta, error) {
	var m ThemeMeta
	if len(raw) > MaxThemeManifestSize {
		return m, fmt.Errorf("%w: %s is %d bytes, more than %d", ErrTheme, ThemeManifestFile, len(raw), MaxThemeManifestSize)
	}
	if err := decodeJSON(raw, &m); err != nil {
		return m, fmt.Errorf("%w: %s: %w", ErrTheme, ThemeManifestFile, err)
	}
	switch {
	case !themeNameRE.MatchString(m.Name):
		return m, fmt.Errorf("%w: %s: name %q: use 1-64 of a-z, 0-9, _ and - starting with a letter or digit", ErrTheme, ThemeManifestFile, m.Name)
	case m.Name == "assets" || m.Name == "available" || m.Name == "install" || m.Name == "activate":
		return m, fmt.Errorf("%w: %s: name %q is reserved (the admin area's theme pages use it); choose another", ErrTheme, ThemeManifestFile, m.Name)
	case !semverRE.MatchString(m.Version):
		return m, fmt.Errorf("%w: %s: version %q is not a semantic version (such as 1.2.0; no +build)", ErrTheme, ThemeManifestFile, m.Version)
	case m.ThemeVersion == 0:
		return m, fmt.Errorf("%w: %s: theme_version is missing", ErrTheme, ThemeManifestFile)
	case len(m.Description) > MaxThemeDescription:
		return m, fmt.Errorf("%w: %s: description longer than %d bytes", ErrTheme, ThemeManifestFile, MaxThemeDescription)
	}
	return m, nil
}

// CheckThemePath accepts the path of a theme file other than theme.json:
// a clean relative path (modassets.CheckPath: no "..", no hidden or empty
// segment, no absolute path or backslash) ending in one of ThemeExtensions.
func CheckThemePath(p string) error {
	if err := modassets.CheckPath(p); err != nil {
		return fmt.Errorf("%w: %w", ErrTheme, err)
	}
	if p == ThemeManifestFile || p == ThemeFilesFile {
		return fmt.Errorf("%w: %s is a reserved name", ErrTheme, p)
	}
	ext := strings.ToLower(path.Ext(p))
	for _, ok := range ThemeExtensions {
		if ext == ok {
			return nil
		}
	}
	return fmt.Errorf("%w: %s: a theme carries only %s files (no scripts)", ErrTheme, p, strings.Join(ThemeExtensions, " "))
}

// checkThemeFiles checks the files besides theme.json: paths, and at least
// one template.
func checkThemeFiles(files modassets.Files) error {
	html := false
	for p := range files {
		if err := CheckThemePath(p); err != nil {
			return err
		}
		html = html || strings.EqualFold(path.Ext(p), ".html")
	}
	if !html {
		return fmt.Errorf("%w: no .html template", ErrTheme)
	}
	if err := files.Check(); err != nil {
		return fmt.Errorf("%w: %w", ErrTheme, err)
	}
	return nil
}

// ReadTheme reads a theme folder: theme.json and every other file, each
// checked (CheckThemePath; regular files only: a symbolic link is
// refused; modassets' size caps).
func ReadTheme(fsys fs.FS) (*Theme, error) {
	raw, err := readBounded(fsys, ThemeManifestFile, MaxThemeManifestSize)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTheme, err)
	}
	meta, err := DecodeThemeMeta(raw)
	if err != nil {
		return nil, err
	}
	files := modassets.Files{}
	var total int64
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case name == ".":
			return nil
		case d.IsDir():
			if strings.HasPrefix(d.Name(), ".") {
				return fmt.Errorf("%w: folder %s: hidden folders are not part of a theme", ErrTheme, name)
			}
			return nil
		case name == ThemeManifestFile:
			return nil
		case !d.Type().IsRegular():
			return fmt.Errorf("%w: %s is not a regular file (%s)", ErrTheme, name, d.Type())
		}
		if err := CheckThemePath(name); err != nil {
			return err
		}
		if len(files) == modassets.MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrTheme, modassets.MaxFiles)
		}
		b, err := readBounded(fsys, name, modassets.MaxFileSize)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrTheme, err)
		}
		if total += int64(len(b)); total > modassets.MaxTotal {
			return fmt.Errorf("%w: more than %d bytes in all", ErrTheme, modassets.MaxTotal)
		}
		files[name] = b
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrTheme) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrTheme, err)
	}
	if err := checkThemeFiles(files); err != nil {
		return nil, err
	}
	files[ThemeManifestFile] = raw
	return &Theme{Meta: meta, Files: files}, nil
}

// PackTheme reads the theme folder dir (ReadTheme), writes it as an
// artifact into the OCI image layout directory layoutDir and tags it
// with its version and any further tags.
func PackTheme(ctx context.Context, dir, layoutDir string, tags ...string) (ocispec.Descriptor, error) {
	store, err := oci.NewWithContext(ctx, layoutDir)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocipkg: open layout %s: %w", layoutDir, err)
	}
	return PackThemeTo(ctx, dir, store, tags...)
}

// PackThemeTo is PackTheme into any oras target.
func PackThemeTo(ctx context.Context, dir string, target oras.Target, tags ...string) (ocispec.Descriptor, error) {
	th, err := ReadTheme(os.DirFS(dir))
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: %w", dir, err)
	}
	return pushTheme(ctx, th, target, tags...)
}

func pushTheme(ctx context.Context, th *Theme, target oras.Target, tags ...string) (ocispec.Descriptor, error) {
	rest := modassets.Files{}
	for p, b := range th.Files {
		if p != ThemeManifestFile {
			rest[p] = b
		}
	}
	tarball, err := modassets.Tar(rest)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%w: %w", ErrTheme, err)
	}
	layers := []ocispec.Descriptor{
		layer(MediaTypeThemeManifest, ThemeManifestFile, th.Files[ThemeManifestFile]),
		layer(MediaTypeThemeFiles, ThemeFilesFile, tarball),
	}
	blobs := [][]byte{th.Files[ThemeManifestFile], tarball}
	cfg, err := json.Marshal(themeConfig{Theme: themeIdentity{Name: th.Meta.Name, Version: th.Meta.Version, ThemeVersion: th.Meta.ThemeVersion}})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocipkg: %w", err)
	}
	cfgDesc := content.NewDescriptorFromBytes(MediaTypeThemeConfig, cfg)
	annotations := func() map[string]string {
		return map[string]string{ocispec.AnnotationTitle: th.Meta.Name, ocispec.AnnotationVersion: th.Meta.Version}
	}
	im, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactTypeTheme,
		Config:       cfgDesc,
		Layers:       layers,
		Annotations:  annotations(),
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocipkg: %w", err)
	}
	imDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, im)
	imDesc.ArtifactType = ArtifactTypeTheme
	imDesc.Annotations = annotations()
	push := func(d ocispec.Descriptor, b []byte) error {
		err := target.Push(ctx, d, bytes.NewReader(b))
		if err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return fmt.Errorf("ocipkg: push %s: %w", d.Digest, err)
		}
		return nil
	}
	for i, l := range layers {
		if err := push(l, blobs[i]); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	if err := push(cfgDesc, cfg); err != nil {
		return ocispec.Descriptor{}, err
	}
	if err := push(imDesc, im); err != nil {
		return ocispec.Descriptor{}, err
	}
	for _, tag := range append([]string{th.Meta.Version}, tags...) {
		if err := target.Tag(ctx, imDesc, tag); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("ocipkg: tag %q: %w", tag, err)
		}
	}
	return imDesc, nil
}

// decodeThemeManifest decodes an image manifest and checks its shape: a
// theme's artifact type and config, exactly the theme.json and theme.tar
// layers, in that order, each within its size bound.
func decodeThemeManifest(raw []byte) (*ocispec.Manifest, error) {
	if len(raw) > maxImageManifest {
		return nil, fmt.Errorf("%w: image manifest of %d bytes, more than %d", ErrTheme, len(raw), maxImageManifest)
	}
	var im ocispec.Manifest
	if err := decodeJSON(raw, &im); err != nil {
		return nil, fmt.Errorf("%w: image manifest: %w", ErrTheme, err)
	}
	switch {
	case im.SchemaVersion != 2 || im.MediaType != ocispec.MediaTypeImageManifest:
		return nil, fmt.Errorf("%w: image manifest: schema version %d, media type %q", ErrTheme, im.SchemaVersion, im.MediaType)
	case im.ArtifactType != ArtifactTypeTheme:
		return nil, fmt.Errorf("%w: artifact type %q, want %q (is this a module?)", ErrTheme, im.ArtifactType, ArtifactTypeTheme)
	case im.Config.MediaType != MediaTypeThemeConfig || im.Config.Size < 0 || im.Config.Size > maxConfigSize:
		return nil, fmt.Errorf("%w: config %q of %d bytes", ErrTheme, im.Config.MediaType, im.Config.Size)
	case len(im.Layers) != 2:
		return nil, fmt.Errorf("%w: %d layers, want 2 (%s, %s)", ErrTheme, len(im.Layers), ThemeManifestFile, ThemeFilesFile)
	}
	want := []struct {
		mediaType, title string
		limit            int64
	}{
		{MediaTypeThemeManifest, ThemeManifestFile, MaxThemeManifestSize},
		{MediaTypeThemeFiles, ThemeFilesFile, modassets.MaxTarSize},
	}
	for i, l := range im.Layers {
		w := want[i]
		if l.MediaType != w.mediaType {
			return nil, fmt.Errorf("%w: layer %d: media type %q, want %q", ErrTheme, i, l.MediaType, w.mediaType)
		}
		if title := l.Annotations[ocispec.AnnotationTitle]; title != w.title {
			return nil, fmt.Errorf("%w: layer %d: titled %q, want %q", ErrTheme, i, title, w.title)
		}
		if l.Size < 0 || l.Size > w.limit {
			return nil, fmt.Errorf("%w: layer %d (%s) declares %d bytes, more than %d", ErrTheme, i, w.title, l.Size, w.limit)
		}
	}
	return &im, nil
}

// CheckThemeManifest checks a theme artifact's image manifest before
// anything it references is downloaded (as CheckManifest for modules).
func CheckThemeManifest(raw []byte) error {
	_, err := decodeThemeManifest(raw)
	return err
}

// FetchTheme reads the theme artifact ref (a tag or a manifest digest)
// from the OCI image layout directory layoutDir (FetchThemeFrom).
func FetchTheme(ctx context.Context, layoutDir, ref string) (*Theme, error) {
	if st, err := os.Stat(layoutDir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTheme, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrTheme, layoutDir)
	}
	store, err := oci.NewFromFS(ctx, os.DirFS(layoutDir))
	if err != nil {
		return nil, fmt.Errorf("%w: open layout %s: %w", ErrTheme, layoutDir, err)
	}
	return FetchThemeFrom(ctx, store, ref)
}

// FetchThemeFrom reads a theme artifact from any oras source and returns
// its files, trusting nothing: every blob's size and digest verified, the
// manifest's shape checked (decodeThemeManifest), theme.json decoded, the
// config and annotations agreeing with it, and every file of the tar
// checked (modassets.Untar, then CheckThemePath). It does not judge the
// templates: that is the theme package's Validate.
func FetchThemeFrom(ctx context.Context, src oras.ReadOnlyTarget, ref string) (*Theme, error) {
	desc, err := src.Resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %q: %w", ErrTheme, ref, err)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, fmt.Errorf("%w: %q is a %q, not an image manifest", ErrTheme, ref, desc.MediaType)
	}
	raw, err := fetchTheme(ctx, src, desc, maxImageManifest, "image manifest")
	if err != nil {
		return nil, err
	}
	im, err := decodeThemeManifest(raw)
	if err != nil {
		return nil, err
	}
	rawCfg, err := fetchTheme(ctx, src, im.Config, maxConfigSize, "config")
	if err != nil {
		return nil, err
	}
	var cfg themeConfig
	if err := decodeJSON(rawCfg, &cfg); err != nil {
		return nil, fmt.Errorf("%w: config: %w", ErrTheme, err)
	}
	rawMeta, err := fetchTheme(ctx, src, im.Layers[0], MaxThemeManifestSize, ThemeManifestFile)
	if err != nil {
		return nil, err
	}
	meta, err := DecodeThemeMeta(rawMeta)
	if err != nil {
		return nil, err
	}
	if want := (themeIdentity{Name: meta.Name, Version: meta.Version, ThemeVersion: meta.ThemeVersion}); cfg.Theme != want {
		return nil, fmt.Errorf("%w: config names %+v, %s %+v", ErrTheme, cfg.Theme, ThemeManifestFile, want)
	}
	if im.Annotations[ocispec.AnnotationTitle] != meta.Name || im.Annotations[ocispec.AnnotationVersion] != meta.Version {
		return nil, fmt.Errorf("%w: annotations name %s@%s, %s %s@%s", ErrTheme,
			im.Annotations[ocispec.AnnotationTitle], im.Annotations[ocispec.AnnotationVersion], ThemeManifestFile, meta.Name, meta.Version)
	}
	tarball, err := fetchTheme(ctx, src, im.Layers[1], modassets.MaxTarSize, ThemeFilesFile)
	if err != nil {
		return nil, err
	}
	files, err := modassets.Untar(tarball)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTheme, err)
	}
	if err := checkThemeFiles(files); err != nil {
		return nil, err
	}
	files[ThemeManifestFile] = rawMeta
	return &Theme{Meta: meta, Files: files}, nil
}

// fetchTheme is fetch with theme errors.
func fetchTheme(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, limit int64, what string) ([]byte, error) {
	return fetchAs(ctx, src, desc, limit, what, ErrTheme)
}

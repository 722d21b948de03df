package ocipkg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/errdef"

	"github.com/websonic/websonic/internal/modassets"
	"github.com/websonic/websonic/sdk/manifest"
)

// Media types of the artifact's parts.
const (
	MediaTypeConfig    = "application/vnd.wasm.config.v0+json"
	MediaTypeWasm      = "application/wasm"
	MediaTypeManifest  = "application/vnd.websonic.module.manifest.v1+json"
	MediaTypeMigration = "application/vnd.websonic.module.migration.v1+sql"
	// MediaTypeAssets is the one layer holding the module's static assets
	// (package modassets): a deterministic tar, titled AssetsFile.
	MediaTypeAssets = "application/vnd.websonic.module.assets.v1.tar"
)

// File names in a package folder and in Fetch's result.
const (
	WasmFile     = "module.wasm"
	ManifestFile = manifest.FileName
	// AssetsFile titles the assets layer; Fetch returns its files as
	// AssetsDir + "/" + path instead.
	AssetsFile = "assets.tar"
	AssetsDir  = modassets.Dir
)

// Size bounds, checked before anything is read.
const (
	MaxWasmSize      = 64 << 20 // as the runtime's modhost.MaxWasmSize
	MaxMigrationSize = 4 << 20
	maxConfigSize    = 64 << 10
	maxImageManifest = 4 << 20
	maxLayers        = 1024
)

var (
	// ErrPackage wraps every problem with the package folder given to Pack.
	ErrPackage = errors.New("ocipkg: bad module package")
	// ErrArtifact wraps every reason Fetch refuses an artifact. A digest or
	// size mismatch also wraps oras-go's content.ErrMismatchedDigest or
	// io.ErrUnexpectedEOF / content.ErrTrailingData.
	ErrArtifact = errors.New("ocipkg: bad module artifact")
)

// Config is the artifact's config blob: the CNCF wasm config fields we use
// plus the module's identity.
type Config struct {
	Architecture string       `json:"architecture"`
	OS           string       `json:"os"`
	LayerDigests []string     `json:"layerDigests"`
	Module       ConfigModule `json:"websonic.module"`
}

// ConfigModule names the module in Config.
type ConfigModule struct {
	Name       string `json:"name"`
	Version    string `json:"version"`
	ABIVersion uint32 `json:"abi_version"`
}

// Pack reads the package folder pkgDir, validates it, writes it as an
// artifact into the OCI image layout directory layoutDir (created if
// needed; existing content is kept) and tags it with the module's version
// and any further tags. It returns the image manifest's descriptor, whose
// annotations carry the module's name (title) and version.
func Pack(ctx context.Context, pkgDir, layoutDir string, tags ...string) (ocispec.Descriptor, error) {
	store, err := oci.NewWithContext(ctx, layoutDir)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocipkg: open layout %s: %w", layoutDir, err)
	}
	return PackTo(ctx, pkgDir, store, tags...)
}

// PackTo is Pack into any oras target (an OCI layout, a remote repository,
// memory), tagged with the module's version and any further tags.
func PackTo(ctx context.Context, pkgDir string, target oras.Target, tags ...string) (ocispec.Descriptor, error) {
	files, m, err := readPackage(pkgDir)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	layers := make([]ocispec.Descriptor, 0, 3+len(m.Migrations))
	layers = append(layers,
		layer(MediaTypeWasm, WasmFile, files[WasmFile]),
		layer(MediaTypeManifest, ManifestFile, files[ManifestFile]))
	for _, p := range m.Migrations {
		layers = append(layers, layer(MediaTypeMigration, p, files[p]))
	}
	blobs := make([][]byte, 0, len(layers)+1)
	blobs = append(blobs, files[WasmFile], files[ManifestFile])
	for _, p := range m.Migrations {
		blobs = append(blobs, files[p])
	}
	if tarball, ok := files[AssetsFile]; ok {
		layers = append(layers, layer(MediaTypeAssets, AssetsFile, tarball))
		blobs = append(blobs, tarball)
	}
	cfg, err := json.Marshal(Config{
		Architecture: "wasm", OS: "wasip1",
		LayerDigests: []string{layers[0].Digest.String()},
		Module:       ConfigModule{Name: m.Name, Version: m.Version, ABIVersion: m.ABIVersion},
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocipkg: %w", err)
	}
	cfgDesc := content.NewDescriptorFromBytes(MediaTypeConfig, cfg)
	annotations := func() map[string]string {
		return map[string]string{ocispec.AnnotationTitle: m.Name, ocispec.AnnotationVersion: m.Version}
	}
	im, err := json.Marshal(ocispec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   ocispec.MediaTypeImageManifest,
		Config:      cfgDesc,
		Layers:      layers,
		Annotations: annotations(),
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocipkg: %w", err)
	}
	imDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, im)
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
	for _, tag := range append([]string{m.Version}, tags...) {
		if err := target.Tag(ctx, imDesc, tag); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("ocipkg: tag %q: %w", tag, err)
		}
	}
	return imDesc, nil
}

func layer(mediaType, title string, b []byte) ocispec.Descriptor {
	d := content.NewDescriptorFromBytes(mediaType, b)
	d.Annotations = map[string]string{ocispec.AnnotationTitle: title}
	return d
}

// readPackage reads and validates a package folder.
func readPackage(dir string) (map[string][]byte, *manifest.Manifest, error) {
	fsys := os.DirFS(dir)
	raw, err := readBounded(fsys, ManifestFile, manifest.MaxSize)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrPackage, dir, err)
	}
	m, err := manifest.Decode(raw)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrPackage, path.Join(dir, ManifestFile), err)
	}
	wasm, err := readBounded(fsys, WasmFile, MaxWasmSize)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrPackage, dir, err)
	}
	files := map[string][]byte{ManifestFile: raw, WasmFile: wasm}
	for _, p := range m.Migrations {
		sql, err := readBounded(fsys, p, MaxMigrationSize)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %s: migration %w", ErrPackage, dir, err)
		}
		files[p] = sql
	}
	assets, err := modassets.Read(fsys, AssetsDir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrPackage, dir, err)
	}
	if len(assets) > 0 {
		if files[AssetsFile], err = modassets.Tar(assets); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrPackage, dir, err)
		}
	}
	return files, m, nil
}

func readBounded(fsys fs.FS, name string, limit int64) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", name)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, nil
}

// Fetch reads the artifact ref (a tag such as "1.0.0", or a manifest
// digest) from the OCI image layout directory layoutDir, which it does not
// modify, and returns its files: "module.json", "module.wasm" and each
// migration's path, all verified (see the package doc), and each asset
// as "assets/" + its path (the assets layer, checked by modassets.Untar).
func Fetch(ctx context.Context, layoutDir, ref string) (map[string][]byte, error) {
	if st, err := os.Stat(layoutDir); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrArtifact, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("%w: %s is not a directory", ErrArtifact, layoutDir)
	}
	store, err := oci.NewFromFS(ctx, os.DirFS(layoutDir))
	if err != nil {
		return nil, fmt.Errorf("%w: open layout %s: %w", ErrArtifact, layoutDir, err)
	}
	return FetchFrom(ctx, store, ref)
}

// layerLimits checks each layer's media type and title and returns the
// size bound of each.
func layerLimits(im *ocispec.Manifest) ([]int64, error) {
	limits := make([]int64, len(im.Layers))
	for i, l := range im.Layers {
		title := l.Annotations[ocispec.AnnotationTitle]
		switch l.MediaType {
		case MediaTypeWasm:
			if title != WasmFile {
				return nil, fmt.Errorf("%w: layer %d: wasm layer titled %q, want %q", ErrArtifact, i, title, WasmFile)
			}
			limits[i] = MaxWasmSize
		case MediaTypeManifest:
			if title != ManifestFile {
				return nil, fmt.Errorf("%w: layer %d: manifest layer titled %q, want %q", ErrArtifact, i, title, ManifestFile)
			}
			limits[i] = manifest.MaxSize
		case MediaTypeMigration:
			if err := checkTitle(title); err != nil {
				return nil, fmt.Errorf("%w: layer %d: %w", ErrArtifact, i, err)
			}
			limits[i] = MaxMigrationSize
		case MediaTypeAssets:
			if title != AssetsFile {
				return nil, fmt.Errorf("%w: layer %d: assets layer titled %q, want %q", ErrArtifact, i, title, AssetsFile)
			}
			limits[i] = modassets.MaxTarSize
		default:
			return nil, fmt.Errorf("%w: layer %d: unknown media type %q", ErrArtifact, i, l.MediaType)
		}
	}
	return limits, nil
}

// CheckManifest checks an artifact's image manifest before anything it
// references is downloaded: media types, titles, the number of layers and
// every declared size within this package's bounds. A verified manifest
// (its digest signed) can still name a gigabyte blob; this refuses it
// before the download rather than after.
func CheckManifest(raw []byte) error {
	if len(raw) > maxImageManifest {
		return fmt.Errorf("%w: image manifest of %d bytes, more than %d", ErrArtifact, len(raw), maxImageManifest)
	}
	var im ocispec.Manifest
	if err := decodeJSON(raw, &im); err != nil {
		return fmt.Errorf("%w: image manifest: %w", ErrArtifact, err)
	}
	if im.Config.MediaType != MediaTypeConfig || im.Config.Size > maxConfigSize {
		return fmt.Errorf("%w: config %q of %d bytes", ErrArtifact, im.Config.MediaType, im.Config.Size)
	}
	if len(im.Layers) > maxLayers {
		return fmt.Errorf("%w: %d layers, more than %d", ErrArtifact, len(im.Layers), maxLayers)
	}
	limits, err := layerLimits(&im)
	if err != nil {
		return err
	}
	for i, l := range im.Layers {
		if l.Size < 0 || l.Size > limits[i] {
			return fmt.Errorf("%w: layer %d (%s) declares %d bytes, more than %d", ErrArtifact, i, l.Annotations[ocispec.AnnotationTitle], l.Size, limits[i])
		}
	}
	return nil
}

// FetchFrom is Fetch from any oras source.
func FetchFrom(ctx context.Context, src oras.ReadOnlyTarget, ref string) (map[string][]byte, error) {
	desc, err := src.Resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%w: resolve %q: %w", ErrArtifact, ref, err)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, fmt.Errorf("%w: %q is a %q, not an image manifest", ErrArtifact, ref, desc.MediaType)
	}
	raw, err := fetch(ctx, src, desc, maxImageManifest, "image manifest")
	if err != nil {
		return nil, err
	}
	var im ocispec.Manifest
	if err := decodeJSON(raw, &im); err != nil {
		return nil, fmt.Errorf("%w: image manifest: %w", ErrArtifact, err)
	}
	if im.SchemaVersion != 2 || im.MediaType != ocispec.MediaTypeImageManifest {
		return nil, fmt.Errorf("%w: image manifest: schema version %d, media type %q", ErrArtifact, im.SchemaVersion, im.MediaType)
	}
	if im.Config.MediaType != MediaTypeConfig {
		return nil, fmt.Errorf("%w: config media type %q, want %q", ErrArtifact, im.Config.MediaType, MediaTypeConfig)
	}
	if len(im.Layers) > maxLayers {
		return nil, fmt.Errorf("%w: %d layers, more than %d", ErrArtifact, len(im.Layers), maxLayers)
	}
	rawCfg, err := fetch(ctx, src, im.Config, maxConfigSize, "config")
	if err != nil {
		return nil, err
	}
	var cfg Config
	if err := decodeJSON(rawCfg, &cfg); err != nil {
		return nil, fmt.Errorf("%w: config: %w", ErrArtifact, err)
	}

	limits, err := layerLimits(&im)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	var wasmDigest digest.Digest
	for i, l := range im.Layers {
		title, limit := l.Annotations[ocispec.AnnotationTitle], limits[i]
		if l.MediaType == MediaTypeWasm {
			wasmDigest = l.Digest
		}
		if _, dup := files[title]; dup {
			return nil, fmt.Errorf("%w: layer %d: title %q appears twice", ErrArtifact, i, title)
		}
		b, err := fetch(ctx, src, l, limit, fmt.Sprintf("layer %d (%s)", i, title))
		if err != nil {
			return nil, err
		}
		files[title] = b
	}
	if files[WasmFile] == nil {
		return nil, fmt.Errorf("%w: no %s layer", ErrArtifact, MediaTypeWasm)
	}
	var assets modassets.Files
	if tarball, ok := files[AssetsFile]; ok {
		delete(files, AssetsFile)
		if assets, err = modassets.Untar(tarball); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrArtifact, err)
		}
	}
	if files[ManifestFile] == nil {
		return nil, fmt.Errorf("%w: no %s layer", ErrArtifact, MediaTypeManifest)
	}
	m, err := manifest.Decode(files[ManifestFile])
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrArtifact, err)
	}
	if got := len(files) - 2; got != len(m.Migrations) {
		return nil, fmt.Errorf("%w: %d migration layers, the manifest lists %d", ErrArtifact, got, len(m.Migrations))
	}
	for _, p := range m.Migrations {
		if files[p] == nil {
			return nil, fmt.Errorf("%w: migration %s is listed in the manifest but has no layer", ErrArtifact, p)
		}
	}
	want := ConfigModule{Name: m.Name, Version: m.Version, ABIVersion: m.ABIVersion}
	if cfg.Architecture != "wasm" || cfg.OS != "wasip1" {
		return nil, fmt.Errorf("%w: config: platform %s/%s, want wasip1/wasm", ErrArtifact, cfg.OS, cfg.Architecture)
	}
	if cfg.Module != want {
		return nil, fmt.Errorf("%w: config names %+v, the manifest %+v", ErrArtifact, cfg.Module, want)
	}
	if len(cfg.LayerDigests) != 1 || cfg.LayerDigests[0] != wasmDigest.String() {
		return nil, fmt.Errorf("%w: config layerDigests %v do not name the wasm layer %s", ErrArtifact, cfg.LayerDigests, wasmDigest)
	}
	if im.Annotations[ocispec.AnnotationTitle] != m.Name || im.Annotations[ocispec.AnnotationVersion] != m.Version {
		return nil, fmt.Errorf("%w: annotations name %s@%s, the manifest %s@%s", ErrArtifact,
			im.Annotations[ocispec.AnnotationTitle], im.Annotations[ocispec.AnnotationVersion], m.Name, m.Version)
	}
	for p, b := range assets {
		files[AssetsDir+"/"+p] = b
	}
	return files, nil
}

// fetch reads one blob, bounded by limit and verified against desc's size
// and digest.
func fetch(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, limit int64, what string) ([]byte, error) {
	return fetchAs(ctx, src, desc, limit, what, ErrArtifact)
}

// fetchAs is fetch with its errors wrapping sentinel.
func fetchAs(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, limit int64, what string, sentinel error) ([]byte, error) {
	if desc.Size < 0 || desc.Size > limit {
		return nil, fmt.Errorf("%w: %s: size %d outside 0..%d", sentinel, what, desc.Size, limit)
	}
	if err := desc.Digest.Validate(); err != nil || desc.Digest.Algorithm() != digest.SHA256 {
		return nil, fmt.Errorf("%w: %s: digest %q is not a valid sha256 digest", sentinel, what, desc.Digest)
	}
	b, err := content.FetchAll(ctx, src, desc)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", sentinel, what, desc.Digest, err)
	}
	return b, nil
}

// checkTitle accepts only clean, relative, slash-separated paths.
func checkTitle(t string) error {
	switch {
	case t == "":
		return errors.New("migration layer has no title")
	case containsDotDot(t):
		return fmt.Errorf("title %q contains \"..\"", t)
	case !fs.ValidPath(t) || t == "." || strings.Contains(t, `\`):
		return fmt.Errorf("title %q is not a clean relative path", t)
	case t == WasmFile || t == ManifestFile || t == AssetsFile || t == AssetsDir || strings.HasPrefix(t, AssetsDir+"/"):
		return fmt.Errorf("migration layer titled %q", t)
	}
	return nil
}

func containsDotDot(t string) bool {
	for _, e := range strings.Split(t, "/") {
		if e == ".." {
			return true
		}
	}
	return false
}

func decodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

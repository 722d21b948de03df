package ocipkg

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/websonic/websonic/internal/tufrepo"
)

// Media types of a runtime artifact (see the package doc's "Runtime").
const (
	// ArtifactTypeRuntime is the image manifest's artifactType.
	ArtifactTypeRuntime = "application/vnd.websonic.runtime.v1"
	// MediaTypeRuntimeConfig is the config blob: the runtime's identity
	// and platform, {"websonic.runtime": RuntimeMeta}.
	MediaTypeRuntimeConfig = "application/vnd.websonic.runtime.config.v1+json"
	// MediaTypeRuntimeBinary is the one layer: the raw executable.
	MediaTypeRuntimeBinary = "application/vnd.websonic.runtime.binary.v1"
)

// RuntimeBinaryFile titles the binary layer.
const RuntimeBinaryFile = "websonic"

// Annotations of a runtime artifact's image manifest naming its platform
// (title and version are the standard org.opencontainers.image ones), so
// that CheckRuntimeManifest reads the whole identity from the manifest.
const (
	AnnotationRuntimeOS   = "vnd.websonic.runtime.os"
	AnnotationRuntimeArch = "vnd.websonic.runtime.arch"
)

// MaxRuntimeBinary bounds a runtime binary, checked before it is read.
const MaxRuntimeBinary = tufrepo.MaxRuntimeBinary

// ErrRuntime wraps every reason a runtime artifact or its description is
// refused. A digest or size mismatch also wraps oras-go's error.
var ErrRuntime = errors.New("ocipkg: bad runtime artifact")

// RuntimeMeta is a runtime artifact's identity: the config blob's
// "websonic.runtime" object.
type RuntimeMeta struct {
	Name    string `json:"name"`    // tufrepo.RuntimeName
	Version string `json:"version"` // semantic version, no build metadata
	OS      string `json:"os"`      // "linux"
	Arch    string `json:"arch"`    // "amd64" or "arm64"
}

// Tag is the artifact's tag in the runtime repository:
// "<version>-<os>-<arch>".
func (m RuntimeMeta) Tag() string { return m.Version + "-" + m.OS + "-" + m.Arch }

func (m RuntimeMeta) check() error {
	switch {
	case m.Name != tufrepo.RuntimeName:
		return fmt.Errorf("%w: runtime name %q, want %q", ErrRuntime, m.Name, tufrepo.RuntimeName)
	case !semverRE.MatchString(m.Version):
		return fmt.Errorf("%w: version %q is not a semantic version (such as 1.2.0; no +build)", ErrRuntime, m.Version)
	case !tufrepo.ValidRuntimePlatform(m.OS, m.Arch):
		return fmt.Errorf("%w: platform %q/%q is not one runtime releases are built for", ErrRuntime, m.OS, m.Arch)
	}
	return nil
}

var sha256DigestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

type runtimeConfig struct {
	Runtime RuntimeMeta `json:"websonic.runtime"`
}

func (m RuntimeMeta) annotations() map[string]string {
	return map[string]string{ocispec.AnnotationTitle: m.Name, ocispec.AnnotationVersion: m.Version,
		AnnotationRuntimeOS: m.OS, AnnotationRuntimeArch: m.Arch}
}

// PackRuntime writes binary as a runtime artifact into target and tags it
// meta.Tag() and tags. Packing is deterministic (no timestamps): the same
// binary and meta always give the same manifest digest. It returns the
// image manifest's descriptor.
func PackRuntime(ctx context.Context, binary []byte, meta RuntimeMeta, target oras.Target, tags ...string) (ocispec.Descriptor, error) {
	if err := meta.check(); err != nil {
		return ocispec.Descriptor{}, err
	}
	if len(binary) == 0 || len(binary) > MaxRuntimeBinary {
		return ocispec.Descriptor{}, fmt.Errorf("%w: binary of %d bytes (want 1 to %d)", ErrRuntime, len(binary), MaxRuntimeBinary)
	}
	bin := layer(MediaTypeRuntimeBinary, RuntimeBinaryFile, binary)
	cfg, err := json.Marshal(runtimeConfig{Runtime: meta})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocipkg: %w", err)
	}
	cfgDesc := content.NewDescriptorFromBytes(MediaTypeRuntimeConfig, cfg)
	im, err := json.Marshal(ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactTypeRuntime,
		Config:       cfgDesc,
		Layers:       []ocispec.Descriptor{bin},
		Annotations:  meta.annotations(),
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ocipkg: %w", err)
	}
	imDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, im)
	imDesc.ArtifactType = ArtifactTypeRuntime
	imDesc.Annotations = meta.annotations()
	for _, p := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{bin, binary}, {cfgDesc, cfg}, {imDesc, im}} {
		if err := target.Push(ctx, p.d, bytes.NewReader(p.b)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
			return ocispec.Descriptor{}, fmt.Errorf("ocipkg: push %s: %w", p.d.Digest, err)
		}
	}
	for _, tag := range append([]string{meta.Tag()}, tags...) {
		if err := target.Tag(ctx, imDesc, tag); err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("ocipkg: tag %q: %w", tag, err)
		}
	}
	return imDesc, nil
}

// CheckRuntimeManifest checks a runtime artifact's image manifest before
// anything it references is downloaded: schema 2 image manifest, the
// runtime's artifact type and config media type (config bounded), exactly
// one layer of MediaTypeRuntimeBinary titled RuntimeBinaryFile of 1 to
// MaxRuntimeBinary bytes, and annotations naming a valid runtime
// identity. It returns that identity and the binary layer's descriptor.
func CheckRuntimeManifest(raw []byte) (RuntimeMeta, ocispec.Descriptor, error) {
	var meta RuntimeMeta
	if len(raw) > maxImageManifest {
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: image manifest of %d bytes, more than %d", ErrRuntime, len(raw), maxImageManifest)
	}
	var im ocispec.Manifest
	if err := decodeJSON(raw, &im); err != nil {
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: image manifest: %w", ErrRuntime, err)
	}
	switch {
	case im.SchemaVersion != 2 || im.MediaType != ocispec.MediaTypeImageManifest:
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: image manifest: schema version %d, media type %q", ErrRuntime, im.SchemaVersion, im.MediaType)
	case im.ArtifactType != ArtifactTypeRuntime:
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: artifact type %q, want %q", ErrRuntime, im.ArtifactType, ArtifactTypeRuntime)
	case im.Config.MediaType != MediaTypeRuntimeConfig || im.Config.Size < 0 || im.Config.Size > maxConfigSize:
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: config %q of %d bytes", ErrRuntime, im.Config.MediaType, im.Config.Size)
	case len(im.Layers) != 1:
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: %d layers, want 1 (the binary)", ErrRuntime, len(im.Layers))
	}
	bin := im.Layers[0]
	switch {
	case bin.MediaType != MediaTypeRuntimeBinary:
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: layer media type %q, want %q", ErrRuntime, bin.MediaType, MediaTypeRuntimeBinary)
	case bin.Annotations[ocispec.AnnotationTitle] != RuntimeBinaryFile:
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: layer titled %q, want %q", ErrRuntime, bin.Annotations[ocispec.AnnotationTitle], RuntimeBinaryFile)
	case bin.Size <= 0 || bin.Size > MaxRuntimeBinary:
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: binary of %d bytes (want 1 to %d)", ErrRuntime, bin.Size, MaxRuntimeBinary)
	case !sha256DigestRE.MatchString(string(bin.Digest)):
		return meta, ocispec.Descriptor{}, fmt.Errorf("%w: binary digest %q is not sha256:<64 lowercase hex>", ErrRuntime, bin.Digest)
	}
	a := im.Annotations
	meta = RuntimeMeta{Name: a[ocispec.AnnotationTitle], Version: a[ocispec.AnnotationVersion], OS: a[AnnotationRuntimeOS], Arch: a[AnnotationRuntimeArch]}
	if err := meta.check(); err != nil {
		return RuntimeMeta{}, ocispec.Descriptor{}, fmt.Errorf("annotations: %w", err)
	}
	return meta, bin, nil
}

// CheckRuntimeConfig checks a runtime artifact's config blob, decoded
// refusing unknown fields, names meta (what CheckRuntimeManifest read).
func CheckRuntimeConfig(raw []byte, meta RuntimeMeta) error {
	if len(raw) > maxConfigSize {
		return fmt.Errorf("%w: config of %d bytes, more than %d", ErrRuntime, len(raw), maxConfigSize)
	}
	var cfg runtimeConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields() // ours: nothing rides along
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("%w: config: %w", ErrRuntime, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: config: trailing data", ErrRuntime)
	}
	if cfg.Runtime != meta {
		return fmt.Errorf("%w: config names %+v, the manifest %+v", ErrRuntime, cfg.Runtime, meta)
	}
	return nil
}

// MaxRuntimeConfig bounds a runtime artifact's config blob.
const MaxRuntimeConfig = maxConfigSize

// FetchRuntimeFrom reads the runtime artifact ref (a tag or a manifest
// digest) from src and returns the binary, trusting nothing: the manifest
// checked (CheckRuntimeManifest), every blob's size bounded before it is
// read and its digest verified, and the config agreeing with the
// manifest's annotations.
func FetchRuntimeFrom(ctx context.Context, src oras.ReadOnlyTarget, ref string) ([]byte, RuntimeMeta, error) {
	desc, err := src.Resolve(ctx, ref)
	if err != nil {
		return nil, RuntimeMeta{}, fmt.Errorf("%w: resolve %q: %w", ErrRuntime, ref, err)
	}
	if desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, RuntimeMeta{}, fmt.Errorf("%w: %q is a %q, not an image manifest", ErrRuntime, ref, desc.MediaType)
	}
	raw, err := fetchAs(ctx, src, desc, maxImageManifest, "image manifest", ErrRuntime)
	if err != nil {
		return nil, RuntimeMeta{}, err
	}
	meta, bin, err := CheckRuntimeManifest(raw)
	if err != nil {
		return nil, RuntimeMeta{}, err
	}
	var im ocispec.Manifest
	if err := json.Unmarshal(raw, &im); err != nil { // checked above
		return nil, RuntimeMeta{}, fmt.Errorf("%w: image manifest: %w", ErrRuntime, err)
	}
	rawCfg, err := fetchAs(ctx, src, im.Config, maxConfigSize, "config", ErrRuntime)
	if err != nil {
		return nil, RuntimeMeta{}, err
	}
	if err := CheckRuntimeConfig(rawCfg, meta); err != nil {
		return nil, RuntimeMeta{}, err
	}
	binary, err := fetchAs(ctx, src, bin, MaxRuntimeBinary, "binary", ErrRuntime)
	if err != nil {
		return nil, RuntimeMeta{}, err
	}
	return binary, meta, nil
}

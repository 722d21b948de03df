package release

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// File names inside a release folder.
const (
	ManifestFile = "release.json"
	SumsFile     = "SHA256SUMS"
)

// maxBinary bounds a binary Open reads (as tufrepo.MaxRuntimeBinary does
// a signed one).
const maxBinary = 512 << 20

// Manifest is release.json: what Build made.
type Manifest struct {
	Version         string   `json:"version"`
	Commit          string   `json:"commit,omitempty"`
	SourceDateEpoch int64    `json:"source_date_epoch"`
	Binaries        []Binary `json:"binaries"` // sorted by platform
	Image           Image    `json:"image"`
}

// Binary is one platform's binary in a release folder.
type Binary struct {
	Platform string `json:"platform"` // "linux/amd64"
	File     string `json:"file"`     // its name in the folder
	SHA256   string `json:"sha256"`   // lowercase hex
	Size     int64  `json:"size"`
}

// Image is the container image in a release folder.
type Image struct {
	Layout      string `json:"layout"`       // the OCI image layout's folder, LayoutDir
	IndexDigest string `json:"index_digest"` // "sha256:…" of the image index
	Tag         string `json:"tag"`          // its ref name in the layout: the version
}

func (m *Manifest) write(dir string) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

// Dist is a release folder read back and verified by Open.
type Dist struct {
	Manifest
	// Binaries maps each platform ("linux/amd64") to its binary's bytes,
	// verified against the manifest.
	Binaries map[string][]byte
	// Index is the image index from the layout, its digest the manifest's.
	Index v1.ImageIndex
}

// Open reads the release folder dir that Build wrote and verifies it:
// release.json decoded strictly and checked as Build's Config is, every
// binary's size and sha256, and the image index the layout tags with the
// version against the recorded digest. An error wraps ErrConfig when the
// folder is not a sound release.
func Open(dir string) (*Dist, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a release folder (make release writes one): %w", ErrConfig, dir, err)
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrConfig, ManifestFile, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: data after the object", ErrConfig, ManifestFile)
	}
	var platforms []string
	for _, b := range m.Binaries {
		platforms = append(platforms, b.Platform)
	}
	if err := checkRelease(m.Version, m.Commit, m.SourceDateEpoch, platforms); err != nil {
		return nil, fmt.Errorf("%s: %w", ManifestFile, err)
	}
	d := &Dist{Manifest: m, Binaries: map[string][]byte{}}
	for _, b := range m.Binaries {
		data, err := readBinary(dir, m.Version, b)
		if err != nil {
			return nil, err
		}
		d.Binaries[b.Platform] = data
	}
	if m.Image.Layout != LayoutDir || m.Image.Tag != m.Version {
		return nil, fmt.Errorf("%w: %s: image %+v (want layout %q tagged %q)", ErrConfig, ManifestFile, m.Image, LayoutDir, m.Version)
	}
	want, err := v1.NewHash(m.Image.IndexDigest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: image index digest: %w", ErrConfig, ManifestFile, err)
	}
	if d.Index, err = layoutIndex(filepath.Join(dir, LayoutDir), m.Version, want); err != nil {
		return nil, err
	}
	return d, nil
}

// readBinary reads b from dir and checks it against the manifest.
func readBinary(dir, version string, b Binary) ([]byte, error) {
	if b.File != binaryName(version, b.Platform) {
		return nil, fmt.Errorf("%w: %s: binary file %q for %s (want %q)", ErrConfig, ManifestFile, b.File, b.Platform, binaryName(version, b.Platform))
	}
	if b.Size <= 0 || b.Size > maxBinary {
		return nil, fmt.Errorf("%w: %s: size %d of %s", ErrConfig, ManifestFile, b.Size, b.File)
	}
	f, err := os.Open(filepath.Join(dir, b.File))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, b.Size+1))
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if int64(len(data)) != b.Size || subtle.ConstantTimeCompare([]byte(got), []byte(b.SHA256)) != 1 {
		return nil, fmt.Errorf("%w: %s is not the binary %s names (size %d, sha256 %s; want %d, %s)",
			ErrConfig, b.File, ManifestFile, len(data), got, b.Size, b.SHA256)
	}
	return data, nil
}

// layoutIndex is the image index the layout at path tags version, which
// must have digest want and one image per platform.
func layoutIndex(path, version string, want v1.Hash) (v1.ImageIndex, error) {
	top, err := layout.ImageIndexFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("%w: image layout: %w", ErrConfig, err)
	}
	im, err := top.IndexManifest()
	if err != nil {
		return nil, fmt.Errorf("%w: image layout: %w", ErrConfig, err)
	}
	i := slices.IndexFunc(im.Manifests, func(d v1.Descriptor) bool { return d.Annotations[RefNameAnnotation] == version })
	if i < 0 {
		return nil, fmt.Errorf("%w: image layout %s has nothing tagged %s", ErrConfig, path, version)
	}
	if im.Manifests[i].Digest != want {
		return nil, fmt.Errorf("%w: image layout %s tags %s with %s, release.json says %s", ErrConfig, path, version, im.Manifests[i].Digest, want)
	}
	idx, err := top.ImageIndex(want)
	if err != nil {
		return nil, fmt.Errorf("%w: image layout: %w", ErrConfig, err)
	}
	if got, err := idx.Digest(); err != nil || got != want {
		return nil, fmt.Errorf("%w: image layout %s: the index blob is not %s", ErrConfig, path, want)
	}
	return idx, nil
}

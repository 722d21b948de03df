package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/internal/distribution"
)

// Limits on a container image pushed to the runtime's repository.
const (
	maxImagePlatforms = 16  // manifests in an image index
	maxImageLayers    = 128 // layers in an image manifest
)

// imageLayerTypes are the layer media types a runtime container image may
// use: uncompressed or gzip tar, as go-containerregistry writes them.
var imageLayerTypes = map[string]bool{ocispec.MediaTypeImageLayerGzip: true, ocispec.MediaTypeImageLayer: true}

// pushedManifest is what acceptManifest reads of a manifest.
type pushedManifest struct {
	ArtifactType string               `json:"artifactType"`
	Config       *ocispec.Descriptor  `json:"config"`
	Layers       []ocispec.Descriptor `json:"layers"`
	Manifests    []ocispec.Descriptor `json:"manifests"`
	Subject      *ocispec.Descriptor  `json:"subject"`
}

// acceptManifest is the distribution API's Accept hook: what each
// repository may hold. runtime/websonic holds runtime artifacts (checked
// as runtimes check them, ocipkg.CheckRuntimeManifest) and standard OCI
// container images of the runtime: image indexes of image manifests, and
// image manifests with an OCI image config and tar or tar+gzip layers.
// Container images and runtime artifacts go nowhere else. The
// distribution API then checks that every referenced blob and manifest is
// in the repository with the declared size.
func (s *Server) acceptManifest(repo, mediaType string, body []byte) error {
	kind, _, ok := nameOfRepo(repo)
	if !ok {
		return nil // pushes are refused there by authorizeOCI
	}
	var m pushedManifest
	if err := json.Unmarshal(body, &m); err != nil { // parsed already: cannot fail
		return err
	}
	runtimeArtifact := m.ArtifactType == ocipkg.ArtifactTypeRuntime || (m.Config != nil && m.Config.MediaType == ocipkg.MediaTypeRuntimeConfig)
	image := mediaType == ocispec.MediaTypeImageIndex || (m.Config != nil && m.Config.MediaType == ocispec.MediaTypeImageConfig)
	if kind != tufrepo.KindRuntime {
		if runtimeArtifact || image {
			return fmt.Errorf("%s holds %s artifacts: container images and runtime artifacts belong in %s", repo, kind, tufrepo.RuntimeRepository)
		}
		return nil
	}
	switch {
	case m.Subject != nil:
		return errors.New("the runtime's repository takes no referrers (subject)")
	case runtimeArtifact:
		_, _, err := ocipkg.CheckRuntimeManifest(body)
		return err
	case mediaType == ocispec.MediaTypeImageIndex:
		if m.ArtifactType != "" || len(m.Manifests) == 0 || len(m.Manifests) > maxImagePlatforms {
			return fmt.Errorf("an image index of the runtime lists 1 to %d image manifests and no artifactType", maxImagePlatforms)
		}
		for _, d := range m.Manifests {
			if d.MediaType != ocispec.MediaTypeImageManifest {
				return fmt.Errorf("image index entry %s is a %q, want %q", d.Digest, d.MediaType, ocispec.MediaTypeImageManifest)
			}
			if d.Size <= 0 || d.Size > distribution.MaxManifestSize {
				return fmt.Errorf("image index entry %s of %d bytes", d.Digest, d.Size)
			}
		}
		return nil
	case mediaType == ocispec.MediaTypeImageManifest && image:
		if m.ArtifactType != "" {
			return fmt.Errorf("a container image has no artifactType (got %q)", m.ArtifactType)
		}
		if m.Config.Size <= 0 || m.Config.Size > ocipkg.MaxRuntimeConfig {
			return fmt.Errorf("image config of %d bytes (want 1 to %d)", m.Config.Size, ocipkg.MaxRuntimeConfig)
		}
		if len(m.Layers) == 0 || len(m.Layers) > maxImageLayers {
			return fmt.Errorf("a container image of %d layers (want 1 to %d)", len(m.Layers), maxImageLayers)
		}
		for _, l := range m.Layers {
			if !imageLayerTypes[l.MediaType] {
				return fmt.Errorf("layer %s is a %q: want %s or %s", l.Digest, l.MediaType, ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayer)
			}
		}
		return nil
	}
	return fmt.Errorf("%s holds runtime artifacts (%s) and OCI container images (%s, %s with config %s), not a %q with config %q: push OCI media types, not Docker's",
		repo, ocipkg.ArtifactTypeRuntime, ocispec.MediaTypeImageIndex, ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageConfig, mediaType, configType(m))
}

func configType(m pushedManifest) string {
	if m.Config == nil {
		return ""
	}
	return m.Config.MediaType
}

// checkRuntime is checkPackage for a runtime release: the artifact's
// shape as runtimes check it (ocipkg.CheckRuntimeManifest), its identity
// and platform the release's, its binary layer the signed binary_sha256
// and binary_size (what install.sh checks the raw download against), and
// its config naming the same identity.
func (s *Server) checkRuntime(ctx context.Context, tx pgx.Tx, rel *tufrepo.Release, imageManifest []byte) error {
	meta, bin, err := ocipkg.CheckRuntimeManifest(imageManifest)
	if err != nil {
		return err
	}
	if want := (ocipkg.RuntimeMeta{Name: rel.Module, Version: rel.Version, OS: rel.OS, Arch: rel.Arch}); meta != want {
		return fmt.Errorf("%w: %s: the artifact is %s@%s %s/%s", tufrepo.ErrMismatch, rel, meta.Name, meta.Version, meta.OS, meta.Arch)
	}
	if bin.Digest.String() != "sha256:"+rel.BinarySHA256 || bin.Size != rel.BinarySize {
		return fmt.Errorf("%w: %s: signed binary sha256:%s of %d bytes, the artifact's binary is %s of %d bytes",
			tufrepo.ErrMismatch, rel, rel.BinarySHA256, rel.BinarySize, bin.Digest, bin.Size)
	}
	var im ocispec.Manifest
	if err := json.Unmarshal(imageManifest, &im); err != nil { // checked above
		return fmt.Errorf("image manifest: %w", err)
	}
	cfg, err := s.dist.BlobTx(ctx, tx, rel.Repository(), im.Config.Digest.String(), ocipkg.MaxRuntimeConfig)
	if err != nil {
		return fmt.Errorf("runtime config: %w", err)
	}
	return ocipkg.CheckRuntimeConfig(cfg, meta)
}

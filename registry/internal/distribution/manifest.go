package distribution

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// MaxManifestSize bounds a manifest's bytes.
const MaxManifestSize = 4 << 20

const (
	mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// manifestInfo is what the registry needs to know of a manifest it stores.
type manifestInfo struct {
	MediaType    string
	ArtifactType string // artifactType, or an image manifest's config media type
	Annotations  map[string]string
	Blobs        []ocispec.Descriptor // config and layers: must be in the repository, with these sizes
	Manifests    []digest.Digest      // an index's manifests: must be in the repository
	Subject      digest.Digest        // "" if none
}

type rawManifest struct {
	SchemaVersion *int                 `json:"schemaVersion"`
	MediaType     string               `json:"mediaType"`
	ArtifactType  string               `json:"artifactType"`
	Config        *ocispec.Descriptor  `json:"config"`
	Layers        []ocispec.Descriptor `json:"layers"`
	Manifests     []ocispec.Descriptor `json:"manifests"`
	Subject       *ocispec.Descriptor  `json:"subject"`
	Annotations   map[string]string    `json:"annotations"`
}

// parseManifest validates an untrusted manifest body sent with the given
// Content-Type. Errors wrap ErrManifestInvalid (or ErrDigestInvalid for a bad
// descriptor digest).
func parseManifest(contentType string, body []byte) (*manifestInfo, error) {
	if len(body) > MaxManifestSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrManifestInvalid, MaxManifestSize)
	}
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, fmt.Errorf("%w: Content-Type %q: %w", ErrManifestInvalid, contentType, err)
	}
	var m rawManifest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrManifestInvalid, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrManifestInvalid)
	}
	if m.SchemaVersion == nil || *m.SchemaVersion != 2 {
		return nil, fmt.Errorf("%w: schemaVersion must be 2", ErrManifestInvalid)
	}
	if m.MediaType != "" && m.MediaType != mt {
		return nil, fmt.Errorf("%w: mediaType %q does not match Content-Type %q", ErrManifestInvalid, m.MediaType, mt)
	}
	if m.ArtifactType != "" && !mediaTypeRE.MatchString(m.ArtifactType) {
		return nil, fmt.Errorf("%w: artifactType %q is not a media type", ErrManifestInvalid, m.ArtifactType)
	}
	for k, v := range m.Annotations {
		if strings.ContainsRune(k, 0) || strings.ContainsRune(v, 0) {
			return nil, fmt.Errorf("%w: annotation %q holds a NUL character", ErrManifestInvalid, k)
		}
	}
	info := &manifestInfo{MediaType: mt, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	switch mt {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest:
		if m.Config == nil {
			return nil, fmt.Errorf("%w: no config", ErrManifestInvalid)
		}
		if m.Manifests != nil {
			return nil, fmt.Errorf("%w: an image manifest has no manifests", ErrManifestInvalid)
		}
		for _, desc := range append([]ocispec.Descriptor{*m.Config}, m.Layers...) {
			if err := checkDescriptor(desc); err != nil {
				return nil, err
			}
			info.Blobs = append(info.Blobs, desc)
		}
		if info.ArtifactType == "" {
			info.ArtifactType = m.Config.MediaType
		}
	case ocispec.MediaTypeImageIndex, mediaTypeDockerList:
		if m.Config != nil || m.Layers != nil {
			return nil, fmt.Errorf("%w: an index has no config or layers", ErrManifestInvalid)
		}
		for _, desc := range m.Manifests {
			if err := checkDescriptor(desc); err != nil {
				return nil, err
			}
			info.Manifests = append(info.Manifests, desc.Digest)
		}
	default:
		return nil, fmt.Errorf("%w: unsupported media type %q", ErrManifestInvalid, mt)
	}
	if m.Subject != nil {
		if err := checkDescriptor(*m.Subject); err != nil {
			return nil, err
		}
		info.Subject = m.Subject.Digest
	}
	return info, nil
}

// mediaTypeRE is what a media type is (RFC 6838's restricted names, as
// the image spec's schema has it): what the registry stores and compares
// in PostgreSQL, which takes neither NUL characters nor bytes that are not
// UTF-8.
var mediaTypeRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$`)

func checkDescriptor(desc ocispec.Descriptor) error {
	if desc.MediaType == "" {
		return fmt.Errorf("%w: descriptor without mediaType", ErrManifestInvalid)
	}
	if !mediaTypeRE.MatchString(desc.MediaType) {
		return fmt.Errorf("%w: descriptor mediaType %q is not a media type", ErrManifestInvalid, desc.MediaType)
	}
	if desc.Size < 0 {
		return fmt.Errorf("%w: descriptor with negative size", ErrManifestInvalid)
	}
	if err := checkDigest(desc.Digest); err != nil {
		return fmt.Errorf("%w: %w", ErrManifestInvalid, err)
	}
	return nil
}

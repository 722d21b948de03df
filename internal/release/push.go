package release

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// ImageRepository is the registry repository of the runtime's container
// image (and of its signed release artifacts: tufrepo.RuntimeRepository).
const ImageRepository = "runtime/websonic"

// Registry is where Push sends the image.
type Registry struct {
	// URL is the registry's base URL, "https://host[:port]" (plain http
	// for a loopback development registry).
	URL string
	// Token is the publisher's bearer token (scope runtime:websonic).
	Token string
	// Transport carries the requests (http.DefaultTransport if nil), e.g.
	// one that trusts only the registry's CA.
	Transport http.RoundTripper
}

// Repository is the image's repository name at r, as podman pulls it
// (host:port/runtime/websonic).
func (r Registry) Repository() (name.Repository, error) {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return name.Repository{}, fmt.Errorf("%w: registry URL %q (want https://host[:port])", ErrConfig, r.URL)
	}
	var opts []name.Option
	if u.Scheme == "http" {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(u.Host+"/"+ImageRepository, append(opts, name.StrictValidation)...)
	if err != nil {
		return name.Repository{}, fmt.Errorf("%w: registry URL %q: %w", ErrConfig, r.URL, err)
	}
	return repo, nil
}

// Push sends the image index idx to r's ImageRepository, tagged with each
// of tags in order: the first tag is written with the index and its
// blobs, the others only point at it, so a failure leaves the later tags
// where they were.
func Push(ctx context.Context, idx v1.ImageIndex, r Registry, tags ...string) (v1.Hash, error) {
	repo, err := r.Repository()
	if err != nil {
		return v1.Hash{}, err
	}
	if len(tags) == 0 {
		return v1.Hash{}, fmt.Errorf("%w: no tag to push the image with", ErrConfig)
	}
	opts := []remote.Option{remote.WithContext(ctx), remote.WithAuth(authn.FromConfig(authn.AuthConfig{RegistryToken: r.Token})),
		remote.WithUserAgent("websonic-release")}
	if r.Transport != nil {
		opts = append(opts, remote.WithTransport(r.Transport))
	}
	digest, err := idx.Digest()
	if err != nil {
		return v1.Hash{}, fmt.Errorf("release: %w", err)
	}
	for i, t := range tags {
		if _, err := name.NewTag(repo.String()+":"+t, name.StrictValidation); err != nil {
			return v1.Hash{}, fmt.Errorf("%w: tag %q: %w", ErrConfig, t, err)
		}
		tag := repo.Tag(t) // keeps the registry's scheme
		if i == 0 {
			err = remote.WriteIndex(tag, idx, opts...)
		} else {
			err = remote.Tag(tag, idx, opts...)
		}
		if err != nil {
			return v1.Hash{}, fmt.Errorf("release: pushing the image to %s: %w", tag, err)
		}
	}
	return digest, nil
}

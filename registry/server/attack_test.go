package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// TestNoContainerImagesInModuleRepositories: a module publisher cannot
// host a container image (one podman or docker would pull and run) in its
// module's repository under the registry's name, whatever media types it
// dresses it in: Docker's image manifest and manifest list, or an OCI
// manifest with Docker's image config. Container images go in
// runtime/websonic only.
func TestNoContainerImagesInModuleRepositories(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	host := strings.TrimPrefix(e.srv.URL, "http://")
	login := ggcr.WithAuth(&authn.Basic{Username: "blog", Password: e.tokens["blog"]})
	dockerImage, err := mutate.AppendLayers(empty.Image, mustLayer(t, types.DockerLayer))
	if err != nil {
		t.Fatal(err)
	}
	ociWithDockerConfig, err := mutate.AppendLayers(
		mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.DockerConfigJSON),
		mustLayer(t, types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	dockerList := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.DockerManifestList),
		mutate.IndexAddendum{Add: dockerImage, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	for _, tc := range []struct {
		name string
		push func(ref name.Reference) error
	}{
		{"Docker image manifest", func(ref name.Reference) error { return ggcr.Write(ref, dockerImage, login, ggcr.WithContext(ctx)) }},
		{"OCI manifest with a Docker image config", func(ref name.Reference) error {
			return ggcr.Write(ref, ociWithDockerConfig, login, ggcr.WithContext(ctx))
		}},
		{"Docker manifest list", func(ref name.Reference) error { return ggcr.WriteIndex(ref, dockerList, login, ggcr.WithContext(ctx)) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref, err := name.ParseReference(host+"/modules/blog:img", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.push(ref); err == nil || !strings.Contains(err.Error(), "MANIFEST_INVALID") {
				t.Fatalf("a container image pushed to modules/blog: %v", err)
			}
		})
	}
}

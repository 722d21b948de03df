package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/server"
)

// remoteRepo is repository name of e's registry, through oras-go with
// the named token.
func remoteRepo(t *testing.T, e *env, name, token string) *remote.Repository {
	t.Helper()
	u, _ := url.Parse(e.srv.URL)
	repo, err := remote.NewRepository(u.Host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{Credential: auth.StaticCredential(u.Host, auth.Credential{AccessToken: e.tokens[token]})}
	return repo
}

// TestSignedReleaseImmutable: what a signed release names can neither be
// retagged nor deleted, even by a token scoped to its module; unsigned
// content of the same repository can.
func TestSignedReleaseImmutable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	rel, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable)
	if err != nil {
		t.Fatal(err)
	}
	repo := remoteRepo(t, e, "modules/blog", "blog")
	signed, err := repo.Resolve(ctx, rel.ManifestDigest)
	if err != nil {
		t.Fatal(err)
	}
	other, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test", oras.PackManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var im ocispec.Manifest
	raw, err := content.FetchAll(ctx, repo, signed)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &im); err != nil {
		t.Fatal(err)
	}
	refused := []struct {
		name string
		do   func() error
	}{
		{"retag the release's version", func() error { return repo.Tag(ctx, other, "1.0.0") }},
		{"delete the release's manifest", func() error { return repo.Delete(ctx, signed) }},
		{"delete the release's tag", func() error {
			req, _ := http.NewRequest(http.MethodDelete, e.srv.URL+"/v2/modules/blog/manifests/1.0.0", nil)
			req.Header.Set("Authorization", "Bearer "+e.tokens["blog"])
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusForbidden {
				return &httpStatusError{resp.Status}
			}
			return nil // anything but DENIED counts as allowed
		}},
		{"delete a blob of the release", func() error { return repo.Blobs().Delete(ctx, im.Layers[0]) }},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); err == nil {
				t.Fatal("allowed")
			}
		})
	}
	got, err := repo.Resolve(ctx, "1.0.0")
	if err != nil || got.Digest.String() != rel.ManifestDigest {
		t.Fatalf("tag 1.0.0 now %v, %v; want the signed %s", got.Digest, err, rel.ManifestDigest)
	}
	// A runtime still installs it, whole.
	if _, err := ocipkg.FetchFrom(ctx, repo, rel.ManifestDigest); err != nil {
		t.Fatal(err)
	}
	// Unsigned content is the publisher's to manage.
	if err := repo.Tag(ctx, other, "scratch"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Delete(ctx, other); err != nil {
		t.Fatalf("delete an unsigned manifest: %v", err)
	}
	if _, err := repo.Resolve(ctx, "scratch"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("tag of a deleted manifest: %v", err)
	}
	// Another publisher's token deletes nothing here.
	if err := remoteRepo(t, e, "modules/blog", "chat").Delete(ctx, signed); err == nil {
		t.Fatal("chat's token deleted blog's manifest")
	}
	// Two days later the collector has run: the release is whole.
	e.shift.Store(int64(48 * time.Hour))
	got2, err := e.reg.Collect(ctx)
	e.shift.Store(0)
	if err != nil {
		t.Fatal(err)
	}
	if got2.Links == 0 {
		t.Fatalf("collected %+v: nothing of the deleted manifest", got2)
	}
	if _, err := ocipkg.FetchFrom(ctx, repo, rel.ManifestDigest); err != nil {
		t.Fatalf("the signed release after a collection: %v", err)
	}
	log, err := e.reg.Publishers().AuditLog(ctx, 50)
	if err != nil {
		t.Fatal(err)
	}
	audited := false
	for _, en := range log {
		audited = audited || (en.Action == "manifest.delete" && en.Publisher == "blog-team" && en.Subject == "modules/blog")
	}
	if !audited {
		t.Error("the deletion is not in the audit log")
	}
}

type httpStatusError struct{ status string }

func (e *httpStatusError) Error() string { return e.status }

// TestPublisherLimits: the quota is per publisher, the cap on upload
// sessions per token.
func TestPublisherLimits(t *testing.T) {
	e := newEnvWith(t, func(c *server.Config) {
		c.PublisherQuota = 100
		c.MaxUploadsPerToken = 2
	})
	ctx := context.Background()
	if _, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable); err == nil || !strings.Contains(err.Error(), "quota") {
		t.Fatalf("publish over the quota: %v", err)
	}
	start := func(token string) int {
		code, _, _ := send(t, http.DefaultClient, http.MethodPost, e.srv.URL+"/v2/modules/"+token+"/blobs/uploads/", nil, "Authorization", "Bearer "+e.tokens[token])
		return code
	}
	for i, want := range []int{http.StatusAccepted, http.StatusAccepted, http.StatusTooManyRequests} {
		if got := start("chat"); got != want {
			t.Fatalf("chat's session %d: %d, want %d", i+1, got, want)
		}
	}
	if got := start("blog"); got != http.StatusAccepted { // its failed publish left one open
		t.Fatalf("blog's session: %d", got)
	}
}

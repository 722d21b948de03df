package distribution_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/websonic/websonic/registry/internal/distribution"
)

// testClients authorizes every request as the client its X-Account and
// X-Session headers name ("acme" and "s1" by default).
func testClients(r *http.Request, _ string, _ bool) (distribution.Client, error) {
	c := distribution.Client{Account: r.Header.Get("X-Account"), Session: r.Header.Get("X-Session")}
	if c.Account == "" {
		c.Account = "acme"
	}
	if c.Session == "" {
		c.Session = "s1"
	}
	return c, nil
}

// testClock is a clock the tests move.
type testClock struct{ off atomic.Int64 }

func (c *testClock) now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) advance(d time.Duration) { c.off.Add(int64(d)) }
func (e *env) collect(t *testing.T) distribution.Collected {
	t.Helper()
	got, err := e.h.Collect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// entries lists a folder's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

// TestUploadSessionsCapped: each credential has at most MaxUploads open
// sessions; over it, 429 with Retry-After; cancelling one frees a place.
func TestUploadSessionsCapped(t *testing.T) {
	e := newEnvWith(t, distribution.Config{Authorize: testClients, MaxUploads: 3})
	var locs []string
	for i := range 3 {
		resp, body := e.do(t, http.MethodPost, "/v2/capped/blobs/uploads/", nil, nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("session %d: %d %s", i, resp.StatusCode, body)
		}
		locs = append(locs, resp.Header.Get("Location"))
	}
	resp, body := e.do(t, http.MethodPost, "/v2/capped/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusTooManyRequests || errCode(body) != "TOOMANYREQUESTS" {
		t.Fatalf("fourth session: %d %s", resp.StatusCode, body)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// A monolithic upload needs no session.
	e.pushBlob(t, "capped", []byte("monolithic"))
	// Another credential has its own.
	if resp, body := e.do(t, http.MethodPost, "/v2/capped/blobs/uploads/", map[string]string{"X-Session": "s2"}, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("another credential: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, http.MethodDelete, locs[0], nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, http.MethodGet, locs[0], nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("cancelled session: %d", resp.StatusCode)
	}
	if resp, body := e.do(t, http.MethodPost, "/v2/capped/blobs/uploads/", nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("after a cancel: %d %s", resp.StatusCode, body)
	}
	if n := len(entries(t, e.uploadDir)); n != 4 {
		t.Fatalf("%d session folders, want 4", n)
	}
}

// TestUploadSessionsExpire: sessions idle for UploadTTL end with their
// files at the next collection, and so does whatever else the upload
// folder holds that no session owns; live sessions stay.
func TestUploadSessionsExpire(t *testing.T) {
	clock := &testClock{}
	e := newEnvWith(t, distribution.Config{Authorize: testClients, UploadTTL: time.Hour, Now: clock.now})
	start := func() string {
		resp, body := e.do(t, http.MethodPost, "/v2/expiring/blobs/uploads/", nil, nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start: %d %s", resp.StatusCode, body)
		}
		loc := resp.Header.Get("Location")
		if resp, body := e.do(t, http.MethodPatch, loc, nil, []byte("some bytes")); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("chunk: %d %s", resp.StatusCode, body)
		}
		return loc
	}
	old := []string{start(), start()}
	stray := filepath.Join(e.uploadDir, "0123456789abcdef0123456789abcdef") // a session file of the former layout
	if err := os.WriteFile(stray, []byte("left behind"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := e.collect(t); got.Sessions != 0 {
		t.Fatalf("collected %d live sessions", got.Sessions)
	}
	clock.advance(2 * time.Hour)
	live := start()
	got := e.collect(t)
	if got.Sessions != 2 {
		t.Fatalf("collected %+v, want the 2 expired sessions", got)
	}
	for _, loc := range old {
		if resp, _ := e.do(t, http.MethodGet, loc, nil, nil); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("expired session %s: %d", loc, resp.StatusCode)
		}
	}
	if resp, _ := e.do(t, http.MethodGet, live, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("live session: %d", resp.StatusCode)
	}
	// The stray file is older than UploadTTL on the moved clock.
	if names := entries(t, e.uploadDir); len(names) != 1 {
		t.Fatalf("upload folder %v, want only the live session", names)
	}
}

// TestQuota: an account stores at most Quota bytes (blobs it linked,
// manifests it pushed, uploads in progress); over it, 403 DENIED, a
// declared length at once; deleting frees space.
func TestQuota(t *testing.T) {
	clock := &testClock{}
	e := newEnvWith(t, distribution.Config{Authorize: testClients, Quota: 1000, Now: clock.now})
	first := e.pushBlob(t, "quota/a", bytes.Repeat([]byte("a"), 600))
	over := bytes.Repeat([]byte("b"), 500)
	d := digest.FromBytes(over)
	// Monolithic, declared and not.
	resp, body := e.do(t, http.MethodPost, "/v2/quota/b/blobs/uploads/?digest="+d.String(), nil, over)
	if resp.StatusCode != http.StatusForbidden || errCode(body) != "DENIED" {
		t.Fatalf("monolithic over the quota: %d %s", resp.StatusCode, body)
	}
	// Chunked.
	resp, _ = e.do(t, http.MethodPost, "/v2/quota/b/blobs/uploads/", nil, nil)
	loc := resp.Header.Get("Location")
	if resp, body := e.do(t, http.MethodPatch, loc, nil, over[:300]); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("chunk within the quota: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, http.MethodPatch, loc, nil, over[300:]); resp.StatusCode != http.StatusForbidden || errCode(body) != "DENIED" {
		t.Fatalf("chunk over the quota: %d %s", resp.StatusCode, body)
	}
	// Another account is not charged for acme's bytes.
	if resp, body := e.do(t, http.MethodPost, "/v2/quota/c/blobs/uploads/?digest="+d.String(), map[string]string{"X-Account": "other"}, over); resp.StatusCode != http.StatusCreated {
		t.Fatalf("another account: %d %s", resp.StatusCode, body)
	}
	// Deleting the first blob and ending the session frees the space.
	if resp, body := e.do(t, http.MethodDelete, "/v2/quota/a/blobs/"+first.String(), nil, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, http.MethodDelete, loc, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}
	e.pushBlob(t, "quota/b", over)
	// Manifests count too.
	big := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/octet-stream","digest":%q,"size":500},"layers":[],"annotations":{"pad":%q}}`,
		ocispec.MediaTypeImageManifest, d, bytes.Repeat([]byte("p"), 600))
	if resp, body := e.do(t, http.MethodPut, "/v2/quota/b/manifests/big", map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}, []byte(big)); resp.StatusCode != http.StatusForbidden || errCode(body) != "DENIED" {
		t.Fatalf("manifest over the quota: %d %s", resp.StatusCode, body)
	}
}

// pin is a Pinned hook of fixed pins.
func pin(pins ...distribution.Pin) func(context.Context, pgx.Tx, string) ([]distribution.Pin, error) {
	return func(_ context.Context, _ pgx.Tx, repo string) ([]distribution.Pin, error) {
		if repo != "pinned" {
			return nil, nil
		}
		return pins, nil
	}
}

// TestDeleteAndCollect: the content management API through oras-go, and
// garbage collection of what nothing references any more.
func TestDeleteAndCollect(t *testing.T) {
	ctx := context.Background()
	clock := &testClock{}
	e := newEnvWith(t, distribution.Config{Grace: time.Hour, Now: clock.now})
	repo := e.repo(t, "managed")
	layer := []byte("a layer of its own")
	layerDesc := content.NewDescriptorFromBytes("application/octet-stream", layer)
	if err := repo.Push(ctx, layerDesc, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	shared := []byte("a layer two repositories hold")
	sharedDesc := content.NewDescriptorFromBytes("application/octet-stream", shared)
	for _, r := range []string{"managed", "elsewhere"} {
		if err := e.repo(t, r).Push(ctx, sharedDesc, bytes.NewReader(shared)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := oras.PackManifest(ctx, e.repo(t, "elsewhere"), oras.PackManifestVersion1_1, "application/vnd.test",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{sharedDesc}}); err != nil {
		t.Fatal(err)
	}
	m, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{layerDesc, sharedDesc}})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, m, "v1"); err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, m, "v2"); err != nil {
		t.Fatal(err)
	}
	// A referenced blob cannot go first.
	if err := repo.Blobs().Delete(ctx, layerDesc); err == nil {
		t.Fatal("deleted a blob its manifest references")
	}
	// A tag alone.
	resp, body := e.do(t, http.MethodDelete, "/v2/managed/manifests/v2", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete tag: %d %s", resp.StatusCode, body)
	}
	if _, err := repo.Resolve(ctx, "v2"); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("deleted tag: %v", err)
	}
	if _, err := repo.Resolve(ctx, "v1"); err != nil {
		t.Fatalf("the other tag: %v", err)
	}
	// Nothing is collected while the manifest stands.
	clock.advance(2 * time.Hour)
	if got := e.collect(t); got.Blobs != 0 || got.Links != 0 {
		t.Fatalf("collected %+v while referenced", got)
	}
	// The manifest, with its tags.
	if err := repo.Delete(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Resolve(ctx, "v1"); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("tag of a deleted manifest: %v", err)
	}
	if err := repo.Delete(ctx, m); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	// A blob just pushed, that no manifest uses yet, stays for the grace
	// period: its manifest may be on its way.
	pending := e.pushBlob(t, "managed", []byte("pending"))
	got := e.collect(t)
	if got.Links != 3 || got.Blobs != 1 || got.Bytes != int64(len(layer)) {
		t.Fatalf("collected %+v, want managed's 3 links (empty config, 2 layers) and its own layer's file (elsewhere holds the others)", got)
	}
	if resp, _ := e.do(t, http.MethodHead, "/v2/managed/blobs/"+pending.String(), nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("a blob within its grace period: %d", resp.StatusCode)
	}
	clock.advance(2 * time.Hour)
	if got := e.collect(t); got.Links != 1 || got.Blobs != 1 {
		t.Fatalf("collected %+v after the grace period, want the pending blob", got)
	}
	if _, err := e.blobs.Stat(ctx, layerDesc.Digest); !errors.Is(err, distribution.ErrBlobUnknown) {
		t.Fatalf("layer still stored: %v", err)
	}
	if ok, err := repo.Blobs().Exists(ctx, sharedDesc); ok || err != nil {
		t.Fatalf("shared layer in managed: %v %v", ok, err)
	}
	b, err := content.FetchAll(ctx, e.repo(t, "elsewhere").Blobs(), sharedDesc)
	if err != nil || !bytes.Equal(b, shared) {
		t.Fatalf("the other repository's copy: %q %v", b, err)
	}
	// Unknown things.
	for path, code := range map[string]string{
		"/v2/managed/manifests/" + m.Digest.String():     "MANIFEST_UNKNOWN",
		"/v2/managed/manifests/nosuchtag":                "MANIFEST_UNKNOWN",
		"/v2/managed/manifests/.bad":                     "MANIFEST_UNKNOWN",
		"/v2/managed/blobs/" + layerDesc.Digest.String(): "BLOB_UNKNOWN",
		"/v2/managed/blobs/sha256:xyz":                   "BLOB_UNKNOWN",
		"/v2/nobody/manifests/" + m.Digest.String():      "NAME_UNKNOWN",
	} {
		if resp, body := e.do(t, http.MethodDelete, path, nil, nil); resp.StatusCode != http.StatusNotFound || errCode(body) != code {
			t.Errorf("DELETE %s: %d %s, want 404 %s", path, resp.StatusCode, body, code)
		}
	}
}

// TestDeleteDisabled: with DisableDelete every DELETE of content is 405
// UNSUPPORTED, as the spec allows.
func TestDeleteDisabled(t *testing.T) {
	e := newEnvWith(t, distribution.Config{DisableDelete: true})
	d := e.pushBlob(t, "kept", []byte("kept"))
	for _, path := range []string{"/v2/kept/blobs/" + d.String(), "/v2/kept/manifests/latest", "/v2/kept/manifests/" + d.String()} {
		if resp, body := e.do(t, http.MethodDelete, path, nil, nil); resp.StatusCode != http.StatusMethodNotAllowed || errCode(body) != "UNSUPPORTED" {
			t.Errorf("DELETE %s: %d %s", path, resp.StatusCode, body)
		}
	}
}

// TestPinned: what Config.Pinned names cannot be deleted, and a pinned
// tag points at its digest only.
func TestPinned(t *testing.T) {
	ctx := context.Background()
	var pins []distribution.Pin
	var mu sync.Mutex
	e := newEnvWith(t, distribution.Config{Pinned: func(ctx context.Context, tx pgx.Tx, repo string) ([]distribution.Pin, error) {
		mu.Lock()
		defer mu.Unlock()
		return pin(pins...)(ctx, tx, repo)
	}})
	repo := e.repo(t, "pinned")
	a, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test.a", oras.PackManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test.b", oras.PackManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, a, "1.0.0"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	pins = []distribution.Pin{{Tag: "1.0.0", Digest: a.Digest, Why: "release x@1.0.0"}}
	mu.Unlock()
	if err := repo.Tag(ctx, b, "1.0.0"); err == nil {
		t.Fatal("retagged a pinned tag")
	}
	if err := repo.Tag(ctx, a, "1.0.0"); err != nil {
		t.Fatalf("the same tag again: %v", err)
	}
	if err := repo.Delete(ctx, a); err == nil {
		t.Fatal("deleted a pinned manifest")
	}
	if resp, body := e.do(t, http.MethodDelete, "/v2/pinned/manifests/1.0.0", nil, nil); resp.StatusCode != http.StatusForbidden || errCode(body) != "DENIED" {
		t.Fatalf("delete a pinned tag: %d %s", resp.StatusCode, body)
	}
	if err := repo.Delete(ctx, b); err != nil {
		t.Fatalf("delete an unpinned manifest: %v", err)
	}
	if got, err := repo.Resolve(ctx, "1.0.0"); err != nil || got.Digest != a.Digest {
		t.Fatalf("pinned tag: %v %v", got.Digest, err)
	}
}

// TestCollectRacingPushes hammers pushes of the same blobs and manifests
// from several goroutines while the collector runs with no grace period:
// pushes may be refused (a blob collected before its manifest came), but
// every manifest push that succeeded finds all its blobs stored.
func TestCollectRacingPushes(t *testing.T) {
	ctx := context.Background()
	e := newEnvWith(t, distribution.Config{Grace: -1})
	const workers, rounds = 4, 25
	stop := make(chan struct{})
	collected := make(chan error, 1)
	go func() {
		defer close(collected)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := e.h.Collect(ctx); err != nil {
				collected <- err
				return
			}
		}
	}()
	var (
		mu     sync.Mutex
		pushed = map[digest.Digest][]ocispec.Descriptor{}
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			repo := e.repo(t, "racing")
			for i := range rounds {
				blob := []byte(fmt.Sprintf("blob %d-%d", w, i)) // its own: no later push restores a lost link
				desc := content.NewDescriptorFromBytes("application/octet-stream", blob)
				if err := repo.Push(ctx, desc, bytes.NewReader(blob)); err != nil && !errors.Is(err, errdef.ErrAlreadyExists) {
					t.Errorf("worker %d: push blob: %v", w, err)
					return
				}
				m, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test",
					oras.PackManifestOptions{Layers: []ocispec.Descriptor{desc}, ManifestAnnotations: map[string]string{"w": fmt.Sprint(w, i)}})
				if err != nil {
					continue // collected between the blob and the manifest: refused, which is right
				}
				mu.Lock()
				pushed[m.Digest] = []ocispec.Descriptor{desc, ocispec.DescriptorEmptyJSON}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(stop)
	if err := <-collected; err != nil {
		t.Fatal(err)
	}
	if len(pushed) == 0 {
		t.Fatal("no manifest push succeeded")
	}
	repo := e.repo(t, "racing")
	for m, blobs := range pushed {
		for _, b := range blobs {
			if _, err := content.FetchAll(ctx, repo.Blobs(), b); err != nil {
				t.Errorf("manifest %s: blob %s: %v", m, b.Digest, err)
			}
		}
	}
}

// TestMigrateIndexesOlderManifests: manifests stored before references
// were recorded (migration 003) get them at the next Migrate, so that
// deletion and collection see what they use.
func TestMigrateIndexesOlderManifests(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	repo := e.repo(t, "older")
	layer := []byte("used by an older manifest")
	desc := content.NewDescriptorFromBytes("application/octet-stream", layer)
	if err := repo.Push(ctx, desc, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	if _, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test",
		oras.PackManifestOptions{Layers: []ocispec.Descriptor{desc}}); err != nil {
		t.Fatal(err)
	}
	// As before migration 003.
	if _, err := e.pool.Exec(ctx, `DELETE FROM distribution.manifest_refs`); err != nil {
		t.Fatal(err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE distribution.manifests SET refs_indexed = false`); err != nil {
		t.Fatal(err)
	}
	if err := distribution.Migrate(ctx, e.pool); err != nil {
		t.Fatal(err)
	}
	if err := repo.Blobs().Delete(ctx, desc); err == nil {
		t.Fatal("deleted a blob an older manifest references")
	}
}

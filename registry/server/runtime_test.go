package server_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	ggcr "github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"oras.land/oras-go/v2/content"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/internal/publishers"
	"github.com/websonic/websonic/registry/server"
)

// runtimeBinaries are two platforms' "binaries": the registry stores,
// checks and serves bytes, it never runs them.
func runtimeBinaries(version string) map[string][]byte {
	return map[string][]byte{
		"linux/amd64": []byte("\x7fELF websonic " + version + " amd64"),
		"linux/arm64": []byte("\x7fELF websonic " + version + " arm64 (longer)"),
	}
}

// TestRuntimePublish: PublishRuntime pushes both platforms and signs them
// in one targets version with a runtime:websonic token; a runtime's TUF
// client sees them (and the module calls do not), the signed manifest
// fetched from the registry yields the exact binary, the download
// endpoint serves it, and revocation takes the version off.
func TestRuntimePublish(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.token("runtime", publishers.TokenSpec{Publisher: "websonic-release", Modules: []string{publishers.RuntimeScope}})
	if _, _, err := e.reg.Publishers().CreateToken(ctx, publishers.TokenSpec{Publisher: "x", Modules: []string{"runtime:other"}}); !errors.Is(err, publishers.ErrInvalid) {
		t.Fatalf("a token for another runtime: %v", err)
	}
	bins := runtimeBinaries("1.2.3")

	// Scope: a module's token may not publish the runtime, nor the
	// runtime's a module.
	if _, err := e.publisher("blog").PublishRuntime(ctx, "1.2.3", tufrepo.ChannelStable, bins); err == nil || !strings.Contains(err.Error(), publishers.RuntimeScope) {
		t.Fatalf("a module token published the runtime: %v", err)
	}
	if _, err := e.publisher("runtime").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable); err == nil {
		t.Fatal("the runtime token published a module")
	}
	if _, err := e.publisher("runtime").PublishRuntime(ctx, "1.2.3", tufrepo.ChannelStable, map[string][]byte{"darwin/amd64": []byte("x")}); err == nil {
		t.Fatal("a darwin runtime was published")
	}

	rels, err := e.publisher("runtime").PublishRuntime(ctx, "1.2.3", tufrepo.ChannelStable, bins)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].Path != "runtime/websonic/1.2.3/linux-amd64" || rels[1].Path != "runtime/websonic/1.2.3/linux-arm64" {
		t.Fatalf("releases %v", rels)
	}

	c := e.client()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if all, err := c.RuntimeReleases(); err != nil || len(all) != 2 {
		t.Fatalf("RuntimeReleases = %v, %v", all, err)
	}
	if _, err := c.Latest("websonic", tufrepo.ChannelStable); !errors.Is(err, tufrepo.ErrNotFound) {
		t.Fatalf("the runtime is seen as a module: %v", err)
	}
	for _, platform := range []string{"linux/amd64", "linux/arm64"} {
		goos, arch, _ := strings.Cut(platform, "/")
		rel, err := c.LatestRuntime(goos, arch, tufrepo.ChannelStable)
		if err != nil || rel.Version != "1.2.3" {
			t.Fatalf("LatestRuntime(%s) = %+v, %v", platform, rel, err)
		}
		sum := sha256.Sum256(bins[platform])
		if rel.BinarySHA256 != hex.EncodeToString(sum[:]) || rel.BinarySize != int64(len(bins[platform])) {
			t.Fatalf("signed binary %s/%d", rel.BinarySHA256, rel.BinarySize)
		}
		manifest, _, err := c.DownloadRuntime(ctx, "1.2.3", goos, arch)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := ocipkg.CheckRuntimeManifest(manifest); err != nil {
			t.Fatal(err)
		}
		bin, meta, err := ocipkg.FetchRuntimeFrom(ctx, remoteRepo(t, e, tufrepo.RuntimeRepository, ""), rel.ManifestDigest)
		if err != nil || !bytes.Equal(bin, bins[platform]) || meta.Arch != arch {
			t.Fatalf("FetchRuntimeFrom(%s) = %q, %+v, %v", platform, bin, meta, err)
		}
		// The download endpoint serves the same bytes.
		code, h, body := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/download/websonic/1.2.3/"+goos+"-"+arch, nil)
		if code != http.StatusOK || body != string(bins[platform]) || h.Get("Content-Type") != "application/octet-stream" ||
			h.Get("Content-Disposition") != `attachment; filename="websonic-1.2.3-`+goos+"-"+arch+`"` || !strings.Contains(h.Get("Cache-Control"), "immutable") {
			t.Fatalf("download %s: %d %v %q", platform, code, h, body)
		}
	}
	for _, path := range []string{"/download/websonic/1.2.4/linux-amd64", "/download/websonic/1.2.3/linux-386", "/download/websonic/1.2.3/linux", "/download/websonic/../linux-amd64"} {
		if code, _, _ := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+path, nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}
	// The version tags of the signed artifacts are pinned.
	if code, _, body := send(t, http.DefaultClient, http.MethodDelete, e.srv.URL+"/v2/runtime/websonic/manifests/1.2.3-linux-amd64", nil,
		"Authorization", "Bearer "+e.tokens["runtime"]); code != http.StatusForbidden {
		t.Fatalf("deleting a signed runtime's tag: %d %s", code, body)
	}

	// Revocation: by the runtime's token only; both platforms go.
	if err := e.publisher("blog").RevokeRuntime(ctx, "1.2.3"); err == nil {
		t.Fatal("a module token revoked the runtime")
	}
	if err := e.publisher("runtime").RevokeRuntime(ctx, "1.2.3"); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"amd64", "arm64"} {
		if _, err := c.RuntimeRelease("1.2.3", "linux", arch); !errors.Is(err, tufrepo.ErrRevoked) {
			t.Fatalf("revoked runtime %s: %v", arch, err)
		}
		if code, _, _ := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/download/websonic/1.2.3/linux-"+arch, nil); code != http.StatusNotFound {
			t.Fatalf("a revoked runtime is downloadable: %d", code)
		}
	}
}

// TestRuntimeReleaseMismatch: the registry refuses a signed runtime
// release that does not describe its stored artifact: another binary
// hash or size, another platform, a missing artifact.
func TestRuntimeReleaseMismatch(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	bin := []byte("\x7fELF the real binary")
	meta := ocipkg.RuntimeMeta{Name: "websonic", Version: "2.0.0", OS: "linux", Arch: "amd64"}
	desc, err := ocipkg.PackRuntime(ctx, bin, meta, remoteRepo(t, e, tufrepo.RuntimeRepository, "admin"))
	if err != nil {
		t.Fatal(err)
	}
	artifact, err := content.FetchAll(ctx, remoteRepo(t, e, tufrepo.RuntimeRepository, ""), desc)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	good := tufrepo.Release{Kind: tufrepo.KindRuntime, Module: "websonic", Version: "2.0.0", OS: "linux", Arch: "amd64",
		Channel: tufrepo.ChannelStable, ManifestDigest: desc.Digest.String(), BinarySHA256: hex.EncodeToString(sum[:]), BinarySize: int64(len(bin))}
	other := sha256.Sum256([]byte("another binary"))
	for _, tc := range []struct {
		name, want string
		edit       func(*tufrepo.Release)
	}{
		{"binary sha256", "binary", func(r *tufrepo.Release) { r.BinarySHA256 = hex.EncodeToString(other[:]) }},
		{"binary size", "binary", func(r *tufrepo.Release) { r.BinarySize++ }},
		{"platform", "linux/amd64", func(r *tufrepo.Release) { r.Arch = "arm64" }},
		{"version", "2.0.0", func(r *tufrepo.Release) { r.Version = "2.0.1" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := good
			tc.edit(&rel)
			if err := putTargets(t, e, "admin", signRelease(t, e, rel, artifact)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("a mismatched release was accepted or refused for another reason: %v", err)
			}
		})
	}
	// A module artifact signed as a runtime release is refused too.
	mdesc, err := ocipkg.PackTo(ctx, e.pkg("blog", "2.0.0"), remoteRepo(t, e, "modules/blog", "admin"))
	if err != nil {
		t.Fatal(err)
	}
	martifact, err := content.FetchAll(ctx, remoteRepo(t, e, "modules/blog", ""), mdesc)
	if err != nil {
		t.Fatal(err)
	}
	rel := good
	rel.ManifestDigest = mdesc.Digest.String()
	if err := putTargets(t, e, "admin", signRelease(t, e, rel, martifact)); err == nil || !strings.Contains(err.Error(), "push its artifact") {
		t.Fatalf("a module artifact signed as a runtime: %v", err)
	}
	// The good release is accepted, and binary_sha256 is what the
	// download serves.
	if err := putTargets(t, e, "admin", signRelease(t, e, good, artifact)); err != nil {
		t.Fatal(err)
	}
	if code, _, body := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/download/websonic/2.0.0/linux-amd64", nil); code != http.StatusOK || body != string(bin) {
		t.Fatalf("download: %d %q", code, body)
	}
}

// signRelease signs the registry's current targets plus rel with the
// publisher's offline keys, as a publisher would, bypassing
// publish.PublishRuntime's own checks.
func signRelease(t *testing.T, e *env, rel tufrepo.Release, artifact []byte) []byte {
	t.Helper()
	c := e.client()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	st, err := c.State()
	if err != nil {
		t.Fatal(err)
	}
	r, err := tufrepo.Load(st, e.offline, tufrepo.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddRelease(rel, artifact); err != nil {
		t.Fatal(err)
	}
	raw, err := r.SignTargets()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestTargetsCanonical: /download/targets.canonical is exactly what the
// targets signature signs: the publisher's targets key verifies it.
func TestTargetsCanonical(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.publisher("admin").PublishRuntime(ctx, "1.0.0", tufrepo.ChannelStable, runtimeBinaries("1.0.0")); err != nil {
		t.Fatal(err)
	}
	code, _, canonical := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/download/targets.canonical", nil)
	_, _, targets := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/v1/tuf/targets.json", nil)
	if code != http.StatusOK || !strings.Contains(canonical, "runtime/websonic/1.0.0/linux-arm64") {
		t.Fatalf("targets.canonical: %d %s", code, canonical)
	}
	var doc struct {
		Signatures []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal([]byte(targets), &doc); err != nil || len(doc.Signatures) != 1 {
		t.Fatalf("targets.json: %v %s", err, targets)
	}
	sig, _ := hex.DecodeString(doc.Signatures[0].Sig)
	pub, err := e.offline.Targets.Signers[0].PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	if !verifyEd25519(pub, []byte(canonical), sig) {
		t.Fatal("the targets signature does not verify over /download/targets.canonical")
	}
	if verifyEd25519(pub, []byte(canonical+" "), sig) {
		t.Fatal("the signature verifies over other bytes")
	}
}

// TestInstallScript: served when configured, 404 when not.
func TestInstallScript(t *testing.T) {
	script := []byte("#!/bin/sh\necho install websonic\n")
	e := newEnvWith(t, func(c *server.Config) { c.InstallScript = script })
	code, h, body := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/download/install.sh", nil)
	if code != http.StatusOK || body != string(script) || !strings.HasPrefix(h.Get("Content-Type"), "text/x-shellscript") {
		t.Fatalf("install.sh: %d %v %q", code, h, body)
	}
	e = newEnv(t)
	if code, _, _ := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/download/install.sh", nil); code != http.StatusNotFound {
		t.Fatalf("install.sh without a script: %d", code)
	}
}

// ociImage is a small real container image for linux/arch, with OCI
// media types, as helper B's release build writes it.
func ociImage(t *testing.T, arch string) v1.Image {
	t.Helper()
	layer, err := random.Layer(2048, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		t.Fatal(err)
	}
	img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: arch, Config: v1.Config{
		User: "65532:0", Entrypoint: []string{"/usr/local/bin/websonic", "serve"}, WorkingDir: "/var/lib/websonic"}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func ociIndex(t *testing.T) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, arch := range []string{"amd64", "arm64"} {
		adds = append(adds, mutate.IndexAddendum{Add: ociImage(t, arch), Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
}

// TestRuntimeContainerImage: go-containerregistry pushes a multi-platform
// OCI image index to runtime/websonic with a publisher token (Basic
// credentials, as after a login) and pulls it back, anonymously and, with
// private pulls, through the Docker token flow (401 challenge → /v1/token
// → bearer); container images go nowhere else, need the runtime scope,
// and Docker media types are refused.
func TestRuntimeContainerImage(t *testing.T) {
	for _, private := range []bool{false, true} {
		t.Run(map[bool]string{false: "anonymous pulls", true: "private pulls"}[private], func(t *testing.T) {
			e := newEnvWith(t, func(c *server.Config) { c.PrivatePulls = private })
			e.token("runtime", publishers.TokenSpec{Publisher: "websonic-release", Modules: []string{publishers.RuntimeScope}})
			ctx := context.Background()
			host := strings.TrimPrefix(e.srv.URL, "http://")
			login := func(token string) ggcr.Option {
				return ggcr.WithAuth(&authn.Basic{Username: "release", Password: e.tokens[token]})
			}
			ref, err := name.ParseReference(host+"/runtime/websonic:1.2.3", name.Insecure)
			if err != nil {
				t.Fatal(err)
			}
			idx := ociIndex(t)
			if err := ggcr.WriteIndex(ref, idx, login("blog"), ggcr.WithContext(ctx)); err == nil {
				t.Fatal("a module token pushed the runtime's image")
			}
			if err := ggcr.WriteIndex(ref, idx, login("runtime"), ggcr.WithContext(ctx)); err != nil {
				t.Fatal(err)
			}
			latest, _ := name.NewTag(host+"/runtime/websonic:latest", name.Insecure)
			if err := ggcr.Tag(latest, idx, login("runtime"), ggcr.WithContext(ctx)); err != nil {
				t.Fatal(err)
			}

			pull := []ggcr.Option{ggcr.WithContext(ctx)}
			if private {
				if _, err := ggcr.Index(ref, pull...); err == nil {
					t.Fatal("an anonymous pull of a private registry")
				}
				pull = append(pull, login("runtime"))
			}
			got, err := ggcr.Index(latest, pull...)
			if err != nil {
				t.Fatal(err)
			}
			wantDigest, _ := idx.Digest()
			if d, _ := got.Digest(); d != wantDigest {
				t.Fatalf("pulled index %s, pushed %s", d, wantDigest)
			}
			img, err := ggcr.Image(ref, append(pull, ggcr.WithPlatform(v1.Platform{OS: "linux", Architecture: "arm64"}))...)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := img.ConfigFile()
			if err != nil || cfg.Architecture != "arm64" || cfg.Config.User != "65532:0" {
				t.Fatalf("config %+v, %v", cfg, err)
			}
			layers, err := img.Layers()
			if err != nil || len(layers) != 1 {
				t.Fatalf("layers %v, %v", layers, err)
			}
			rc, err := layers[0].Compressed() // verified against its digest as it is read
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			if _, err := buf.ReadFrom(rc); err != nil {
				t.Fatal(err)
			}
			rc.Close()

			// Container images go in runtime/websonic only.
			blogRef, _ := name.ParseReference(host+"/modules/blog:img", name.Insecure)
			if err := ggcr.Write(blogRef, ociImage(t, "amd64"), login("admin"), ggcr.WithContext(ctx)); err == nil || !strings.Contains(err.Error(), "MANIFEST_INVALID") {
				t.Fatalf("a container image in modules/blog: %v", err)
			}
			// Docker media types are refused.
			docker, err := mutate.AppendLayers(empty.Image, mustLayer(t, types.DockerLayer))
			if err != nil {
				t.Fatal(err)
			}
			dockerRef, _ := name.ParseReference(host+"/runtime/websonic:docker", name.Insecure)
			if err := ggcr.Write(dockerRef, docker, login("runtime"), ggcr.WithContext(ctx)); err == nil || !strings.Contains(err.Error(), "OCI media types") {
				t.Fatalf("a Docker image: %v", err)
			}
		})
	}
}

func mustLayer(t *testing.T, mt types.MediaType) v1.Layer {
	t.Helper()
	l, err := random.Layer(64, mt)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// verifyEd25519 checks sig over msg with plain crypto/ed25519, as
// install.sh's openssl does: no TUF library involved.
func verifyEd25519(pub crypto.PublicKey, msg, sig []byte) bool {
	k, ok := pub.(ed25519.PublicKey)
	return ok && ed25519.Verify(k, msg, sig)
}

// TestDownloadPage: the page lists every signed runtime release, newest
// first, with each platform's size, sha256 and link, marks the latest
// stable one and a revoked one (without links), and gives the install
// command with the fingerprint of the root the registry serves; it runs
// no script and loads nothing from elsewhere.
func TestDownloadPage(t *testing.T) {
	e := newEnvWith(t, func(c *server.Config) { c.InstallScript = []byte("#!/bin/sh\n") })
	ctx := context.Background()
	e.token("runtime", publishers.TokenSpec{Publisher: "websonic-release", Modules: []string{publishers.RuntimeScope}})
	page := func() (http.Header, string) {
		t.Helper()
		code, h, body := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/download", nil)
		if code != http.StatusOK {
			t.Fatalf("GET /download: %d %s", code, body)
		}
		return h, body
	}
	if _, body := page(); !strings.Contains(body, "Nothing has been released yet.") {
		t.Fatalf("empty page: %s", body)
	}
	for _, v := range []string{"1.2.3", "1.10.0", "1.9.0"} {
		if _, err := e.publisher("runtime").PublishRuntime(ctx, v, tufrepo.ChannelStable, runtimeBinaries(v)); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.publisher("runtime").RevokeRuntime(ctx, "1.10.0"); err != nil {
		t.Fatal(err)
	}
	h, body := page()
	if csp := h.Get("Content-Security-Policy"); !strings.HasPrefix(csp, "default-src 'none'; style-src 'sha256-") || strings.Contains(body, "<script") {
		t.Fatalf("CSP %q", csp)
	}
	// Newest first by semantic version (1.10.0 after 1.9.0 as text).
	i10, i9, i123 := strings.Index(body, `id="v1.10.0"`), strings.Index(body, `id="v1.9.0"`), strings.Index(body, `id="v1.2.3"`)
	if i10 < 0 || !(i10 < i9 && i9 < i123) {
		t.Fatalf("order 1.10.0@%d 1.9.0@%d 1.2.3@%d", i10, i9, i123)
	}
	revoked := body[i10:i9]
	if !strings.Contains(revoked, "revoked: do not install") || strings.Contains(revoked, "/download/websonic/") || strings.Contains(revoked, "latest") {
		t.Fatalf("the revoked release: %s", revoked)
	}
	latest := body[i9:i123]
	if !strings.Contains(latest, "latest stable") {
		t.Fatalf("1.9.0 is not marked latest: %s", latest)
	}
	for platform, bin := range runtimeBinaries("1.9.0") {
		goos, arch, _ := strings.Cut(platform, "/")
		sum := sha256.Sum256(bin)
		link := e.srv.URL + "/download/websonic/1.9.0/" + goos + "-" + arch
		if !strings.Contains(latest, hex.EncodeToString(sum[:])) || !strings.Contains(latest, `href="`+link+`"`) || !strings.Contains(latest, fmt.Sprintf("%d B", len(bin))) {
			t.Fatalf("%s of 1.9.0: sha256, link or size missing in %s", platform, latest)
		}
	}
	_, _, root := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/v1/tuf/root.json", nil)
	sum := sha256.Sum256([]byte(root))
	if want := "sudo sh install.sh --registry " + e.srv.URL + " --root-sha256 " + hex.EncodeToString(sum[:]); !strings.Contains(body, want) {
		t.Fatalf("the install command %q is missing", want)
	}
}

// TestDownloadPageWithoutInstallScript: a registry that serves no
// install.sh (404) does not tell its visitors to download and run it;
// the page still gives the root's fingerprint to check binaries against.
func TestDownloadPageWithoutInstallScript(t *testing.T) {
	e := newEnv(t)
	if code, _, _ := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/download/install.sh", nil); code != http.StatusNotFound {
		t.Fatalf("install.sh without a script: %d", code)
	}
	code, _, body := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/download", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /download: %d %s", code, body)
	}
	if strings.Contains(body, "install.sh") {
		t.Fatalf("the page offers an install.sh the registry does not serve: %s", body)
	}
	_, _, root := send(t, http.DefaultClient, http.MethodGet, e.srv.URL+"/v1/tuf/root.json", nil)
	sum := sha256.Sum256([]byte(root))
	if !strings.Contains(body, hex.EncodeToString(sum[:])) {
		t.Fatalf("the root's fingerprint is missing: %s", body)
	}
}

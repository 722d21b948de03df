package main

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/websonic/websonic/internal/release"
	"github.com/websonic/websonic/internal/tufrepo"
)

// TestReleasePublish is `make release` with the real binaries: `websonic
// release build` writes dist/, `release publish` pushes its image and
// signs its binary on a real registry. A TUF client pinned to the
// publisher's root then verifies the runtime target, whose binary (from
// the signed artifact and from the download page) is dist's; the image,
// pulled back with go-containerregistry, is dist's index with its binary
// at /usr/local/bin/websonic, tagged with the version and latest.
func TestReleasePublish(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	regData, keys, dist := dataDir(t), t.TempDir(), filepath.Join(t.TempDir(), "dist")
	env := []string{"WEBSONIC_DATABASE_URL=", "WEBSONIC_ONLINE_KEY_PASSWORD=online-secret", "WEBSONIC_KEY_PASSWORD=offline-secret",
		"WEBSONIC_CACHE_DIR=" + t.TempDir(), "SOURCE_DATE_EPOCH=1700000000"}

	// With no `make run` on the data folder, --dev publishes nothing and
	// says how to (make release's second step).
	r := cliRun(t, ctx, bin, "", env, "", "release", "build", "--version", "2.1.0", "--commit", "abcdef0", "--platforms", "linux/amd64", "--out", dist)
	if r.code != 0 || !strings.Contains(r.stdout, "websonic-2.1.0-linux-amd64") {
		t.Fatalf("release build: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = cliRun(t, ctx, bin, "", env, "", "release", "publish", "--dist", dist, "--dev", "--data-dir", t.TempDir())
	if r.code != 0 || !strings.Contains(r.stdout, "nothing was published") || !strings.Contains(r.stdout, "release publish --dist "+dist+" --registry URL") {
		t.Fatalf("publish --dev with no make run: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	reg := startDaemon(t, ctx, bin, env, regexp.MustCompile(`registry listening: addr=(\S+)`),
		"registry", "serve", "--data-dir", regData, "--addr", "127.0.0.1:0")
	regURL := "http://" + reg.url
	token := strings.TrimSpace(runCLI(t, ctx, bin, env, "registry", "token", "--data-dir", regData, "--publisher", "websonic", "--modules", "runtime:websonic", "--log-level", "error"))
	for _, n := range []string{"root", "targets"} {
		runCLI(t, ctx, bin, env, "keys", "generate", "--out", keys, "--name", n)
	}
	admin := strings.TrimSpace(runCLI(t, ctx, bin, env, "registry", "token", "--data-dir", regData, "--publisher", "websonic", "--modules", "*", "--admin", "--log-level", "error"))
	runCLI(t, ctx, bin, append(env, "WEBSONIC_REGISTRY="+regURL, "WEBSONIC_REGISTRY_TOKEN="+admin, "WEBSONIC_KEY_DIR="+keys), "keys", "init")
	// The release is published with a token for the runtime only.
	pub := append(env, "WEBSONIC_REGISTRY="+regURL, "WEBSONIC_REGISTRY_TOKEN="+token, "WEBSONIC_KEY_DIR="+keys)

	// A folder whose binary changed after the build is refused before
	// anything is sent.
	bad := filepath.Join(t.TempDir(), "dist")
	if err := os.CopyFS(bad, os.DirFS(dist)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "websonic-2.1.0-linux-amd64"), []byte("#!/bin/sh\necho pwned\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if r := cliRun(t, ctx, bin, "", pub, "", "release", "publish", "--dist", bad); r.code != 1 || !strings.Contains(r.stderr, "is not the binary release.json names") {
		t.Fatalf("publish of a changed dist: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	out := runCLI(t, ctx, bin, pub, "release", "publish", "--dist", dist)
	d, err := release.Open(dist)
	if err != nil {
		t.Fatal(err)
	}
	want := d.Binaries["linux/amd64"]
	sum := sha256.Sum256(want)
	if !strings.Contains(out, "signed websonic 2.1.0 linux/amd64 on stable") || !strings.Contains(out, hex.EncodeToString(sum[:])) ||
		!strings.Contains(out, "podman pull --tls-verify=false "+reg.url+"/runtime/websonic:2.1.0") {
		t.Fatalf("publish said:\n%s", out)
	}

	// The signed release, as a runtime's updater sees it.
	root, err := os.ReadFile(filepath.Join(keys, "root.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := tufrepo.NewClient(tufrepo.ClientConfig{MetadataURL: regURL + "/v1/tuf", Root: root, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	rel, err := c.LatestRuntime("linux", "amd64", tufrepo.ChannelStable)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != "2.1.0" || rel.BinarySHA256 != hex.EncodeToString(sum[:]) || rel.BinarySize != int64(len(want)) {
		t.Fatalf("signed release %+v", rel)
	}
	if _, err := c.LatestRuntime("linux", "arm64", tufrepo.ChannelStable); !errors.Is(err, tufrepo.ErrNotFound) {
		t.Fatalf("arm64 (not built): %v", err)
	}
	if _, _, err := c.DownloadRuntime(ctx, "2.1.0", "linux", "amd64"); err != nil {
		t.Fatalf("DownloadRuntime: %v", err)
	}
	resp, err := http.Get(regURL + "/download/websonic/2.1.0/linux-amd64")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || !bytes.Equal(got, want) {
		t.Fatalf("download: %d, %d bytes (%v); want dist's %d", resp.StatusCode, len(got), err, len(want))
	}

	// The image, pulled back by tag as podman would.
	for _, tag := range []string{"2.1.0", "latest"} {
		ref, err := name.NewTag(reg.url+"/runtime/websonic:"+tag, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		idx, err := remote.Index(ref, remote.WithContext(ctx))
		if err != nil {
			t.Fatalf("pull %s: %v", ref, err)
		}
		if dg, _ := idx.Digest(); dg.String() != d.Image.IndexDigest {
			t.Fatalf("%s is %s, dist's index is %s", ref, dg, d.Image.IndexDigest)
		}
	}
	ref, err := name.ParseReference(reg.url+"/runtime/websonic:2.1.0", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(ref, remote.WithContext(ctx), remote.WithPlatform(v1.Platform{OS: "linux", Architecture: "amd64"}))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != release.User || !slices.Equal(cf.Config.Entrypoint, []string{release.BinaryPath, "serve"}) ||
		cf.Config.WorkingDir != release.DataDir || cf.Config.Labels["org.opencontainers.image.version"] != "2.1.0" {
		t.Fatalf("pulled config %+v", cf.Config)
	}
	if inImage := fileInImage(t, img, strings.TrimPrefix(release.BinaryPath, "/")); !bytes.Equal(inImage, want) {
		t.Fatalf("the pulled image's %s (%d bytes) is not dist's binary", release.BinaryPath, len(inImage))
	}

	// The same version again is refused: a release is immutable.
	if r := cliRun(t, ctx, bin, "", pub, "", "release", "publish", "--dist", dist); r.code != 1 || !strings.Contains(r.stderr, "2.1.0") {
		t.Fatalf("publish again: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// fileInImage is the content of the file at path in img's layers.
func fileInImage(t *testing.T, img v1.Image, path string) []byte {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err != nil {
				break
			}
			if h.Name == path {
				b, err := io.ReadAll(tr)
				rc.Close()
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
		}
		rc.Close()
	}
	t.Fatalf("no %s in the image", path)
	return nil
}

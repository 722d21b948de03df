package release

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What the image is, in one place (the package doc and THE CONTRACT of
// issue 13 say the same).
const (
	// BinaryPath is where the image holds the runtime.
	BinaryPath = "/usr/local/bin/websonic"
	// DataDir is the image's working directory and WEBSONIC_DATA_DIR.
	DataDir = "/var/lib/websonic"
	// User runs the container: numeric, not root, group 0 (OpenShift).
	User = "65532:0"
	// Port is the one port the image serves on (WEBSONIC_ADDR).
	Port = "8080/tcp"
	// Source names the project in the image's labels.
	Source = "https://github.com/websonic/websonic"
	// LayoutDir is the OCI image layout's folder inside a release.
	LayoutDir = "oci"
	// RefNameAnnotation tags a manifest in an OCI image layout.
	RefNameAnnotation = "org.opencontainers.image.ref.name"
)

const uid, gid = 65532, 0

// imageConfig is the runtime configuration of the image of version.
func imageConfig(version, commit string) v1.Config {
	labels := map[string]string{
		"org.opencontainers.image.title":   "websonic",
		"org.opencontainers.image.version": version,
		"org.opencontainers.image.source":  Source,
	}
	if commit != "" {
		labels["org.opencontainers.image.revision"] = commit
	}
	return v1.Config{
		User:       User,
		Entrypoint: []string{BinaryPath, "serve"},
		WorkingDir: DataDir,
		Env: []string{
			"PATH=/usr/local/bin",
			"WEBSONIC_DATA_DIR=" + DataDir,
			"WEBSONIC_ADDR=:8080",
		},
		ExposedPorts: map[string]struct{}{Port: {}},
		Labels:       labels,
	}
}

// rootfs is the image's one layer, uncompressed: a tar with sorted
// entries, every one owned by root but the data folder, with modification
// time epoch.
func rootfs(binary []byte, epoch time.Time) ([]byte, error) {
	type entry struct {
		name     string
		mode     int64
		uid, gid int
		body     []byte // nil: a directory
	}
	passwd := "root:x:0:0:root:/root:/sbin/nologin\n" +
		fmt.Sprintf("websonic:x:%d:%d:websonic:%s:/sbin/nologin\n", uid, gid, DataDir)
	group := "root:x:0:websonic\n"
	entries := []entry{
		{"etc/", 0o755, 0, 0, nil},
		{"etc/group", 0o644, 0, 0, []byte(group)},
		{"etc/passwd", 0o644, 0, 0, []byte(passwd)},
		{"tmp/", 0o1777, 0, 0, nil},
		{"usr/", 0o755, 0, 0, nil},
		{"usr/local/", 0o755, 0, 0, nil},
		{"usr/local/bin/", 0o755, 0, 0, nil},
		{strings.TrimPrefix(BinaryPath, "/"), 0o755, 0, 0, binary},
		{"var/", 0o755, 0, 0, nil},
		{"var/lib/", 0o755, 0, 0, nil},
		{strings.TrimPrefix(DataDir, "/") + "/", 0o775, uid, gid, nil},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries { // in this order: sorted, parents first
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.gid, ModTime: epoch, Format: tar.FormatPAX}
		if e.body == nil {
			h.Typeflag = tar.TypeDir
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// gzipped compresses b with no name nor time in the header: the same
// bytes always give the same output (with the same Go).
func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.DefaultCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// platformImage is the image of one platform's binary.
func platformImage(m *Manifest, platform string, binary []byte) (v1.Image, error) {
	goos, goarch, _ := strings.Cut(platform, "/")
	epoch := time.Unix(m.SourceDateEpoch, 0).UTC()
	tarBytes, err := rootfs(binary, epoch)
	if err != nil {
		return nil, err
	}
	gz, err := gzipped(tarBytes)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(gz)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.Append(base, mutate.Addendum{Layer: layer, MediaType: types.OCILayer, History: v1.History{
		Created:   v1.Time{Time: epoch},
		CreatedBy: "websonic release build: " + BinaryPath + ", /etc/passwd, /tmp, " + DataDir,
		Comment:   "websonic " + m.Version + " " + platform,
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = goarch, goos
	cf.Created = v1.Time{Time: epoch}
	cf.Config = imageConfig(m.Version, m.Commit)
	return mutate.ConfigFile(img, cf)
}

// writeImage builds the image index of the binaries and writes it as an
// OCI image layout in dir/LayoutDir, tagged with the version.
func writeImage(dir string, m *Manifest, bins map[string][]byte) (Image, error) {
	var adds []mutate.IndexAddendum
	for _, b := range m.Binaries { // sorted by platform (validate)
		img, err := platformImage(m, b.Platform, bins[b.Platform])
		if err != nil {
			return Image{}, fmt.Errorf("release: image for %s: %w", b.Platform, err)
		}
		goos, goarch, _ := strings.Cut(b.Platform, "/")
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: goarch}}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	digest, err := idx.Digest()
	if err != nil {
		return Image{}, fmt.Errorf("release: image index: %w", err)
	}
	lp, err := layout.Write(filepath.Join(dir, LayoutDir), empty.Index)
	if err != nil {
		return Image{}, fmt.Errorf("release: image layout: %w", err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{RefNameAnnotation: m.Version})); err != nil {
		return Image{}, fmt.Errorf("release: image layout: %w", err)
	}
	return Image{Layout: LayoutDir, IndexDigest: digest.String(), Tag: m.Version}, nil
}

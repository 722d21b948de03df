package tufrepo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// RuntimeName is the one runtime the index distributes: the websonic
// binary itself (issue 13).
const RuntimeName = "websonic"

// RuntimeTargetPrefix starts the TUF target name of every runtime release:
// "runtime/websonic/<version>/<os>-<arch>".
const RuntimeTargetPrefix = "runtime/"

// RuntimeRepository is the OCI repository holding the runtime's artifacts
// (and its container image).
const RuntimeRepository = "runtime/" + RuntimeName

// MaxRuntimeBinary bounds a runtime binary a release may describe (as
// ocipkg.MaxRuntimeBinary bounds what is fetched).
const MaxRuntimeBinary = 512 << 20

// RuntimeOS is the one operating system runtime releases are built for.
const RuntimeOS = "linux"

// RuntimeArchs returns the architectures runtime releases are built for.
func RuntimeArchs() []string { return []string{"amd64", "arm64"} }

var hexSHA256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// RuntimeTargetPath returns the TUF target name of the runtime release
// version for os/arch.
func RuntimeTargetPath(version, os, arch string) string {
	return RuntimeTargetPrefix + RuntimeName + "/" + version + "/" + os + "-" + arch
}

// runtimeCustom is the "custom" object of a runtime target, decoded
// refusing unknown fields: its "runtime" key (where a module's has
// "module" and a theme's "theme") keeps the kinds apart.
type runtimeCustom struct {
	Runtime        string  `json:"runtime"`
	Version        string  `json:"version"`
	OS             string  `json:"os"`
	Arch           string  `json:"arch"`
	Channel        Channel `json:"channel"`
	ManifestDigest string  `json:"manifest_digest"`
	BinarySHA256   string  `json:"binary_sha256"`
	BinarySize     int64   `json:"binary_size"`
	Revoked        bool    `json:"revoked,omitempty"`
}

func (r *Release) runtimeCustom() runtimeCustom {
	return runtimeCustom{Runtime: r.Module, Version: r.Version, OS: r.OS, Arch: r.Arch, Channel: r.Channel,
		ManifestDigest: r.ManifestDigest, BinarySHA256: r.BinarySHA256, BinarySize: r.BinarySize, Revoked: r.Revoked}
}

func runtimeRelease(raw []byte) (*Release, error) {
	var c runtimeCustom
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("data after the object")
	}
	return &Release{Kind: KindRuntime, Module: c.Runtime, Version: c.Version, OS: c.OS, Arch: c.Arch,
		Channel: c.Channel, ManifestDigest: c.ManifestDigest, BinarySHA256: c.BinarySHA256,
		BinarySize: c.BinarySize, Revoked: c.Revoked}, nil
}

func (r *Release) hasPlatform() bool {
	return r.OS != "" || r.Arch != "" || r.BinarySHA256 != "" || r.BinarySize != 0
}

// ValidRuntimePlatform reports whether os/arch is a platform runtime
// releases are built for.
func ValidRuntimePlatform(os, arch string) bool {
	return os == RuntimeOS && slices.Contains(RuntimeArchs(), arch)
}

func (r *Release) validateRuntime() error {
	switch {
	case r.Module != RuntimeName:
		return fmt.Errorf("%w: runtime name %q (want %q)", ErrInvalidRelease, r.Module, RuntimeName)
	case !semverRE.MatchString(r.Version) || strings.Contains(r.Version, "+"):
		return fmt.Errorf("%w: runtime version %q is not a semantic version without build metadata", ErrInvalidRelease, r.Version)
	case !ValidRuntimePlatform(r.OS, r.Arch):
		return fmt.Errorf("%w: runtime platform %q/%q (want %s/%s)", ErrInvalidRelease, r.OS, r.Arch, RuntimeOS, strings.Join(RuntimeArchs(), "|"))
	case r.Channel != ChannelStable && r.Channel != ChannelBeta:
		return fmt.Errorf("%w: channel %q (want %s or %s)", ErrInvalidRelease, r.Channel, ChannelStable, ChannelBeta)
	case !digestRE.MatchString(r.ManifestDigest):
		return fmt.Errorf("%w: manifest digest %q (want sha256:<64 lowercase hex>)", ErrInvalidRelease, r.ManifestDigest)
	case !hexSHA256RE.MatchString(r.BinarySHA256):
		return fmt.Errorf("%w: binary sha256 %q (want 64 lowercase hex)", ErrInvalidRelease, r.BinarySHA256)
	case r.BinarySize <= 0 || r.BinarySize > MaxRuntimeBinary:
		return fmt.Errorf("%w: binary size %d (want 1 to %d)", ErrInvalidRelease, r.BinarySize, MaxRuntimeBinary)
	case r.ABIVersion != 0 || len(r.Capabilities) != 0 || r.ThemeVersion != 0 || r.Description != "":
		return fmt.Errorf("%w: a runtime release has no ABI version, capabilities, theme format nor description", ErrInvalidRelease)
	}
	return nil
}

// RevokeRuntime marks every platform of the runtime release version
// revoked, pending until signed (ErrNotFound if there is none).
func (r *Repo) RevokeRuntime(version string) error {
	prefix := RuntimeTargetPrefix + RuntimeName + "/" + version + "/"
	r.mu.Lock()
	var paths []string
	for path := range r.pending {
		if strings.HasPrefix(path, prefix) {
			paths = append(paths, path)
		}
	}
	r.mu.Unlock()
	if len(paths) == 0 {
		return fmt.Errorf("%w: runtime %s@%s", ErrNotFound, RuntimeName, version)
	}
	for _, path := range paths {
		if err := r.revoke(path); err != nil {
			return err
		}
	}
	return nil
}

// RuntimeReleases lists the verified runtime releases, every platform,
// revoked ones included (marked), sorted by target name.
func (c *Client) RuntimeReleases() ([]*Release, error) { return c.ReleasesOf(KindRuntime) }

// RuntimeRelease returns the verified runtime release version for
// os/arch: a *RevokedError (matching ErrRevoked) if revoked, ErrNotFound
// if unknown.
func (c *Client) RuntimeRelease(version, os, arch string) (*Release, error) {
	return c.release(RuntimeTargetPath(version, os, arch), "runtime "+RuntimeName+"@"+version+" "+os+"/"+arch)
}

// LatestRuntime returns the highest-precedence non-revoked runtime release
// for os/arch on channel (ChannelBeta also considers stable releases), or
// ErrNotFound.
func (c *Client) LatestRuntime(os, arch string, channel Channel) (*Release, error) {
	return c.latestWhere(KindRuntime, RuntimeName, channel, func(r *Release) bool { return r.OS == os && r.Arch == arch },
		"runtime "+RuntimeName+" for "+os+"/"+arch)
}

// DownloadRuntime fetches the artifact (the OCI manifest bytes) of the
// runtime release version for os/arch and returns it only if its length
// and sha256 are the signed ones, as Download does for a module.
func (c *Client) DownloadRuntime(ctx context.Context, version, os, arch string) ([]byte, *Release, error) {
	rel, err := c.RuntimeRelease(version, os, arch)
	if err != nil {
		return nil, nil, err
	}
	return c.download(ctx, rel)
}

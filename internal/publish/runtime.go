package publish

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"oras.land/oras-go/v2/content"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
)

// PublishRuntime pushes one runtime artifact per platform (binaries maps
// "linux/amd64" or "linux/arm64" to the binary's bytes) to the registry's
// runtime/websonic repository, tagged "<version>-<os>-<arch>", then signs
// ONE targets version listing every platform's release on channel: the
// platforms of a version appear together or not at all. The token needs
// the scope "runtime:websonic" (or "*"). Nothing is signed if a platform
// is refused.
func (p *Publisher) PublishRuntime(ctx context.Context, version string, channel tufrepo.Channel, binaries map[string][]byte) ([]*tufrepo.Release, error) {
	if len(binaries) == 0 {
		return nil, errors.New("publish: runtime: no binaries")
	}
	platforms := slices.Sorted(maps.Keys(binaries))
	for _, pl := range platforms {
		os, arch, _ := strings.Cut(pl, "/")
		if !tufrepo.ValidRuntimePlatform(os, arch) {
			return nil, fmt.Errorf("publish: runtime: platform %q is not linux/amd64 nor linux/arm64", pl)
		}
	}
	repo, _, err := p.current(ctx) // before pushing: fail early on a bad root
	if err != nil {
		return nil, err
	}
	remoteRepo, err := p.remote(tufrepo.RuntimeRepository)
	if err != nil {
		return nil, err
	}
	var out []*tufrepo.Release
	for _, pl := range platforms {
		os, arch, _ := strings.Cut(pl, "/")
		bin := binaries[pl]
		meta := ocipkg.RuntimeMeta{Name: tufrepo.RuntimeName, Version: version, OS: os, Arch: arch}
		desc, err := ocipkg.PackRuntime(ctx, bin, meta, remoteRepo)
		if err != nil {
			return nil, fmt.Errorf("publish: push runtime %s %s: %w", version, pl, err)
		}
		artifact, err := content.FetchAll(ctx, remoteRepo, desc)
		if err != nil {
			return nil, fmt.Errorf("publish: read back %s: %w", desc.Digest, err)
		}
		binSum := sha256.Sum256(bin)
		rel := tufrepo.Release{Kind: tufrepo.KindRuntime, Module: tufrepo.RuntimeName, Version: version, OS: os, Arch: arch,
			Channel: channel, ManifestDigest: desc.Digest.String(), BinarySHA256: hex.EncodeToString(binSum[:]), BinarySize: int64(len(bin))}
		if err := repo.AddRelease(rel, artifact); err != nil {
			return nil, fmt.Errorf("publish: %w", err)
		}
		sum := sha256.Sum256(artifact)
		rel.Path, rel.Length, rel.SHA256 = rel.TargetPath(), int64(len(artifact)), sum[:]
		out = append(out, &rel)
	}
	if err := p.sendTargets(ctx, repo); err != nil {
		return nil, err
	}
	return out, nil
}

// RevokeRuntime signs a targets version marking every platform of the
// runtime release version revoked: runtimes never update to it, and the
// registry stops serving its binary for download.
func (p *Publisher) RevokeRuntime(ctx context.Context, version string) error {
	return p.revoke(ctx, func(r *tufrepo.Repo) error { return r.RevokeRuntime(version) })
}

package tufrepo

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func runtimeArtifact(version, arch string) []byte {
	return []byte(`{"schemaVersion":2,"runtime":"websonic","version":"` + version + `","arch":"` + arch + `"}`)
}

func runtimeRel(version, arch string, ch Channel) Release {
	bin := sha256.Sum256([]byte("binary " + version + " " + arch))
	return Release{Kind: KindRuntime, Module: RuntimeName, Version: version, OS: "linux", Arch: arch, Channel: ch,
		ManifestDigest: digestOf(runtimeArtifact(version, arch)), BinarySHA256: hex.EncodeToString(bin[:]), BinarySize: 1234}
}

func (e *env) addRuntime(version string, ch Channel, archs ...string) {
	e.t.Helper()
	for _, arch := range archs {
		a := runtimeArtifact(version, arch)
		if err := e.repo.AddRelease(runtimeRel(version, arch, ch), a); err != nil {
			e.t.Fatal(err)
		}
		e.setBlob(RuntimeTargetPath(version, "linux", arch), a)
	}
}

// TestRuntimeReleases: runtime releases are signed, listed per platform,
// downloaded and revoked (every platform of a version at once) under
// their own prefix, and never stand for a module or a theme nor the
// reverse.
func TestRuntimeReleases(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.add("websonic", "9.0.0", ChannelStable) // a module named like the runtime
	e.addTheme("websonic", "9.0.0", ChannelStable)
	e.addRuntime("1.0.0", ChannelStable, "amd64", "arm64")
	e.addRuntime("1.1.0", ChannelStable, "amd64") // arm64 not built for 1.1.0
	e.addRuntime("1.2.0-beta.1", ChannelBeta, "amd64", "arm64")
	e.publish()
	e.refresh()

	for _, tc := range []struct {
		arch string
		ch   Channel
		want string
	}{
		{"amd64", ChannelStable, "1.1.0"},
		{"arm64", ChannelStable, "1.0.0"},
		{"amd64", ChannelBeta, "1.2.0-beta.1"},
		{"arm64", ChannelBeta, "1.2.0-beta.1"},
	} {
		rel, err := e.client.LatestRuntime("linux", tc.arch, tc.ch)
		if err != nil || rel.Version != tc.want || rel.Kind != KindRuntime || rel.Arch != tc.arch || rel.OS != "linux" {
			t.Fatalf("LatestRuntime(%s, %s) = %+v, %v; want %s", tc.arch, tc.ch, rel, err, tc.want)
		}
	}
	if _, err := e.client.LatestRuntime("darwin", "amd64", ChannelBeta); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestRuntime(darwin) = %v", err)
	}
	rel, err := e.client.RuntimeRelease("1.0.0", "linux", "arm64")
	want := runtimeRel("1.0.0", "arm64", ChannelStable)
	if err != nil || rel.Path != "runtime/websonic/1.0.0/linux-arm64" || rel.Repository() != "runtime/websonic" ||
		rel.BinarySHA256 != want.BinarySHA256 || rel.BinarySize != 1234 || rel.String() != "runtime websonic@1.0.0 linux/arm64" {
		t.Fatalf("RuntimeRelease = %+v, %v", rel, err)
	}
	// Namespaces: neither kind answers for the other.
	e.wantLatest(e.client, "websonic", ChannelStable, "9.0.0")
	if rel, err := e.client.LatestTheme("websonic", ChannelStable); err != nil || rel.Kind != KindTheme {
		t.Fatalf("LatestTheme(websonic) = %+v, %v", rel, err)
	}
	if _, err := e.client.Release("websonic", "1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("runtime served as a module: %v", err)
	}
	if _, err := e.client.ThemeRelease("websonic", "1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("runtime served as a theme: %v", err)
	}
	if _, err := e.client.RuntimeRelease("9.0.0", "linux", "amd64"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("module served as a runtime: %v", err)
	}
	if _, _, err := e.client.Download(ctx, "websonic", "1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Download of a runtime as a module: %v", err)
	}
	if mods, err := e.client.Releases(); err != nil || len(mods) != 1 {
		t.Fatalf("Releases = %v, %v", mods, err)
	}
	if rts, err := e.client.RuntimeReleases(); err != nil || len(rts) != 5 {
		t.Fatalf("RuntimeReleases = %v, %v", rts, err)
	}
	data, rel, err := e.client.DownloadRuntime(ctx, "1.0.0", "linux", "amd64")
	if err != nil || string(data) != string(runtimeArtifact("1.0.0", "amd64")) || rel.Arch != "amd64" {
		t.Fatalf("DownloadRuntime = %q, %+v, %v", data, rel, err)
	}
	// A tampered artifact is refused.
	e.setBlob(RuntimeTargetPath("1.0.0", "linux", "arm64"), []byte("forged"))
	if _, _, err := e.client.DownloadRuntime(ctx, "1.0.0", "linux", "arm64"); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("forged runtime: %v", err)
	}
	// Revocation takes every platform of the version.
	if err := e.repo.RevokeRuntime("1.2.0-beta.1"); err != nil {
		t.Fatal(err)
	}
	if err := e.repo.RevokeRuntime("3.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RevokeRuntime(unknown) = %v", err)
	}
	e.publish()
	e.refresh()
	for _, arch := range []string{"amd64", "arm64"} {
		if _, err := e.client.RuntimeRelease("1.2.0-beta.1", "linux", arch); !errors.Is(err, ErrRevoked) {
			t.Fatalf("revoked runtime %s: %v", arch, err)
		}
		if _, _, err := e.client.DownloadRuntime(ctx, "1.2.0-beta.1", "linux", arch); !errors.Is(err, ErrRevoked) {
			t.Fatalf("download of revoked runtime %s: %v", arch, err)
		}
	}
	if rel, err := e.client.LatestRuntime("linux", "amd64", ChannelBeta); err != nil || rel.Version != "1.1.0" {
		t.Fatalf("LatestRuntime(beta) after revocation = %+v, %v", rel, err)
	}
	if _, err := e.client.Release("websonic", "9.0.0"); err != nil {
		t.Fatalf("module touched by revoking a runtime: %v", err)
	}
}

func TestRuntimeReleaseValidation(t *testing.T) {
	r := newEnv(t).repo
	a := runtimeArtifact("1.0.0", "amd64")
	for _, tc := range []struct {
		name string
		edit func(*Release)
	}{
		{"other name", func(r *Release) { r.Module = "other" }},
		{"build metadata", func(r *Release) { r.Version = "1.0.0+x" }},
		{"leading v", func(r *Release) { r.Version = "v1.0.0" }},
		{"os", func(r *Release) { r.OS = "darwin" }},
		{"arch", func(r *Release) { r.Arch = "386" }},
		{"no arch", func(r *Release) { r.Arch = "" }},
		{"channel", func(r *Release) { r.Channel = "nightly" }},
		{"upper hex", func(r *Release) { r.BinarySHA256 = strings.ToUpper(r.BinarySHA256) }},
		{"short hex", func(r *Release) { r.BinarySHA256 = r.BinarySHA256[:62] }},
		{"zero size", func(r *Release) { r.BinarySize = 0 }},
		{"huge size", func(r *Release) { r.BinarySize = MaxRuntimeBinary + 1 }},
		{"abi", func(r *Release) { r.ABIVersion = 1 }},
		{"capabilities", func(r *Release) { r.Capabilities = json.RawMessage(`{}`) }},
		{"description", func(r *Release) { r.Description = "x" }},
		{"digest", func(r *Release) { r.ManifestDigest = digestOf([]byte("other")) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := runtimeRel("1.0.0", "amd64", ChannelStable)
			tc.edit(&rel)
			if err := r.AddRelease(rel, a); !errors.Is(err, ErrInvalidRelease) {
				t.Fatalf("AddRelease = %v", err)
			}
		})
	}
	// A module with a platform is no module.
	mod := release("blog", "1.0.0", ChannelStable)
	mod.Arch = "amd64"
	if err := r.AddRelease(mod, artifact("blog", "1.0.0")); !errors.Is(err, ErrInvalidRelease) {
		t.Fatalf("module with a platform: %v", err)
	}

	// Custom objects decoded from targets: strict, and agreeing with the
	// target name and the signed hash.
	sha := make([]byte, 32)
	zero := "sha256:" + strings.Repeat("0", 64)
	bin := strings.Repeat("a", 64)
	good := `{"runtime":"websonic","version":"1.0.0","os":"linux","arch":"amd64","channel":"stable","manifest_digest":"` + zero + `","binary_sha256":"` + bin + `","binary_size":10}`
	if rel, err := releaseFromTarget("runtime/websonic/1.0.0/linux-amd64", 1, sha, []byte(good)); err != nil || rel.BinarySize != 10 {
		t.Fatalf("good custom refused: %+v, %v", rel, err)
	}
	for name, tc := range map[string]struct{ path, raw string }{
		"other platform path": {"runtime/websonic/1.0.0/linux-arm64", good},
		"other version path":  {"runtime/websonic/1.0.1/linux-amd64", good},
		"unknown field":       {"runtime/websonic/1.0.0/linux-amd64", strings.Replace(good, `"os"`, `"extra":1,"os"`, 1)},
		"trailing data":       {"runtime/websonic/1.0.0/linux-amd64", good + `{}`},
		"module custom":       {"runtime/websonic/1.0.0/linux-amd64", `{"module":"websonic","version":"1.0.0","abi_version":1,"capabilities":{},"channel":"stable","manifest_digest":"` + zero + `"}`},
		"runtime as module":   {"modules/websonic/1.0.0", good},
		"runtime as theme":    {"themes/websonic/1.0.0", good},
		"digest not the hash": {"runtime/websonic/1.0.0/linux-amd64", strings.Replace(good, zero, digestOf([]byte("x")), 1)},
		"no custom":           {"runtime/websonic/1.0.0/linux-amd64", ``},
	} {
		if rel, err := releaseFromTarget(tc.path, 1, sha, []byte(tc.raw)); !errors.Is(err, ErrInvalidRelease) {
			t.Errorf("%s: accepted as %+v (%v)", name, rel, err)
		}
	}
}

// TestSplitKeysRuntime: the registry's AcceptTargets takes runtime
// releases, reports them as runtime changes and keeps them immutable.
func TestSplitKeysRuntime(t *testing.T) {
	s := newSplit(t)
	raw := s.signed(t, func(p *Repo) {
		for _, arch := range RuntimeArchs() {
			if err := p.AddRelease(runtimeRel("1.0.0", arch, ChannelStable), runtimeArtifact("1.0.0", arch)); err != nil {
				t.Fatal(err)
			}
		}
	})
	changes, err := s.registry.AcceptTargets(raw, nil)
	if err != nil || len(changes) != 2 || changes[0].New.Kind != KindRuntime || changes[0].New.String() != "runtime websonic@1.0.0 linux/amd64" {
		t.Fatalf("AcceptTargets = %+v, %v", changes, err)
	}
	raw = s.signed(t, func(p *Repo) {
		if err := p.RevokeRuntime("1.0.0"); err != nil {
			t.Fatal(err)
		}
	})
	changes, err = s.registry.AcceptTargets(raw, nil)
	if err != nil || len(changes) != 2 || changes[1].Old == nil || !changes[1].New.Revoked {
		t.Fatalf("revoke: %+v, %v", changes, err)
	}
}

// TestCanonicalTargets: the targets signature verifies over
// CanonicalTargets' bytes with plain crypto/ed25519 (as openssl would),
// and not over anything else.
func TestCanonicalTargets(t *testing.T) {
	e := newEnv(t)
	e.addRuntime("1.0.0", ChannelStable, "amd64")
	e.publish()
	raw := e.repo.Files()["targets.json"]
	canon, err := CanonicalTargets(raw)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := e.keys.Targets.Signers[0].PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Signatures []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil || len(doc.Signatures) != 1 {
		t.Fatalf("signatures: %+v, %v", doc, err)
	}
	sig, err := hex.DecodeString(doc.Signatures[0].Sig)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(pub.(ed25519.PublicKey), canon, sig) {
		t.Fatalf("the targets signature does not verify over %s", canon)
	}
	if !strings.Contains(string(canon), `"runtime/websonic/1.0.0/linux-amd64"`) || strings.Contains(string(canon), "signatures") {
		t.Fatalf("canonical targets: %s", canon)
	}
	tampered := bytes.Replace(canon, []byte(`"version":2`), []byte(`"version":3`), 1)
	if bytes.Equal(tampered, canon) || ed25519.Verify(pub.(ed25519.PublicKey), tampered, sig) {
		t.Fatal("the signature verifies over other bytes")
	}
	if _, err := CanonicalTargets([]byte(`{"signed":{}}`)); !errors.Is(err, ErrRejected) {
		t.Fatalf("CanonicalTargets(garbage) = %v", err)
	}
}

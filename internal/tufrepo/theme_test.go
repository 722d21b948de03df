package tufrepo

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func themeArtifact(theme, version string) []byte {
	return []byte(`{"schemaVersion":2,"theme":"` + theme + `","version":"` + version + `"}`)
}

func themeRelease(theme, version string, ch Channel) Release {
	return Release{Kind: KindTheme, Module: theme, Version: version, ThemeVersion: 1, Channel: ch,
		ManifestDigest: digestOf(themeArtifact(theme, version))}
}

func (e *env) addTheme(theme, version string, ch Channel) {
	e.t.Helper()
	a := themeArtifact(theme, version)
	if err := e.repo.AddRelease(themeRelease(theme, version, ch), a); err != nil {
		e.t.Fatal(err)
	}
	e.setBlob(ThemeTargetPath(theme, version), a)
}

// TestThemeReleases: theme releases are signed, listed, downloaded and
// revoked like modules' under their own prefix, and a theme and a module
// of the same name never stand for each other.
func TestThemeReleases(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.add("blog", "1.0.0", ChannelStable)
	e.addTheme("blog", "2.0.0", ChannelStable) // same name as the module, another namespace
	e.addTheme("sunrise", "1.0.0", ChannelStable)
	e.addTheme("sunrise", "1.1.0-beta.1", ChannelBeta)
	e.publish()
	e.refresh()

	if rel, err := e.client.LatestTheme("sunrise", ChannelStable); err != nil || rel.Version != "1.0.0" || rel.Kind != KindTheme || rel.Path != "themes/sunrise/1.0.0" {
		t.Fatalf("LatestTheme(stable) = %+v, %v", rel, err)
	}
	if rel, err := e.client.LatestTheme("sunrise", ChannelBeta); err != nil || rel.Version != "1.1.0-beta.1" {
		t.Fatalf("LatestTheme(beta) = %+v, %v", rel, err)
	}
	// Namespaces.
	e.wantLatest(e.client, "blog", ChannelStable, "1.0.0")
	if rel, err := e.client.LatestTheme("blog", ChannelStable); err != nil || rel.Version != "2.0.0" || rel.Repository() != "themes/blog" {
		t.Fatalf("LatestTheme(blog) = %+v, %v", rel, err)
	}
	if _, err := e.client.Latest("sunrise", ChannelStable); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a theme served as a module: %v", err)
	}
	if _, err := e.client.Release("blog", "2.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("theme blog@2.0.0 served as module: %v", err)
	}
	if _, err := e.client.ThemeRelease("blog", "1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("module blog@1.0.0 served as a theme: %v", err)
	}
	if _, _, err := e.client.Download(ctx, "sunrise", "1.0.0"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Download of a theme as a module: %v", err)
	}
	data, rel, err := e.client.DownloadTheme(ctx, "sunrise", "1.0.0")
	if err != nil || string(data) != string(themeArtifact("sunrise", "1.0.0")) || rel.MatchesTheme("sunrise", "1.0.0", 1) != nil {
		t.Fatalf("DownloadTheme = %q, %+v, %v", data, rel, err)
	}
	if err := rel.MatchesTheme("sunrise", "1.0.0", 2); !errors.Is(err, ErrMismatch) {
		t.Fatalf("MatchesTheme(other format) = %v", err)
	}
	if mods, err := e.client.ReleasesOf(KindModule); err != nil || len(mods) != 1 {
		t.Fatalf("Releases(module) = %v, %v", mods, err)
	}
	if themes, err := e.client.ReleasesOf(KindTheme); err != nil || len(themes) != 3 {
		t.Fatalf("Releases(theme) = %v, %v", themes, err)
	}
	// A tampered artifact is refused.
	e.setBlob(ThemeTargetPath("sunrise", "1.0.0"), []byte("forged"))
	if _, _, err := e.client.DownloadTheme(ctx, "sunrise", "1.0.0"); !errors.Is(err, ErrDigestMismatch) {
		t.Fatalf("forged theme: %v", err)
	}
	// Revocation.
	if err := e.repo.RevokeTheme("sunrise", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	e.publish()
	e.refresh()
	if _, err := e.client.ThemeRelease("sunrise", "1.0.0"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked theme: %v", err)
	}
	if _, err := e.client.LatestTheme("sunrise", ChannelStable); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestTheme after revocation: %v", err)
	}
	if _, err := e.client.Release("blog", "1.0.0"); err != nil {
		t.Fatalf("module blog was touched by revoking a theme: %v", err)
	}
}

func TestThemeReleaseValidation(t *testing.T) {
	r := newEnv(t).repo
	good := func() Release { return themeRelease("sunrise", "1.0.0", ChannelStable) }
	a := themeArtifact("sunrise", "1.0.0")
	for _, tc := range []struct {
		name string
		edit func(*Release)
	}{
		{"capabilities", func(r *Release) { r.Capabilities = json.RawMessage(`{"http":[]}`) }},
		{"abi", func(r *Release) { r.ABIVersion = 1 }},
		{"no format", func(r *Release) { r.ThemeVersion = 0 }},
		{"bad name", func(r *Release) { r.Module = "../x" }},
		{"build metadata", func(r *Release) { r.Version = "1.0.0+x" }},
		{"unknown kind", func(r *Release) { r.Kind = 7 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rel := good()
			tc.edit(&rel)
			if err := r.AddRelease(rel, a); !errors.Is(err, ErrInvalidRelease) {
				t.Fatalf("AddRelease = %v", err)
			}
		})
	}
	// A module's custom object under a theme target, and the other way.
	sha := make([]byte, 32)
	digest := "sha256:" + strings.Repeat("0", 64)
	for path, raw := range map[string]string{
		"themes/blog/1.0.0":  `{"module":"blog","version":"1.0.0","abi_version":1,"capabilities":{},"channel":"stable","manifest_digest":"` + digest + `"}`,
		"modules/blog/1.0.0": `{"theme":"blog","version":"1.0.0","theme_version":1,"channel":"stable","manifest_digest":"` + digest + `"}`,
		"other/blog/1.0.0":   `{"module":"blog","version":"1.0.0","abi_version":1,"capabilities":{},"channel":"stable","manifest_digest":"` + digest + `"}`,
		"themes/x/1.0.0":     `{"theme":"blog","version":"1.0.0","theme_version":1,"channel":"stable","manifest_digest":"` + digest + `"}`,
	} {
		if rel, err := releaseFromTarget(path, 1, sha, []byte(raw)); !errors.Is(err, ErrInvalidRelease) {
			t.Errorf("%s accepted as %+v (%v)", path, rel, err)
		}
	}
}

// TestSplitKeysTheme: the registry's AcceptTargets takes theme releases,
// reports them as changes of kind theme and keeps them immutable.
func TestSplitKeysTheme(t *testing.T) {
	s := newSplit(t)
	raw := s.signed(t, func(p *Repo) {
		if err := p.AddRelease(themeRelease("sunrise", "1.0.0", ChannelStable), themeArtifact("sunrise", "1.0.0")); err != nil {
			t.Fatal(err)
		}
	})
	changes, err := s.registry.AcceptTargets(raw, nil)
	if err != nil || len(changes) != 1 || changes[0].New.Kind != KindTheme || changes[0].New.String() != "theme sunrise@1.0.0" {
		t.Fatalf("AcceptTargets = %+v, %v", changes, err)
	}
	raw = s.signed(t, func(p *Repo) {
		if err := p.RevokeTheme("sunrise", "1.0.0"); err != nil {
			t.Fatal(err)
		}
	})
	changes, err = s.registry.AcceptTargets(raw, nil)
	if err != nil || len(changes) != 1 || changes[0].Old == nil || !changes[0].New.Revoked {
		t.Fatalf("revoke: %+v, %v", changes, err)
	}
}

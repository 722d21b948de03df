package server_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/registry/internal/publishers"
)

// theme writes a theme folder.
func (e *env) theme(name, version string) string {
	e.t.Helper()
	dir := filepath.Join(e.packages, "theme-"+name+"-"+version)
	files := map[string]string{
		"theme.json":       fmt.Sprintf(`{"name":%q,"version":%q,"description":"test","theme_version":1}`, name, version),
		"layout.html":      `{{define "layout"}}<main>{{template "content" .}}</main>{{end}}`,
		"assets/style.css": "main{color:" + version + "}",
	}
	for p, body := range files {
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	return dir
}

func (e *env) token(name string, spec publishers.TokenSpec) {
	e.t.Helper()
	tok, _, err := e.reg.Publishers().CreateToken(context.Background(), spec)
	if err != nil {
		e.t.Fatal(err)
	}
	e.tokens[name] = tok
}

// TestThemePublish: a theme is pushed to themes/<name> and signed under
// themes/<name>/<version> with a token scoped theme:<name>; module scopes
// do not reach themes nor theme scopes modules; a theme of a module's name
// is another release; revocation works as for modules.
func TestThemePublish(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.token("sunrise", publishers.TokenSpec{Publisher: "design", Modules: []string{"theme:sunrise"}})

	rel, err := e.publisher("sunrise").PublishTheme(ctx, e.theme("sunrise", "1.0.0"), tufrepo.ChannelStable, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Path != "themes/sunrise/1.0.0" || rel.Kind != tufrepo.KindTheme {
		t.Fatalf("release %+v", rel)
	}
	// Scopes: a module token cannot publish a theme of its module's name,
	// nor a theme token a module of its theme's name.
	if _, err := e.publisher("blog").PublishTheme(ctx, e.theme("blog", "1.0.0"), tufrepo.ChannelStable, nil); err == nil || !strings.Contains(err.Error(), "theme:blog") {
		t.Fatalf("module token published a theme: %v", err)
	}
	if _, err := e.publisher("sunrise").Publish(ctx, e.pkg("sunrise", "1.0.0"), tufrepo.ChannelStable); err == nil {
		t.Fatal("theme token published a module")
	}
	// Namespaces: module blog and theme blog are two releases.
	if _, err := e.publisher("blog").Publish(ctx, e.pkg("blog", "1.0.0"), tufrepo.ChannelStable); err != nil {
		t.Fatal(err)
	}
	if _, err := e.publisher("admin").PublishTheme(ctx, e.theme("blog", "2.0.0"), tufrepo.ChannelStable, nil); err != nil {
		t.Fatal(err)
	}
	// A validator refusing the theme: nothing is pushed or signed.
	refuse := errors.New("layout.html: template: bad")
	if _, err := e.publisher("sunrise").PublishTheme(ctx, e.theme("sunrise", "1.1.0"), tufrepo.ChannelStable, func(fs.FS) error { return refuse }); !errors.Is(err, refuse) {
		t.Fatalf("validator ignored: %v", err)
	}

	c := e.client()
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Latest("blog", tufrepo.ChannelStable); err != nil || m.Version != "1.0.0" || m.Kind != tufrepo.KindModule {
		t.Fatalf("module blog: %+v, %v", m, err)
	}
	if th, err := c.LatestTheme("blog", tufrepo.ChannelStable); err != nil || th.Version != "2.0.0" {
		t.Fatalf("theme blog: %+v, %v", th, err)
	}
	if th, err := c.LatestTheme("sunrise", tufrepo.ChannelStable); err != nil || th.Version != "1.0.0" {
		t.Fatalf("theme sunrise: %+v, %v (1.1.0 was refused by its validator)", th, err)
	}
	// A runtime pulls it by the signed digest.
	target, _, err := c.DownloadTheme(ctx, "sunrise", "1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.srv.URL)
	repo, err := remote.NewRepository(u.Host + "/themes/sunrise")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	th, err := ocipkg.FetchThemeFrom(ctx, repo, rel.ManifestDigest)
	if err != nil {
		t.Fatal(err)
	}
	if th.Meta.Name != "sunrise" || string(th.Files["assets/style.css"]) != "main{color:1.0.0}" {
		t.Fatalf("pulled %+v", th.Meta)
	}
	desc, _ := repo.Resolve(ctx, rel.ManifestDigest)
	if raw, _ := content.FetchAll(ctx, repo, desc); string(raw) != string(target) {
		t.Fatal("the TUF target is not the OCI manifest")
	}

	// Revocation by the theme's token, not by another's.
	if err := e.publisher("blog").RevokeTheme(ctx, "sunrise", "1.0.0"); err == nil {
		t.Fatal("blog's token revoked theme sunrise")
	}
	if err := e.publisher("sunrise").RevokeTheme(ctx, "sunrise", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ThemeRelease("sunrise", "1.0.0"); !errors.Is(err, tufrepo.ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
}

// TestThemeReleaseOfModuleArtifact: a signed theme release naming a module
// artifact stored under themes/<name> is refused by the registry.
func TestThemeReleaseOfModuleArtifact(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, _ := url.Parse(e.srv.URL)
	repo, err := remote.NewRepository(u.Host + "/themes/evil")
	if err != nil {
		t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{Credential: auth.StaticCredential(u.Host, auth.Credential{AccessToken: e.tokens["admin"]})}
	desc, err := ocipkg.PackTo(ctx, e.pkg("evil", "1.0.0"), repo)
	if err != nil {
		t.Fatal(err)
	}
	artifact, err := content.FetchAll(ctx, repo, desc)
	if err != nil {
		t.Fatal(err)
	}
	raw := signRelease(t, e, tufrepo.Release{Kind: tufrepo.KindTheme, Module: "evil", Version: "1.0.0", ThemeVersion: 1,
		Channel: tufrepo.ChannelStable, ManifestDigest: desc.Digest.String()}, artifact)
	if err := putTargets(t, e, "admin", raw); err == nil || !strings.Contains(err.Error(), "artifact type") {
		t.Fatalf("a module artifact signed as a theme: %v", err)
	}
}

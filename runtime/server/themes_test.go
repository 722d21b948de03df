package server

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	orasremote "oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// parseThemeTemplates is this test's theme validator: every .html file
// must parse with html/template, and a "layout" template must exist.
func parseThemeTemplates(fsys fs.FS) error {
	t := template.New("")
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".html" {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		_, err = t.New(p).Parse(string(b))
		return err
	})
	if err != nil {
		return err
	}
	if t.Lookup("layout") == nil {
		return errors.New(`no "layout" template`)
	}
	return nil
}

// writeThemeDir writes a theme folder whose layout says which version it
// is; extra files are added or replace.
func writeThemeDir(t testing.TB, dir, name, version string, extra map[string]string) string {
	t.Helper()
	files := map[string]string{
		"theme.json":        fmt.Sprintf(`{"name":%q,"version":%q,"description":"A test theme","theme_version":1}`, name, version),
		"layout.html":       `{{define "layout"}}<main class="` + name + `">` + version + `</main>{{end}}`,
		"assets/site.css":   "main{margin:0}",
		"assets/logo.svg":   "<svg xmlns='http://www.w3.org/2000/svg'/>",
		"partials/nav.html": `{{define "nav"}}<nav></nav>{{end}}`,
	}
	for p, b := range extra {
		files[p] = b
	}
	dir = filepath.Join(dir, name+"-"+version)
	for p, b := range files {
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (e *updateEnv) publishTheme(name, version string, extra map[string]string) {
	e.t.Helper()
	if _, err := e.pub.PublishTheme(context.Background(), writeThemeDir(e.t, e.pkgs, name, version, extra), tufrepo.ChannelStable, nil); err != nil {
		e.t.Fatal(err)
	}
}

// themeRequest sends a theme request through the site's request queue and
// waits for its answer.
func themeRequest(t *testing.T, s *Server, r updater.Request) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	id, err := updater.Enqueue(ctx, s.db.Pool, r)
	if err != nil {
		t.Fatal(err)
	}
	return updater.Wait(ctx, s.db.Pool, id, nil)
}

// layoutOf reads the installed theme's layout.html on s.
func layoutOf(t *testing.T, s *Server, name string) string {
	t.Helper()
	fsys, err := s.ThemeFiles(context.Background(), name)
	if err != nil {
		t.Fatalf("ThemeFiles(%s): %v", name, err)
	}
	b, err := fs.ReadFile(fsys, "layout.html")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func lastThemeEvent(t *testing.T, s *Server) updater.Event {
	t.Helper()
	evs, err := updater.ThemeEventsFrom(context.Background(), s.db.Pool, 1)
	if err != nil || len(evs) == 0 {
		t.Fatalf("theme events: %v, %v", evs, err)
	}
	return evs[0]
}

// openReplica starts a second runtime on the env's database, with a data
// dir (and package store) of its own.
func (e *updateEnv) openReplica() *Server {
	e.t.Helper()
	srv, err := Open(context.Background(), Config{
		DataDir: e.t.TempDir(), DatabaseURL: e.siteDB.URL, RolePrefix: e.siteDB.Prefix(),
		Registry: e.proxy.URL, TrustedRoot: e.root, UpdateInterval: time.Hour, PlainLoopbackRegistry: true,
		StatementTimeout: time.Second, MemoryLimitPages: 1024,
		Pool:   engine.PoolConfig{Size: 2, CallTimeout: 5 * time.Second},
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{e.t}}),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { srv.Close(context.Background()) })
	return srv
}

// TestThemesFromRegistry publishes a theme, installs it through the
// request queue, follows an automatic update on two replicas, refuses a
// broken update, a theme carrying a script, a forged and an unsigned one
// (the installed version stays each time), rolls back, and keeps themes
// and modules of the same name apart.
func TestThemesFromRegistry(t *testing.T) {
	e := newUpdateEnv(t)
	ctx := context.Background()
	srv := e.site.srv
	var changed atomic.Int32
	var active atomic.Value
	active.Store("")
	hooks := func(counter *atomic.Int32) ThemeHooks {
		return ThemeHooks{
			Validate: parseThemeTemplates,
			Active:   func(context.Context) (string, error) { return active.Load().(string), nil },
			Changed:  func() { counter.Add(1) },
		}
	}
	srv.SetThemeHooks(hooks(&changed))
	replica := e.openReplica()
	var replicaChanged atomic.Int32
	replica.SetThemeHooks(hooks(&replicaChanged))
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go srv.Updater().Run(runCtx)
	go replica.Updater().Run(runCtx)

	// Install through the queue.
	e.publishTheme("sunrise", "1.0.0", nil)
	if res, err := themeRequest(t, srv, updater.Request{Action: updater.ActionThemeInstall, Module: "sunrise"}); err != nil {
		t.Fatal(err)
	} else if !strings.Contains(res, "theme sunrise@1.0.0 installed") {
		t.Fatalf("result %q", res)
	}
	if got := layoutOf(t, srv, "sunrise"); !strings.Contains(got, "1.0.0") {
		t.Fatalf("layout %q", got)
	}
	if changed.Load() == 0 {
		t.Fatal("Changed not called on the installing replica")
	}
	// The other replica learns it (pgnotify) and reads it from the
	// registry into its own store.
	waitFor(t, func() bool { return replicaChanged.Load() > 0 })
	if got := layoutOf(t, replica, "sunrise"); !strings.Contains(got, "1.0.0") {
		t.Fatalf("replica layout %q", got)
	}
	ts, err := srv.InstalledThemes(ctx)
	if err != nil || len(ts) != 1 || ts[0].Version != "1.0.0" || ts[0].Description != "A test theme" || ts[0].Policy != updater.PolicyAuto {
		t.Fatalf("installed %+v, %v", ts, err)
	}

	// An automatic update, on both replicas.
	before := replicaChanged.Load()
	e.publishTheme("sunrise", "1.1.0", map[string]string{"assets/extra.woff2": "wOF2"})
	waitFor(t, func() bool { return strings.Contains(layoutOf(t, srv, "sunrise"), "1.1.0") })
	waitFor(t, func() bool { return replicaChanged.Load() > before })
	if got := layoutOf(t, replica, "sunrise"); !strings.Contains(got, "1.1.0") {
		t.Fatalf("replica layout after the update %q", got)
	}

	// A broken template: refused by the validator, 1.1.0 stays.
	e.publishTheme("sunrise", "1.2.0", map[string]string{"layout.html": `{{define "layout"}}<main>{{if .}}</main>{{end}}`})
	waitFor(t, func() bool {
		ev := lastThemeEvent(t, srv)
		return ev.To == "1.2.0" && ev.Outcome == "failed"
	})
	if ev := lastThemeEvent(t, srv); !strings.Contains(ev.Reason, "theme refused") || !strings.Contains(ev.Reason, "layout.html") {
		t.Fatalf("refusal reason %q", ev.Reason)
	}
	if _, err := themeRequest(t, srv, updater.Request{Action: updater.ActionThemeInstall, Module: "sunrise", Version: "1.2.0"}); err == nil || !strings.Contains(err.Error(), "theme refused") {
		t.Fatalf("installing the broken theme: %v", err)
	}
	if got := layoutOf(t, srv, "sunrise"); !strings.Contains(got, "1.1.0") {
		t.Fatalf("after the broken update: %q", got)
	}

	// A signed theme carrying a script (the publisher's tools refuse to
	// pack one; this one was made by hand): refused, 1.1.0 stays.
	e.signThemeArtifact("sunrise", "1.3.0", map[string]string{
		"layout.html":   `{{define "layout"}}<main>1.3.0</main>{{end}}`,
		"assets/app.js": "alert(document.cookie)",
	})
	_, err = themeRequest(t, srv, updater.Request{Action: updater.ActionThemeInstall, Module: "sunrise", Version: "1.3.0"})
	if err == nil || !strings.Contains(err.Error(), "no scripts") {
		t.Fatalf("theme with a script: %v", err)
	}
	if got := layoutOf(t, srv, "sunrise"); !strings.Contains(got, "1.1.0") {
		t.Fatalf("after the script: %q", got)
	}

	// Pinned from here on: the releases below must not arrive on their own.
	if _, err := themeRequest(t, srv, updater.Request{Action: updater.ActionThemePolicy, Module: "sunrise", Policy: "pinned"}); err != nil {
		t.Fatal(err)
	}

	// Forged in transit (the proxy swaps the signed target): the download
	// fails (ErrTransfer), which refuses nothing for good.
	forge := func(w http.ResponseWriter, r *http.Request, next http.Handler) bool {
		if strings.HasPrefix(r.URL.Path, "/v1/tuf/targets/themes/") {
			w.Write([]byte(`{"schemaVersion":2,"forged":true}`))
			return true
		}
		return false
	}
	e.tamper.Store(&forge)
	e.publishTheme("sunrise", "1.4.0", nil)
	_, err = srv.Updater().InstallTheme(ctx, "sunrise", "1.4.0", tufrepo.ChannelStable, updater.PolicyAuto)
	if !errors.Is(err, updater.ErrTransfer) || errors.Is(err, updater.ErrVerify) {
		t.Fatalf("forged theme: %v", err)
	}
	e.tamper.Store(nil)
	// Unsigned: pushed to the registry, never signed.
	pushUnsigned(t, e, writeThemeDir(t, e.pkgs, "sunrise", "9.0.0", nil))
	if _, err := srv.Updater().InstallTheme(ctx, "sunrise", "9.0.0", tufrepo.ChannelStable, updater.PolicyAuto); !errors.Is(err, tufrepo.ErrNotFound) {
		t.Fatalf("unsigned theme: %v", err)
	}
	if got := layoutOf(t, srv, "sunrise"); !strings.Contains(got, "1.1.0") {
		t.Fatalf("after the forgeries: %q", got)
	}

	// Roll back (from disk, pinned), then the policy.
	if _, err := themeRequest(t, srv, updater.Request{Action: updater.ActionThemeRollback, Module: "sunrise"}); err != nil {
		t.Fatal(err)
	}
	if got := layoutOf(t, srv, "sunrise"); !strings.Contains(got, "1.0.0") {
		t.Fatalf("after the rollback: %q", got)
	}
	ts, _ = srv.InstalledThemes(ctx)
	if ts[0].Policy != updater.PolicyPinned || ts[0].PreviousVersion != "1.1.0" {
		t.Fatalf("after the rollback: %+v", ts[0])
	}
	if ev := lastThemeEvent(t, srv); ev.Outcome != "rolled_back" || ev.From != "1.1.0" || ev.To != "1.0.0" {
		t.Fatalf("rollback event %+v", ev)
	}
	if _, err := themeRequest(t, srv, updater.Request{Action: updater.ActionThemePolicy, Module: "sunrise", Policy: "notify", Channel: "beta"}); err != nil {
		t.Fatal(err)
	}
	ts, _ = srv.InstalledThemes(ctx)
	if ts[0].Policy != updater.PolicyNotify || ts[0].Channel != tufrepo.ChannelBeta {
		t.Fatalf("after the policy: %+v", ts[0])
	}
	if err := srv.Updater().Check(ctx); err != nil {
		t.Fatal(err)
	}
	ts, _ = srv.InstalledThemes(ctx)
	if ts[0].Version != "1.0.0" || ts[0].AvailableVersion != "1.4.0" {
		t.Fatalf("notify: %+v", ts[0])
	}

	// Namespaces: module "versioned" and theme "versioned".
	e.publishVersion("1.0.0")
	e.publishTheme("versioned", "3.0.0", nil)
	if _, err := srv.Updater().Install(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyPinned); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Updater().InstallTheme(ctx, "versioned", "", tufrepo.ChannelStable, updater.PolicyPinned); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.0.0")
	if got := layoutOf(t, srv, "versioned"); !strings.Contains(got, "3.0.0") {
		t.Fatalf("theme versioned: %q", got)
	}
	mods, _ := srv.Updater().List(ctx)
	if len(mods) != 1 || mods[0].Name != "versioned" || mods[0].Version != "1.0.0" {
		t.Fatalf("modules %+v", mods)
	}
	if _, err := srv.Updater().InstallTheme(ctx, "nosuch", "", tufrepo.ChannelStable, ""); !errors.Is(err, tufrepo.ErrNotFound) {
		t.Fatalf("theme of no release: %v", err)
	}

	// Uninstall: the active theme is refused, another goes.
	active.Store("sunrise")
	if _, err := themeRequest(t, srv, updater.Request{Action: updater.ActionThemeUninstall, Module: "sunrise"}); err == nil || !strings.Contains(err.Error(), "active theme") {
		t.Fatalf("uninstalling the active theme: %v", err)
	}
	if _, err := themeRequest(t, srv, updater.Request{Action: updater.ActionThemeUninstall, Module: "versioned"}); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ThemeFiles(ctx, "versioned"); !errors.Is(err, updater.ErrThemeNotInstalled) {
		t.Fatalf("uninstalled theme: %v", err)
	}
	e.site.wantServing(t, "1.0.0") // the module of that name is untouched

	// A restart serves the recorded theme from disk, registry gone.
	stop()
	srv.Close(ctx)
	e.regSrv.CloseClientConnections() // the watch streams
	e.regSrv.Close()
	e.start()
	e.site.srv.SetThemeHooks(ThemeHooks{Validate: parseThemeTemplates})
	if got := layoutOf(t, e.site.srv, "sunrise"); !strings.Contains(got, "1.0.0") {
		t.Fatalf("after a restart: %q", got)
	}
}

// signThemeArtifact pushes a theme artifact made by hand (files in a tar,
// no format checks) to themes/<name> and signs it with the publisher's
// keys: what a publisher's compromised build could produce.
func (e *updateEnv) signThemeArtifact(name, version string, files map[string]string) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	for p, b := range files {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Size: int64(len(b)), Mode: 0o644, Format: tar.FormatUSTAR})
		tw.Write([]byte(b))
	}
	tw.Close()
	meta := []byte(fmt.Sprintf(`{"name":%q,"version":%q,"theme_version":1}`, name, version))
	cfg := []byte(fmt.Sprintf(`{"websonic.theme":{"name":%q,"version":%q,"theme_version":1}}`, name, version))
	layer := func(mt, title string, b []byte) ocispec.Descriptor {
		d := content.NewDescriptorFromBytes(mt, b)
		d.Annotations = map[string]string{ocispec.AnnotationTitle: title}
		return d
	}
	layers := []ocispec.Descriptor{layer(ocipkg.MediaTypeThemeManifest, ocipkg.ThemeManifestFile, meta), layer(ocipkg.MediaTypeThemeFiles, ocipkg.ThemeFilesFile, tb.Bytes())}
	cfgDesc := content.NewDescriptorFromBytes(ocipkg.MediaTypeThemeConfig, cfg)
	im := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"artifactType":%q,"config":%s,"layers":[%s,%s],"annotations":{%q:%q,%q:%q}}`,
		ocispec.MediaTypeImageManifest, ocipkg.ArtifactTypeTheme, mustJSON(t, cfgDesc), mustJSON(t, layers[0]), mustJSON(t, layers[1]),
		ocispec.AnnotationTitle, name, ocispec.AnnotationVersion, version)
	imDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, []byte(im))
	repo := e.remoteRepo("themes/" + name)
	for _, blob := range []struct {
		d ocispec.Descriptor
		b []byte
	}{{layers[0], meta}, {layers[1], tb.Bytes()}, {cfgDesc, cfg}, {imDesc, []byte(im)}} { // the manifest last
		if err := repo.Push(ctx, blob.d, bytes.NewReader(blob.b)); err != nil {
			t.Fatal(err)
		}
	}
	c, err := tufrepo.NewClient(tufrepo.ClientConfig{MetadataURL: e.regSrv.URL + "/v1/tuf", Root: e.root, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := c.State()
	if err != nil {
		t.Fatal(err)
	}
	r, err := tufrepo.Load(st, e.pub.Keys, tufrepo.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.AddRelease(tufrepo.Release{Kind: tufrepo.KindTheme, Module: name, Version: version, ThemeVersion: 1,
		Channel: tufrepo.ChannelStable, ManifestDigest: imDesc.Digest.String()}, []byte(im)); err != nil {
		t.Fatal(err)
	}
	raw, err := r.SignTargets()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPut, e.regSrv.URL+"/v1/tuf/targets.json", bytes.NewReader(raw))
	req.Header.Set("Authorization", "Bearer "+e.pub.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("signing the hand-made theme: %s", resp.Status)
	}
}

func (e *updateEnv) remoteRepo(name string) *orasremote.Repository {
	e.t.Helper()
	u, _ := url.Parse(e.regSrv.URL)
	repo, err := orasremote.NewRepository(u.Host + "/" + name)
	if err != nil {
		e.t.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{Credential: auth.StaticCredential(u.Host, auth.Credential{AccessToken: e.pub.Token})}
	return repo
}

// pushUnsigned pushes a theme folder to the registry without signing it.
func pushUnsigned(t *testing.T, e *updateEnv, dir string) {
	t.Helper()
	th, err := ocipkg.ReadTheme(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ocipkg.PackThemeTo(context.Background(), dir, e.remoteRepo("themes/"+th.Meta.Name)); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(t testing.TB, d ocispec.Descriptor) string {
	t.Helper()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestValidateThemeSyntax(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"good", nil, ""},
		{"unknown function is fine", map[string]string{"a.html": `{{t "Home"}}`}, ""},
		{"unclosed if", map[string]string{"layout.html": `{{if .}}`}, "does not parse"},
		{"bad action", map[string]string{"partials/x.html": `{{.Foo`}, "does not parse"},
		{"bad theme.json", map[string]string{"theme.json": `{"name":"x"}`}, "version"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeThemeDir(t, t.TempDir(), "sunrise", "1.0.0", tc.files)
			err := ValidateThemeSyntax(os.DirFS(dir))
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

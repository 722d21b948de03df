package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/websonic/websonic/deploy"
	"github.com/websonic/websonic/internal/publish"
	"github.com/websonic/websonic/internal/signing"
	"github.com/websonic/websonic/internal/tufrepo"
	registry "github.com/websonic/websonic/registry/server"
	"github.com/websonic/websonic/runtime/server"
	"github.com/websonic/websonic/sdk/manifest"
)

// devPassword encrypts the keys `websonic dev` generates. They sign
// nothing but this machine's development registry.
const devPassword = "websonic-dev-only"

// devRun is `make run`: a local registry, development keys made on first
// run, the module packages in --modules published to it, and a runtime
// that installs them from it — the production path, on one machine. While
// one runs on the data folder, a second run publishes the packages to its
// registry and waits for the site to install them (devPublish): that is
// the update loop of the README.
func devRun(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("dev", stdout, stderr)
	var c common
	c.register(fs.FlagSet, "info")
	addr := fs.String("addr", env("WEBSONIC_ADDR", "127.0.0.1:8080"), "the site's listen address (WEBSONIC_ADDR)")
	adminAddr := fs.String("admin-addr", env("WEBSONIC_ADMIN_ADDR", "127.0.0.1:8081"), "the admin area's listen address, an origin of its own; empty: none (WEBSONIC_ADMIN_ADDR)")
	regAddr := fs.String("registry-addr", env("WEBSONIC_REGISTRY_ADDR", "127.0.0.1:8090"), "the local registry's listen address (WEBSONIC_REGISTRY_ADDR)")
	modules := fs.String("modules", "build/modules", "folder of module packages to publish and install (make modules)")
	wait := fs.Duration("wait", 2*time.Minute, "when a dev already runs: how long to wait for its site to install what this run published")
	if err := fs.parse(args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	dir := devDir(c.dataDir)
	if err := os.MkdirAll(dir, 0o755); err != nil { // the registry's PostgreSQL user must reach its folder
		return fmt.Errorf("dev: %w", err)
	}
	lock, err := lockFile(filepath.Join(dir, "dev.lock"))
	if errors.Is(err, errLocked) {
		return devPublish(ctx, log, &c, dir, *modules, *wait, stdout)
	}
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	defer lock.Close()
	if _, err := os.Stat(filepath.Join(c.dataDir, "site", "postgres", "data")); err == nil {
		log.Warn("an earlier `make run` kept its site in " + filepath.Join(c.dataDir, "site") + "; the site now lives in " + c.dataDir +
			" itself (where `websonic admin create` and `websonic module …` look): delete the old folders to start afresh")
	}
	keysDir := filepath.Join(dir, "keys")
	log.Warn("development mode: keys under " + keysDir + " are encrypted with a fixed password and must never sign a release for clients")

	// The registry, with its online keys.
	var online tufrepo.Keys
	for _, r := range []struct {
		name string
		role *tufrepo.Role
	}{{"snapshot", &online.Snapshot}, {"timestamp", &online.Timestamp}} {
		s, _, err := signing.LoadOrGenerate(filepath.Join(dir, "registry", "keys"), r.name, signing.Ed25519, []byte(devPassword))
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		r.role.Signers = []signature.Signer{s}
	}
	reg, err := registry.Open(ctx, registry.Config{
		Addr: *regAddr, DataDir: filepath.Join(dir, "registry"), OnlineKeys: online, Logger: log.Named("registry"),
		// As `websonic registry serve`: unstamped, the download page's
		// command passes --root-sha256.
		InstallScript: deploy.InstallScript,
	})
	if err != nil {
		return err
	}
	defer reg.Close(context.Background())
	ln, err := net.Listen("tcp", *regAddr)
	if err != nil {
		return fmt.Errorf("dev: registry: %w", err)
	}
	regCtx, stopReg := context.WithCancel(context.Background())
	regDone := make(chan error, 1)
	go func() { regDone <- reg.Serve(regCtx, ln) }()
	defer func() { stopReg(); <-regDone }()
	regURL := "http://" + ln.Addr().String()

	// The publisher: keys, token and root, made once.
	keys, err := devKeys(keysDir, log)
	if err != nil {
		return err
	}
	tokenFile := filepath.Join(keysDir, "token")
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t, _, err := reg.Publishers().CreateToken(ctx, registry.TokenSpec{Publisher: "dev", Modules: []string{"*"}, Admin: true})
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		if err := os.WriteFile(tokenFile, []byte(t), 0o600); err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		token = []byte(t)
	}
	pub := &publish.Publisher{Registry: regURL, Token: string(token), Keys: keys, CacheDir: filepath.Join(dir, "publisher")}
	rootPath := filepath.Join(keysDir, rootFile)
	root, err := os.ReadFile(rootPath)
	if err != nil {
		if root, err = pub.Init(ctx); err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		if err := os.WriteFile(rootPath, root, 0o644); err != nil {
			return fmt.Errorf("dev: %w", err)
		}
	}
	pub.Root = root
	names, _, err := devPublishAll(ctx, log, pub, *modules)
	if err != nil {
		return err
	}

	// The runtime, installing from the registry.
	srv, err := server.Open(ctx, server.Config{
		Addr: *addr, AdminAddr: *adminAddr, DataDir: c.dataDir, DatabaseURL: c.databaseURL,
		Registry: regURL, TrustedRoot: root, Logger: log,
		PlainLoopbackRegistry: true, // development only: the registry is on loopback
		ApproveLocalModules:   true, // development: no local module waits for approval
	})
	if err != nil {
		return err
	}
	for _, name := range names {
		if _, ok := srv.Running(name); ok {
			continue
		}
		if rel, err := srv.Updater().Install(ctx, name, "", tufrepo.ChannelStable, "auto"); err != nil {
			log.Error("install failed", "module", name, "error", err)
		} else {
			log.Info("installed from the registry", "module", rel.String())
		}
	}
	siteLn, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Close(context.Background())
		return fmt.Errorf("dev: site: %w", err)
	}
	siteURL := "http://" + siteLn.Addr().String()
	state, _ := json.Marshal(devState{Registry: regURL, Site: siteURL})
	if err := os.WriteFile(filepath.Join(dir, devStateFile), state, 0o644); err != nil {
		srv.Close(context.Background())
		return fmt.Errorf("dev: %w", err)
	}
	defer os.Remove(filepath.Join(dir, devStateFile))
	adminURL := "(none: --admin-addr is empty)"
	if *adminAddr != "" {
		adminURL = "http://" + *adminAddr + "/admin/ (sign in as an admin: bin/websonic admin create --username NAME)"
	}
	fmt.Fprintf(stdout, "site:     %s\nadmin:    %s\nregistry: %s\nmodules:  %s\nto publish a change: bump the module's version in its module.json, then `make run` again (in another terminal)\n",
		siteURL, adminURL, regURL, strings.Join(names, ", "))
	err = srv.Serve(ctx, siteLn)
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(err, srv.Close(cctx))
}

// devState is what a running `websonic dev` tells a second run, in
// DEV/dev.json.
type devState struct {
	Registry string `json:"registry"`
	Site     string `json:"site"`
}

const devStateFile = "dev.json"

// devKeys loads (or makes, on the first run) the development root and
// targets keys.
func devKeys(keysDir string, log hclog.Logger) (tufrepo.Keys, error) {
	var keys tufrepo.Keys
	for _, r := range []struct {
		name string
		role *tufrepo.Role
	}{{rootKeyName, &keys.Root}, {targetsKeyName, &keys.Targets}} {
		s, created, err := signing.LoadOrGenerate(keysDir, r.name, signing.Ed25519, []byte(devPassword))
		if err != nil {
			return keys, fmt.Errorf("dev: %w", err)
		}
		if created {
			log.Info("generated a development key", "role", r.name, "dir", keysDir)
		}
		r.role.Signers = []signature.Signer{s}
	}
	return keys, nil
}

// devPublishAll publishes every package in modules (a version already
// published is kept: bump the version to publish a change). It returns
// the names of all and the releases it published.
func devPublishAll(ctx context.Context, log hclog.Logger, pub *publish.Publisher, modules string) ([]string, []*tufrepo.Release, error) {
	entries, err := os.ReadDir(modules)
	if err != nil {
		return nil, nil, fmt.Errorf("dev: --modules: %w (run make modules)", err)
	}
	var names []string
	var published []*tufrepo.Release
	for _, en := range entries {
		pkg := filepath.Join(modules, en.Name())
		raw, err := os.ReadFile(filepath.Join(pkg, manifest.FileName))
		if !en.IsDir() || err != nil {
			continue
		}
		m, err := manifest.Decode(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("dev: %s: %w", filepath.Join(pkg, manifest.FileName), err)
		}
		names = append(names, m.Name)
		rel, err := pub.Publish(ctx, pkg, tufrepo.ChannelStable)
		switch {
		case err == nil:
			log.Info("published", "module", rel.String(), "digest", rel.ManifestDigest)
			published = append(published, rel)
		case errors.Is(err, tufrepo.ErrExists):
			log.Info("already published; bump its version to publish a change", "module", m.Name+"@"+m.Version)
		default:
			return nil, nil, fmt.Errorf("dev: publish %s: %w", m.Name, err)
		}
	}
	return names, published, nil
}

// devPublish is a second `websonic dev` while one runs on the same data
// folder: it publishes the packages to the running registry and waits up
// to wait for the running site to install them (it follows the registry's
// watch stream), saying what became of each.
func devPublish(ctx context.Context, log hclog.Logger, c *common, dir, modules string, wait time.Duration, stdout io.Writer) error {
	raw, err := os.ReadFile(filepath.Join(dir, devStateFile))
	var st devState
	if err == nil {
		err = json.Unmarshal(raw, &st)
	}
	if err != nil {
		return fmt.Errorf("dev: a `websonic dev` is running on %s (it holds %s) but is not ready yet, or did not record its addresses: %w",
			c.dataDir, filepath.Join(dir, "dev.lock"), err)
	}
	log.Info("a dev is already running on this data folder: publishing to its registry", "registry", st.Registry, "site", st.Site)
	keysDir := filepath.Join(dir, "keys")
	keys, err := devKeys(keysDir, log)
	if err != nil {
		return err
	}
	token, err := os.ReadFile(filepath.Join(keysDir, "token"))
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	root, err := os.ReadFile(filepath.Join(keysDir, rootFile))
	if err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	pub := &publish.Publisher{Registry: st.Registry, Token: string(token), Keys: keys, Root: root, CacheDir: filepath.Join(dir, "publisher")}
	_, published, err := devPublishAll(ctx, log, pub, modules)
	if err != nil {
		return err
	}
	if len(published) == 0 {
		fmt.Fprintf(stdout, "nothing new to publish: bump a module's version in its module.json, then `make run` again\nsite: %s\n", st.Site)
		return nil
	}
	console, err := c.console(ctx, "dev", log)
	if err != nil {
		return err
	}
	defer console.Close()
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for len(published) > 0 {
		ins, evs, err := console.Installed(wctx, 50)
		if err != nil && wctx.Err() == nil {
			return fmt.Errorf("dev: %w", err)
		}
		published = slices.DeleteFunc(published, func(rel *tufrepo.Release) bool {
			for _, in := range ins {
				if in.Name == rel.Module && in.Version == rel.Version {
					fmt.Fprintf(stdout, "%s is live on %s\n", rel, st.Site)
					return true
				}
			}
			for _, e := range evs {
				if e.Module != rel.Module || e.To != rel.Version {
					continue
				}
				switch e.Outcome {
				case "staged":
					fmt.Fprintf(stdout, "%s is published and waits for your approval (%s): bin/websonic module approve %s\n", rel, e.Reason, rel.Module)
					return true
				case "available":
					fmt.Fprintf(stdout, "%s is published; the site only notes it (policy notify): bin/websonic module install %s\n", rel, rel)
					return true
				case "failed":
					fmt.Fprintf(stdout, "%s is published but the site could not install it: %s\n", rel, e.Reason)
					return true
				}
			}
			return false
		})
		if len(published) == 0 {
			break
		}
		select {
		case <-wctx.Done():
			var left []string
			for _, rel := range published {
				left = append(left, rel.String())
			}
			return fmt.Errorf("dev: published %s, but the site did not install it within %s (is its policy pinned? see `websonic module list`)",
				strings.Join(left, ", "), wait)
		case <-tick.C:
		}
	}
	return nil
}

// errLocked: another process holds the lock.
var errLocked = errors.New("locked by another process")

// lockFile takes an exclusive lock on path (created if needed), held
// until the file is closed or the process ends; errLocked when another
// process holds it.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, err
	}
	return f, nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"

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
// that installs them from it — the production path, on one machine.
func devRun(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	addr := fs.String("addr", env("WEBSONIC_ADDR", "127.0.0.1:8080"), "the site's listen address (WEBSONIC_ADDR)")
	regAddr := fs.String("registry-addr", env("WEBSONIC_REGISTRY_ADDR", "127.0.0.1:8090"), "the local registry's listen address (WEBSONIC_REGISTRY_ADDR)")
	modules := fs.String("modules", "build/modules", "folder of module packages to publish and install (make modules)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	dir := c.dataDir
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
	var keys tufrepo.Keys
	for _, r := range []struct {
		name string
		role *tufrepo.Role
	}{{rootKeyName, &keys.Root}, {targetsKeyName, &keys.Targets}} {
		s, created, err := signing.LoadOrGenerate(keysDir, r.name, signing.Ed25519, []byte(devPassword))
		if err != nil {
			return fmt.Errorf("dev: %w", err)
		}
		if created {
			log.Info("generated a development key", "role", r.name, "dir", keysDir)
		}
		r.role.Signers = []signature.Signer{s}
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

	// Publish every package (a version already published is kept: bump the
	// version to publish a change).
	entries, err := os.ReadDir(*modules)
	if err != nil {
		return fmt.Errorf("dev: %w (run make modules)", err)
	}
	var names []string
	for _, en := range entries {
		pkg := filepath.Join(*modules, en.Name())
		raw, err := os.ReadFile(filepath.Join(pkg, manifest.FileName))
		if !en.IsDir() || err != nil {
			continue
		}
		m, err := manifest.Decode(raw)
		if err != nil {
			return fmt.Errorf("dev: %s: %w", pkg, err)
		}
		names = append(names, m.Name)
		rel, err := pub.Publish(ctx, pkg, tufrepo.ChannelStable)
		switch {
		case err == nil:
			log.Info("published", "module", rel.String(), "digest", rel.ManifestDigest)
		case errors.Is(err, tufrepo.ErrExists):
			log.Info("already published; bump its version to publish a change", "module", m.Name+"@"+m.Version)
		default:
			return fmt.Errorf("dev: publish %s: %w", m.Name, err)
		}
	}

	// The runtime, installing from the registry.
	srv, err := server.Open(ctx, server.Config{
		Addr: *addr, DataDir: filepath.Join(dir, "site"), DatabaseURL: c.databaseURL,
		Registry: regURL, TrustedRoot: root, Logger: log,
		PlainLoopbackRegistry: true, // development only: the registry is on loopback
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
	fmt.Fprintf(stdout, "site:     http://%s\nregistry: %s\nmodules:  %s\n", *addr, regURL, strings.Join(names, ", "))
	err = srv.ListenAndServe(ctx)
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(err, srv.Close(cctx))
}

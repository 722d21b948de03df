package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/websonic/websonic/deploy"
	"github.com/websonic/websonic/internal/bytesize"
	"github.com/websonic/websonic/internal/clientaddr"
	"github.com/websonic/websonic/internal/signing"
	"github.com/websonic/websonic/internal/tufrepo"
	registry "github.com/websonic/websonic/registry/server"
)

// registryFlags are the flags every registry command shares.
type registryFlags struct {
	dataDir, databaseURL, logLevel string
	logJSON                        bool
}

func (c *registryFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", env("WEBSONIC_REGISTRY_DATA_DIR", "registry-data"), "data directory: embedded PostgreSQL, blobs, online keys (WEBSONIC_REGISTRY_DATA_DIR)")
	fs.StringVar(&c.databaseURL, "database-url", env("WEBSONIC_REGISTRY_DATABASE_URL", ""), "PostgreSQL URL; empty starts a private embedded PostgreSQL under the data directory (WEBSONIC_REGISTRY_DATABASE_URL)")
	fs.StringVar(&c.logLevel, "log-level", env("WEBSONIC_LOG_LEVEL", "info"), "trace, debug, info, warn or error (WEBSONIC_LOG_LEVEL)")
	fs.BoolVar(&c.logJSON, "log-json", env("WEBSONIC_LOG_JSON", "") == "true", "log JSON lines (WEBSONIC_LOG_JSON=true)")
}

func (c *registryFlags) logger(w io.Writer) (hclog.Logger, error) {
	cc := common{logLevel: c.logLevel, logJSON: c.logJSON}
	l, err := cc.logger(w)
	if err != nil {
		return nil, err
	}
	return l.Named("registry"), nil
}

func registryServe(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("registry serve", stdout, stderr)
	var c registryFlags
	c.register(fs.FlagSet)
	addr := fs.String("addr", env("WEBSONIC_REGISTRY_ADDR", "127.0.0.1:8090"), "listen address (WEBSONIC_REGISTRY_ADDR)")
	keysDir := fs.String("keys-dir", env("WEBSONIC_ONLINE_KEY_DIR", ""), "folder of the online snapshot.key and timestamp.key, created on first start (default DATA-DIR/keys) (WEBSONIC_ONLINE_KEY_DIR)")
	private := fs.Bool("private-pulls", env("WEBSONIC_PRIVATE_PULLS", "") == "true", "require a token to pull (WEBSONIC_PRIVATE_PULLS=true)")
	tf := registerTLS(fs.FlagSet, "WEBSONIC_REGISTRY_", false)
	publicURL := fs.String("public-url", env("WEBSONIC_REGISTRY_PUBLIC_URL", ""), "the registry's URL as clients reach it, e.g. https://registry.example: the realm of login challenges (default: with HTTPS, https:// and the name its certificate is for, the first --acme-domains name or --tls-cert's first name, localhost when self-signed, with ADDR's port unless 443; else http://ADDR) (WEBSONIC_REGISTRY_PUBLIC_URL)")
	quota := fs.String("publisher-quota", env("WEBSONIC_REGISTRY_PUBLISHER_QUOTA", "10GiB"), "bytes each publisher may store (blobs, manifests, uploads in progress), e.g. 500MiB, 10GiB; -1 for no limit (WEBSONIC_REGISTRY_PUBLISHER_QUOTA)")
	noDelete := fs.Bool("disable-delete", env("WEBSONIC_REGISTRY_DISABLE_DELETE", "") == "true", "refuse DELETE of manifests, tags and blobs (WEBSONIC_REGISTRY_DISABLE_DELETE=true)")
	proxies := fs.String("trusted-proxies", env("WEBSONIC_REGISTRY_TRUSTED_PROXIES", ""), "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For names the client, for per-client limits (WEBSONIC_REGISTRY_TRUSTED_PROXIES)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := tf.load(c.dataDir); err != nil {
		return fmt.Errorf("registry serve: %w", err)
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	trusted, err := clientaddr.ParsePrefixes(*proxies)
	if err != nil {
		return fmt.Errorf("registry serve: --trusted-proxies: %w", err)
	}
	quotaBytes := int64(-1) // no limit
	if q := strings.TrimSpace(*quota); q != "-1" {
		if quotaBytes, err = bytesize.Parse(q); err != nil || quotaBytes <= 0 {
			return fmt.Errorf("registry serve: --publisher-quota: %q is not a size (e.g. 500MiB, 10GiB, or -1 for no limit)", q)
		}
	}
	ln, err := listen("registry serve", *addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if *keysDir == "" {
		*keysDir = filepath.Join(c.dataDir, "keys")
	}
	password, err := readPassword(stdin, stderr, "WEBSONIC_ONLINE_KEY_PASSWORD", "registry serve")
	if err != nil {
		return err
	}
	var online tufrepo.Keys
	for _, r := range []struct {
		name string
		role *tufrepo.Role
	}{{"snapshot", &online.Snapshot}, {"timestamp", &online.Timestamp}} {
		s, created, err := signing.LoadOrGenerate(*keysDir, r.name, signing.Ed25519, []byte(password))
		if err != nil {
			return fmt.Errorf("registry serve: online %s key: %w", r.name, err)
		}
		if created {
			log.Warn("generated an online key: back it up; the publisher's root lists it", "role", r.name, "dir", *keysDir)
		}
		r.role.Signers = []signature.Signer{s}
	}
	ctx, stop := signalContext()
	defer stop()
	srv, err := registry.Open(ctx, registry.Config{
		Addr: *addr, DataDir: c.dataDir, DatabaseURL: c.databaseURL, OnlineKeys: online, PrivatePulls: *private, Logger: log,
		TLS:       tf.tls,
		PublicURL: *publicURL, TrustedProxies: trusted, PublisherQuota: quotaBytes, DisableDelete: *noDelete,
		// Unstamped: the download page's command passes --root-sha256,
		// so the pin is always in sight of whoever runs it.
		InstallScript: deploy.InstallScript,
	})
	if err != nil {
		return err
	}
	err = srv.Serve(ctx, ln)
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(err, srv.Close(cctx))
}

func registryToken(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("registry token", stdout, stderr)
	var c registryFlags
	c.register(fs.FlagSet)
	publisher := fs.String("publisher", "", "publisher account name, created if new: required")
	modules := fs.String("modules", "", "comma-separated module names the token may publish, or * for all modules and themes")
	themes := fs.String("themes", "", "comma-separated theme names the token may publish (scopes theme:<name>)")
	admin := fs.Bool("admin", false, "the token may also sign in a new root (websonic keys init or rotate)")
	ttl := fs.Duration("ttl", 0, "lifetime, e.g. 2160h; 0 never expires")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *publisher == "" || (*modules == "" && *themes == "") {
		return errors.New("registry token: --publisher and --modules or --themes are required")
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	acc, err := registry.OpenAccounts(ctx, registry.Config{DataDir: c.dataDir, DatabaseURL: c.databaseURL, Logger: log})
	if err != nil {
		return fmt.Errorf("registry token: %w", err)
	}
	defer acc.Close()
	var mods []string
	for _, m := range strings.Split(*modules, ",") {
		if m = strings.TrimSpace(m); m != "" {
			mods = append(mods, m)
		}
	}
	for _, t := range strings.Split(*themes, ",") {
		if t = strings.TrimSpace(t); t != "" {
			mods = append(mods, registry.ThemeScope+t)
		}
	}
	token, id, err := acc.CreateToken(ctx, registry.TokenSpec{Publisher: *publisher, Modules: mods, Admin: *admin, TTL: *ttl})
	if err != nil {
		return fmt.Errorf("registry token: %w", err)
	}
	fmt.Fprintf(stderr, "token %d for %s (modules %s, admin %t): shown once, store it now\n", id, *publisher, strings.Join(mods, ","), *admin)
	fmt.Fprintln(stdout, token)
	return nil
}

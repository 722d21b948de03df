package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"oras.land/oras-go/v2/content/memory"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/publish"
	"github.com/websonic/websonic/internal/signing"
	"github.com/websonic/websonic/internal/tufrepo"
)

// The publisher's key folder holds root.key and targets.key (encrypted,
// from `websonic keys generate --name root|targets`) and root.json, the
// repository's current root, which runtimes pin.
const (
	rootKeyName    = "root"
	targetsKeyName = "targets"
	rootFile       = "root.json"
)

// publisherFlags are the flags of the publisher's commands.
type publisherFlags struct {
	registry, token, keys, cache, ca string
	password                         string // read once, for every key
}

func (p *publisherFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&p.registry, "registry", env("WEBSONIC_REGISTRY", "http://127.0.0.1:8090"), "registry URL (WEBSONIC_REGISTRY)")
	fs.StringVar(&p.token, "token", env("WEBSONIC_REGISTRY_TOKEN", ""), "publisher token, as printed by websonic registry token (WEBSONIC_REGISTRY_TOKEN)")
	fs.StringVar(&p.keys, "keys", env("WEBSONIC_KEY_DIR", ""), "folder with root.key, targets.key and root.json (WEBSONIC_KEY_DIR)")
	fs.StringVar(&p.cache, "cache-dir", env("WEBSONIC_CACHE_DIR", ""), "where the verified registry metadata is kept (default: a folder under the user cache dir)")
	fs.StringVar(&p.ca, "registry-ca", env("WEBSONIC_REGISTRY_CA", ""), "PEM file of the only CAs trusted for the registry's certificate (default: the system's) (WEBSONIC_REGISTRY_CA)")
}

// client checks the registry URL and returns the HTTP client to reach it:
// over TLS only — the token and the keys' trust go over this connection —
// but for a loopback address in development; with --registry-ca, trusting
// only those CAs.
func (p *publisherFlags) client(cmd string) (*http.Client, error) {
	u, err := url.Parse(p.registry)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%s: --registry %q: want https://host[:port]", cmd, p.registry)
	}
	if u.Scheme == "http" && !isLoopbackHost(u.Hostname()) {
		return nil, fmt.Errorf("%s: --registry %q: the registry is reached over HTTPS only (plain HTTP only to a loopback address, in development): the token would cross the network in clear", cmd, p.registry)
	}
	if p.ca == "" {
		return http.DefaultClient, nil
	}
	b, err := os.ReadFile(p.ca)
	if err != nil {
		return nil, fmt.Errorf("%s: --registry-ca: %w", cmd, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%s: --registry-ca %s: no PEM certificate in it", cmd, p.ca)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// isLoopbackHost reports whether host names this machine.
func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// publisher loads the keys (password from WEBSONIC_KEY_PASSWORD or
// stdin) and the pinned root, if any.
func (p *publisherFlags) publisher(stdin io.Reader, stderr io.Writer, cmd string, needRoot bool) (*publish.Publisher, error) {
	if p.keys == "" {
		return nil, fmt.Errorf("%s: --keys is required", cmd)
	}
	if p.token == "" {
		return nil, fmt.Errorf("%s: --token (or WEBSONIC_REGISTRY_TOKEN) is required", cmd)
	}
	if p.password == "" {
		pw, err := readPassword(stdin, stderr, "WEBSONIC_KEY_PASSWORD", cmd)
		if err != nil {
			return nil, err
		}
		p.password = pw
	}
	keys, err := loadOfflineKeys(p.keys, p.password, cmd)
	if err != nil {
		return nil, err
	}
	hc, err := p.client(cmd)
	if err != nil {
		return nil, err
	}
	pub := &publish.Publisher{Registry: p.registry, Token: p.token, Keys: keys, CacheDir: p.cache, HTTPClient: hc}
	if needRoot {
		if pub.Root, err = os.ReadFile(filepath.Join(p.keys, rootFile)); err != nil {
			return nil, fmt.Errorf("%s: no pinned root: %w (run `websonic keys init` first)", cmd, err)
		}
	}
	if pub.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		host := strings.NewReplacer("://", "_", "/", "_", ":", "_").Replace(p.registry)
		pub.CacheDir = filepath.Join(base, "websonic", "tuf-"+host)
	}
	return pub, nil
}

// registryError is err of command cmd, told as what went wrong with the
// registry when that is the cause, rather than as whatever the failed step
// was (a root that "does not verify"): a registry that did not answer
// (unreachable), one whose certificate is not trusted (pin its CA), one
// whose login challenge the OCI client refuses (its --public-url).
func (p *publisherFlags) registryError(cmd string, err error) error {
	var ue *url.Error
	var de *metadata.ErrDownload // what go-tuf makes of a transport error
	var cve *tls.CertificateVerificationError
	var uae x509.UnknownAuthorityError
	var he x509.HostnameError
	switch {
	case errors.As(err, &cve) || errors.As(err, &uae) || errors.As(err, &he) ||
		errors.As(err, &de) && strings.Contains(de.Msg, "x509: "):
		return fmt.Errorf("%s: the registry at %s answered, but its certificate is not trusted: pin the CA that issued it with --registry-ca FILE (WEBSONIC_REGISTRY_CA), or reach the registry by a name its certificate is for: %w", cmd, p.registry, err)
	case strings.Contains(err.Error(), "bearer realm"):
		// oras-go refuses a realm on another host than the registry's
		// that is, or resolves to, a loopback or private address.
		return fmt.Errorf("%s: the registry at %s asks clients to log in at %s, where the OCI client will not send the token (another host, and not a public one): start the registry with --public-url %s, the URL you reach it by (or use the URL it names): %w",
			cmd, p.registry, p.realm(), p.registry, err)
	case errors.As(err, &ue):
		return fmt.Errorf("%s: the registry at %s is unreachable (--registry, WEBSONIC_REGISTRY): %w", cmd, p.registry, ue)
	case errors.As(err, &de):
		return fmt.Errorf("%s: the registry at %s is unreachable (--registry, WEBSONIC_REGISTRY): %s", cmd, p.registry, de.Msg)
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// realm is the login endpoint the registry's challenge names, from an
// anonymous GET /v1/token; "its login realm" when it cannot be read.
func (p *publisherFlags) realm() string {
	const unknown = "its login realm"
	hc, err := p.client("realm")
	if err != nil {
		return unknown
	}
	resp, err := hc.Get(strings.TrimSuffix(p.registry, "/") + "/v1/token")
	if err != nil {
		return unknown
	}
	resp.Body.Close()
	m := realmRE.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if m == nil {
		return unknown
	}
	return m[1]
}

var realmRE = regexp.MustCompile(`realm="([^"]*)"`)

func loadOfflineKeys(dir, password, cmd string) (tufrepo.Keys, error) {
	var signers [2]signature.Signer
	for i, name := range []string{rootKeyName, targetsKeyName} {
		path := filepath.Join(dir, name+".key")
		s, err := signing.LoadFile(path, []byte(password))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return tufrepo.Keys{}, fmt.Errorf("%s: %s does not exist: create it with `websonic keys generate --out %s --name %s`", cmd, path, dir, name)
		case errors.Is(err, signing.ErrWrongPassword):
			return tufrepo.Keys{}, fmt.Errorf("%s: %s: wrong password: the password (WEBSONIC_KEY_PASSWORD, or the one typed) does not decrypt this key", cmd, path)
		case err != nil:
			return tufrepo.Keys{}, fmt.Errorf("%s: %w", cmd, err)
		}
		signers[i] = s
	}
	return tufrepo.Keys{
		Root:    tufrepo.Role{Signers: []signature.Signer{signers[0]}},
		Targets: tufrepo.Role{Signers: []signature.Signer{signers[1]}},
	}, nil
}

func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
}

func keysInit(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys init", stdout, stderr)
	var p publisherFlags
	p.register(fs.FlagSet)
	if err := fs.parse(args); err != nil {
		return err
	}
	pub, err := p.publisher(stdin, stderr, "keys init", false)
	if err != nil {
		return err
	}
	out := filepath.Join(p.keys, rootFile)
	if _, err := os.Stat(out); err == nil {
		return fmt.Errorf("keys init: %s exists: this repository is initialized (use `websonic keys rotate` to change keys)", out)
	}
	ctx, stop := signalContext()
	defer stop()
	root, err := pub.Init(ctx)
	if err != nil {
		return p.registryError("keys init", err)
	}
	if err := os.WriteFile(out, root, 0o644); err != nil {
		return fmt.Errorf("keys init: the registry accepted the root but it could not be saved: %w", err)
	}
	fmt.Fprintf(stdout, "root version 1 signed and sent to %s\npinned root: %s (give it to runtimes: websonic serve --trusted-root %s)\n", p.registry, out, out)
	return nil
}

func keysRotate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys rotate", stdout, stderr)
	var p publisherFlags
	p.register(fs.FlagSet)
	newKeys := fs.String("new-keys", "", "folder with the new root.key and targets.key (same password): required")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *newKeys == "" {
		return errors.New("keys rotate: --new-keys is required")
	}
	pub, err := p.publisher(stdin, stderr, "keys rotate", true)
	if err != nil {
		return err
	}
	next, err := loadOfflineKeys(*newKeys, p.password, "keys rotate")
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	root, err := pub.Rotate(ctx, next)
	if err != nil {
		return p.registryError("keys rotate", err)
	}
	out := filepath.Join(*newKeys, rootFile)
	if err := os.WriteFile(out, root, 0o644); err != nil {
		return fmt.Errorf("keys rotate: the registry accepted the new root but it could not be saved: %w", err)
	}
	fmt.Fprintf(stdout, "new root signed by the old and new root keys and sent to %s\nnew root: %s (runtimes follow the rotation on their own)\n", p.registry, out)
	return nil
}

func modulePublish(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("module publish", stdout, stderr)
	var p publisherFlags
	p.register(fs.FlagSet)
	channel := fs.String("channel", env("WEBSONIC_CHANNEL", "stable"), "release channel: stable or beta (WEBSONIC_CHANNEL)")
	dirs, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(dirs) != 1 {
		return errors.New("module publish: want exactly one module folder: websonic module publish DIR --keys KEYS")
	}
	src := dirs[0]
	// Checked first, so that its errors name the author's own file.
	if _, err := readSourceManifest(src); err != nil {
		return fmt.Errorf("module publish: %w", err)
	}
	pub, err := p.publisher(stdin, stderr, "module publish", true)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	pkg := src
	// A source folder is built first; a package folder (with module.wasm)
	// is published as it is.
	if _, err := os.Stat(filepath.Join(pkg, "module.wasm")); err != nil {
		tmp, err := os.MkdirTemp("", "websonic-publish-")
		if err != nil {
			return fmt.Errorf("module publish: %w", err)
		}
		defer os.RemoveAll(tmp)
		pkg = filepath.Join(tmp, "package")
		if err := modbuild.Package(ctx, src, pkg); err != nil {
			return fmt.Errorf("module publish: %w", inSource(err, pkg, src))
		}
	}
	// The package is checked here, before the registry is contacted, so
	// that a bad one is told as the author's error, in the author's terms.
	if _, err := ocipkg.PackTo(ctx, pkg, memory.New()); err != nil {
		return fmt.Errorf("module publish: %w", inSource(err, pkg, src))
	}
	rel, err := pub.Publish(ctx, pkg, tufrepo.Channel(*channel))
	if err != nil {
		return p.registryError("module publish", inSource(err, pkg, src))
	}
	fmt.Fprintf(stdout, "published %s on %s\ndigest: %s\n", rel, rel.Channel, rel.ManifestDigest)
	return nil
}

func moduleRevoke(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("module revoke", stdout, stderr)
	var p publisherFlags
	p.register(fs.FlagSet)
	refs, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(refs) != 1 {
		return errors.New("module revoke: want NAME@VERSION")
	}
	name, version, ok := strings.Cut(refs[0], "@")
	if !ok || name == "" || version == "" {
		return fmt.Errorf("module revoke: %q: want NAME@VERSION", refs[0])
	}
	pub, err := p.publisher(stdin, stderr, "module revoke", true)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	if err := pub.Revoke(ctx, name, version); err != nil {
		return p.registryError("module revoke", err)
	}
	fmt.Fprintf(stdout, "revoked %s@%s: runtimes move off it at their next check\n", name, version)
	return nil
}

// Command websonic is Web Sonic in one binary: the runtime each client
// installs, the publisher's tools and the central registry.
//
//	websonic serve [flags]                      run the site
//	websonic admin create [flags]               create an admin account
//	websonic module install NAME[@VERSION]      install a module from the registry
//	websonic module rollback|approve NAME       roll back / approve a staged update
//	websonic module policy NAME                 set a module's update policy and channel
//	websonic module list                        installed modules and update events
//	websonic keys generate [flags]              create a signing key pair
//	websonic keys init [flags]                  sign the registry's first TUF root
//	websonic keys rotate [flags]                rotate the root and targets keys
//	websonic module build DIR [flags]           build a module into an OCI artifact
//	websonic module publish DIR [flags]         push and sign a release
//	websonic module revoke NAME@VERSION         revoke a release
//	websonic registry serve [flags]             run the registry
//	websonic registry token [flags]             create a publisher token
//	websonic dev [flags]                        local registry + runtime (make run)
//
// Run `websonic <command> -h` for a command's flags. Every flag can also be
// set through the environment variable named in its help.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/term"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/signing"
	"github.com/websonic/websonic/runtime/server"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "websonic:", err)
		os.Exit(1)
	}
}

// command runs one subcommand with its arguments.
type command func(args []string, stdin io.Reader, stdout, stderr io.Writer) error

// commands maps "serve", "admin create", "module build", ... to their code.
var commands = map[string]struct {
	run  command
	help string
}{
	"serve":           {func(a []string, _ io.Reader, _, e io.Writer) error { return serve(a, e) }, "run the site"},
	"admin create":    {adminCreate, "create an admin account"},
	"keys generate":   {keysGenerate, "create a signing key pair"},
	"keys init":       {keysInit, "sign the registry's first TUF root with your root and targets keys"},
	"keys rotate":     {keysRotate, "rotate the root and targets keys (signed by the old and new root keys)"},
	"module new":      {moduleNew, "write a new module's folder to start from (NAME [--dir DIR])"},
	"module build":    {func(a []string, _ io.Reader, o, e io.Writer) error { return moduleBuild(a, o, e) }, "build a module into an OCI artifact"},
	"module publish":  {modulePublish, "push a module to the registry and sign its release"},
	"module revoke":   {moduleRevoke, "revoke a release: runtimes move off it"},
	"module install":  {moduleRequest("install"), "install a module from the registry (NAME[@VERSION])"},
	"module rollback": {moduleRequest("rollback"), "return a module to its previous version"},
	"module approve":  {moduleRequest("approve"), "approve the capabilities of a staged update and install it"},
	"module policy":   {moduleRequest("policy"), "set a module's update policy (auto, notify, pinned) and channel"},
	"module list":     {moduleList, "installed modules and recent update events"},
	"registry serve":  {registryServe, "run the registry"},
	"registry token":  {registryToken, "create a publisher token"},
	"dev":             {devRun, "development: a local registry and a runtime installing build/modules from it (make run)"},
}

func usage() string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  websonic %-16s %s (see websonic %s -h)\n", n, commands[n].help, n)
	}
	return b.String()
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return errors.New("no command")
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage())
		return nil
	}
	if c, ok := commands[args[0]]; ok {
		return c.run(args[1:], stdin, stdout, stderr)
	}
	if len(args) > 1 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c.run(args[2:], stdin, stdout, stderr)
		}
	}
	fmt.Fprint(stderr, usage())
	if len(args) > 1 {
		return fmt.Errorf("unknown command %q", args[0]+" "+args[1])
	}
	return fmt.Errorf("unknown command %q", args[0])
}

// common are the flags every command shares.
type common struct {
	dataDir, databaseURL, logLevel string
	logJSON                        bool
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.dataDir, "data-dir", env("WEBSONIC_DATA_DIR", "data"), "data directory: embedded PostgreSQL, caches (WEBSONIC_DATA_DIR)")
	fs.StringVar(&c.databaseURL, "database-url", env("WEBSONIC_DATABASE_URL", ""), "PostgreSQL URL; empty starts a private embedded PostgreSQL under the data directory (WEBSONIC_DATABASE_URL)")
	fs.StringVar(&c.logLevel, "log-level", env("WEBSONIC_LOG_LEVEL", "info"), "trace, debug, info, warn or error (WEBSONIC_LOG_LEVEL)")
	fs.BoolVar(&c.logJSON, "log-json", env("WEBSONIC_LOG_JSON", "") == "true", "log JSON lines (WEBSONIC_LOG_JSON=true)")
}

func (c *common) logger(w io.Writer) (hclog.Logger, error) {
	lvl := hclog.LevelFromString(c.logLevel)
	if lvl == hclog.NoLevel {
		return nil, fmt.Errorf("unknown log level %q", c.logLevel)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "websonic", Level: lvl, Output: w, JSONFormat: c.logJSON}), nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func serve(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c common
	c.register(fs)
	addr := fs.String("addr", env("WEBSONIC_ADDR", "127.0.0.1:8080"), "listen address (WEBSONIC_ADDR)")
	modules := fs.String("modules-dir", env("WEBSONIC_MODULES_DIR", ""), "load local unsigned module builds from this folder, approving all they ask: development only (WEBSONIC_MODULES_DIR)")
	secure := fs.Bool("secure-cookies", env("WEBSONIC_SECURE_COOKIES", "") == "true", "mark session cookies Secure: set when serving over HTTPS (WEBSONIC_SECURE_COOKIES=true)")
	registryURL := fs.String("registry", env("WEBSONIC_REGISTRY", ""), "install and update modules from this registry (WEBSONIC_REGISTRY)")
	pullToken := fs.String("registry-token", env("WEBSONIC_REGISTRY_PULL_TOKEN", ""), "token to pull with, for a registry with --private-pulls (WEBSONIC_REGISTRY_PULL_TOKEN)")
	trustedRoot := fs.String("trusted-root", env("WEBSONIC_TRUSTED_ROOT", ""), "the registry's pinned root.json, from its publisher; used on first start (WEBSONIC_TRUSTED_ROOT)")
	// Web security: proxies, /metrics, login errors (see runtime/server.Config).
	trustedProxies := fs.String("trusted-proxies", env("WEBSONIC_TRUSTED_PROXIES", ""), "comma-separated CIDR prefixes or addresses of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed; empty: none (WEBSONIC_TRUSTED_PROXIES)")
	metricsAddr := fs.String("metrics-addr", env("WEBSONIC_METRICS_ADDR", ""), "also serve /metrics, and only that, on this address for a scraper (e.g. 127.0.0.1:9090); empty: none (WEBSONIC_METRICS_ADDR)")
	metricsToken := fs.String("metrics-token", env("WEBSONIC_METRICS_TOKEN", ""), "bearer token (16+ characters) that may read /metrics on either listener; prefer the environment variable (WEBSONIC_METRICS_TOKEN)")
	genericLogin := fs.Bool("generic-login-errors", env("WEBSONIC_GENERIC_LOGIN_ERRORS", "") == "true", "answer an unknown username and a wrong password with one message (WEBSONIC_GENERIC_LOGIN_ERRORS=true)")
	tf := registerTLS(fs, "WEBSONIC_", true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := tf.load(c.dataDir); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	proxies, err := server.ParseTrustedProxies(*trustedProxies)
	if err != nil {
		return fmt.Errorf("serve: --trusted-proxies: %w", err)
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	var root []byte
	if *registryURL != "" {
		if *trustedRoot == "" {
			return errors.New("serve: --registry needs --trusted-root (the publisher's root.json)")
		}
		if root, err = os.ReadFile(*trustedRoot); err != nil {
			return fmt.Errorf("serve: trusted root: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	srv, err := server.Open(ctx, server.Config{
		Addr: *addr, DataDir: c.dataDir, DatabaseURL: c.databaseURL, ModulesDir: *modules,
		SecureCookies: *secure, Registry: *registryURL, TrustedRoot: root, RegistryToken: *pullToken, Logger: log,
		TrustedProxies: proxies, MetricsAddr: *metricsAddr, MetricsToken: *metricsToken, GenericLoginErrors: *genericLogin,
		TLS: tf.tls, RegistryCA: tf.registryPEM,
	})
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		go func() {
			if err := srv.ListenAndServeMetrics(ctx); err != nil {
				log.Error("metrics listener failed; shutting down", "error", err)
				stop()
			}
		}()
	}
	log.Info("runtime ready", "took", time.Since(start).Round(time.Millisecond), "modules", len(srv.Modules()))
	err = srv.ListenAndServe(ctx)
	log.Info("shutting down")
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(err, srv.Close(cctx))
}

func adminCreate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admin create", flag.ContinueOnError)
	var c common
	c.register(fs)
	username := fs.String("username", "", "the admin's username (required)")
	display := fs.String("display-name", "", "display name (default: the username)")
	email := fs.String("email", "", "email address (optional)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *username == "" {
		return errors.New("admin create: --username is required")
	}
	password, err := readPassword(stdin, stderr, "WEBSONIC_ADMIN_PASSWORD", "admin create")
	if err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := server.Open(ctx, server.Config{DataDir: c.dataDir, DatabaseURL: c.databaseURL, Logger: log.Named("admin")})
	if err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	defer srv.Close(context.Background())
	id, err := srv.CreateAdmin(ctx, *username, *display, *email, password)
	if err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	fmt.Fprintf(stdout, "created admin %q (id %d)\n", *username, id)
	return nil
}

func keysGenerate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", env("WEBSONIC_KEY_DIR", ""), "write NAME.key and NAME.pub into this existing folder: required (WEBSONIC_KEY_DIR)")
	alg := fs.String("algorithm", env("WEBSONIC_KEY_ALGORITHM", string(signing.Ed25519)), "ed25519 or ecdsa-p256 (WEBSONIC_KEY_ALGORITHM)")
	name := fs.String("name", env("WEBSONIC_KEY_NAME", "publisher"), "file name of the key pair, without extension (WEBSONIC_KEY_NAME)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("keys generate: --out is required")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keys generate: unexpected argument %q", fs.Arg(0))
	}
	password, err := readPassword(stdin, stderr, "WEBSONIC_KEY_PASSWORD", "keys generate")
	if err != nil {
		return err
	}
	kp, err := signing.Generate(signing.Algorithm(*alg), []byte(password))
	if err != nil {
		return fmt.Errorf("keys generate: %w", err)
	}
	priv, pub, err := signing.WriteFiles(*out, *name, kp)
	if err != nil {
		return fmt.Errorf("keys generate: %w", err)
	}
	fmt.Fprintf(stdout, "key id:      %s\nalgorithm:   %s\nprivate key: %s (encrypted)\npublic key:  %s\n", kp.KeyID, kp.Algorithm, priv, pub)
	return nil
}

// moduleBuild compiles the module in DIR to wasm and packs it into an OCI
// image layout, tagged with its version.
func moduleBuild(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("module build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", env("WEBSONIC_OCI_LAYOUT", ""), "OCI image layout folder to write the artifact into, created if needed: required (WEBSONIC_OCI_LAYOUT)")
	tag := fs.String("tag", "", "a further tag besides the module's version, e.g. latest")
	dirs, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(dirs) != 1 {
		return errors.New("module build: want exactly one module folder: websonic module build DIR --out LAYOUT")
	}
	if *out == "" {
		return errors.New("module build: --out is required")
	}
	var tags []string
	if *tag != "" {
		tags = append(tags, *tag)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tmp, err := os.MkdirTemp("", "websonic-module-")
	if err != nil {
		return fmt.Errorf("module build: %w", err)
	}
	defer os.RemoveAll(tmp)
	pkg := filepath.Join(tmp, "package")
	if err := modbuild.Package(ctx, dirs[0], pkg); err != nil {
		return fmt.Errorf("module build: %w", err)
	}
	desc, err := ocipkg.Pack(ctx, pkg, *out, tags...)
	if err != nil {
		return fmt.Errorf("module build: %w", err)
	}
	version := desc.Annotations[ocispec.AnnotationVersion]
	fmt.Fprintf(stdout, "module:    %s %s\ndigest:    %s\nreference: %s:%s\n",
		desc.Annotations[ocispec.AnnotationTitle], version, desc.Digest, *out, version)
	for _, t := range tags {
		fmt.Fprintf(stdout, "reference: %s:%s\n", *out, t)
	}
	return nil
}

// readPassword takes the password from the environment variable envVar,
// else asks for it (without echo on a terminal, twice), else reads a line of
// stdin. cmd prefixes its errors.
func readPassword(stdin io.Reader, stderr io.Writer, envVar, cmd string) (string, error) {
	if p, ok := os.LookupEnv(envVar); ok {
		return p, nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		p1, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(stderr, "Repeat password: ")
		p2, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", err
		}
		if string(p1) != string(p2) {
			return "", fmt.Errorf("%s: the passwords differ", cmd)
		}
		return string(p1), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("%s: no password: set %s or type it on standard input", cmd, envVar)
	}
	return strings.TrimRight(line, "\r\n"), nil
}

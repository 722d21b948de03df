// Command websonic is Web Sonic in one binary: the runtime each client
// installs, the publisher's tools and the central registry.
//
//	websonic serve [flags]                      run the site
//	websonic admin create [flags]               create an admin account
//	websonic module install NAME[@VERSION]      install a module from the registry
//	websonic module rollback|approve NAME       roll back / approve a staged update
//	websonic module policy NAME                 set a module's update policy and channel
//	websonic module list                        installed modules and update events
//	websonic exec MODULE [COMMAND [value…] [--arg value]] run a module's admin command
//	websonic jobs                               scheduled jobs, next and last runs
//	websonic keys generate [flags]              create a signing key pair
//	websonic keys init [flags]                  sign the registry's first TUF root
//	websonic keys rotate [flags]                rotate the root and targets keys
//	websonic module build DIR [flags]           build a module into an OCI artifact
//	websonic module publish DIR [flags]         push and sign a release
//	websonic module revoke NAME@VERSION         revoke a release
//	websonic registry serve [flags]             run the registry
//	websonic registry token [flags]             create a publisher token
//	websonic theme build|publish|revoke         a theme's artifact and releases (publisher)
//	websonic theme install|rollback|policy|uninstall|list   the site's themes (owner)
//	websonic dev [flags]                        local registry + runtime (make run)
//	websonic version                            the binary's version (also --version)
//	websonic release build|publish              the runtime's own release (make release)
//
// `websonic <command> -h` shows a command's arguments, flags and the
// environment variables it reads (every flag can also be set through the
// one its help names); `websonic <group> -h` lists a group's verbs.
//
// The site commands (admin create, module install…) act on an existing
// site only: the one in --data-dir (data, where `make run` keeps it too;
// see layout.go) or --database-url. Requests to the running site say
// exactly what became of them (server.Console.Request).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/term"

	"github.com/websonic/websonic/internal/buildinfo"
	"github.com/websonic/websonic/internal/clientaddr"
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

// commandInfo is a command and what its help says.
type commandInfo struct {
	run   command
	args  string            // what follows the command's name, e.g. "NAME[@VERSION] [flags]"
	help  string            // one line
	about string            // more, for its -h ("" for none)
	env   map[string]string // environment variables it reads besides its flags'
}

// commands maps "serve", "admin create", "module build", ... to their
// code and help. It is filled in init: the commands' help reads it.
var commands map[string]commandInfo

const passwordHelp = " (else asked on the terminal, or read from standard input)"

func init() {
	siteEnv := map[string]string{}
	commands = map[string]commandInfo{
		"serve": {serve, "[flags]", "run the site",
			"Serves the site on --addr from the data folder --data-dir (its embedded PostgreSQL, unless --database-url).\n" +
				"With --registry (and --trusted-root) it installs and updates modules from a registry and answers\n" +
				"`websonic module install|rollback|approve|policy`. Every runtime serves the admin area on --admin-addr, runs the\n" +
				"modules' scheduled jobs (`websonic jobs`) and answers `websonic exec` and `websonic user export|erase`.\n" +
				"The limit flags change what sdk/ABI.md section 8 lists, the realtime flags what its section 11.5 lists.", serveEnv(siteEnv)},
		"admin create": {adminCreate, "--username NAME [flags]", "create an admin account on an existing site",
			"Acts on the site in --data-dir (the folder `websonic serve` uses; `make run` uses data), running or not.",
			map[string]string{"WEBSONIC_ADMIN_PASSWORD": "the admin's password" + passwordHelp}},
		"keys generate": {keysGenerate, "--out DIR [flags]", "create a signing key pair",
			"Writes DIR/NAME.key (encrypted with the password) and DIR/NAME.pub; DIR is created (mode 0700) if needed.",
			map[string]string{"WEBSONIC_KEY_PASSWORD": "the password that encrypts the key" + passwordHelp}},
		"keys init": {keysInit, "--keys DIR [flags]", "sign the registry's first TUF root with your root and targets keys", "",
			map[string]string{"WEBSONIC_KEY_PASSWORD": "the keys' password" + passwordHelp}},
		"keys rotate": {keysRotate, "--keys DIR --new-keys DIR [flags]", "rotate the root and targets keys (signed by the old and new root keys)", "",
			map[string]string{"WEBSONIC_KEY_PASSWORD": "the keys' password (old and new keys share it)" + passwordHelp}},
		"module new": {moduleNew, "NAME [flags]", "write a new module's folder to start from",
			"Writes a working module (main.go, module.json, a first migration, a README of next steps, and a go.mod when\n" +
				"DIR is outside this repository); refuses an invalid name or a folder that is not empty.", nil},
		"module build": {func(a []string, _ io.Reader, o, e io.Writer) error { return moduleBuild(a, o, e) }, "DIR --out LAYOUT [flags]",
			"build a module into an OCI artifact", "DIR is the module's source folder (module.json, Go code, migrations/).", nil},
		"module publish": {modulePublish, "DIR [flags]", "push a module to the registry and sign its release",
			"DIR is the module's source folder, or a built package folder (with module.wasm).",
			map[string]string{"WEBSONIC_KEY_PASSWORD": "the keys' password" + passwordHelp}},
		"module revoke": {moduleRevoke, "NAME@VERSION [flags]", "revoke a release: runtimes move off it", "",
			map[string]string{"WEBSONIC_KEY_PASSWORD": "the keys' password" + passwordHelp}},
		"module install": {moduleRequest("install"), "NAME[@VERSION] [flags]", "install a module from the registry",
			"Shows what the release asks for (its capabilities) and asks to confirm (--yes for scripts), then waits\n" +
				"for the running site (any runtime on --data-dir's or --database-url's database) to install exactly that release.", siteEnv},
		"module rollback": {moduleRequest("rollback"), "NAME [flags]", "return a module to its previous, older version",
			"Pins the module at that version until the next `websonic module install NAME`.", siteEnv},
		"module approve": {moduleRequest("approve"), "NAME [flags]", "approve the capabilities of a staged update, or of a local module, and install it",
			"Shows what the staged release (or the local --modules-dir build waiting for approval) asks for beyond what you\n" +
				"approved and asks to confirm (--yes for scripts).", siteEnv},
		"module policy": {moduleRequest("policy"), "NAME --policy POLICY|--channel CHANNEL [flags]", "set a module's update policy (auto, notify, pinned) and channel", "", siteEnv},
		"module uninstall": {moduleUninstall, "NAME [--yes] [flags]", "uninstall a module and delete its data for good",
			"Shows what is dropped (its database schema, role and tables) and asks you to type the module's name (--yes for\n" +
				"scripts); `websonic module export NAME` saves its data first.", siteEnv},
		"module export":    {moduleExport, "NAME [-o FILE] [flags]", "export a running module's data into a zip archive (one JSON file per table)", "", siteEnv},
		"module available": {moduleAvailable, "[flags]", "the modules the registry offers: name, description, versions and channels", "", siteEnv},
		"exec": {execCommand, "[flags] MODULE [COMMAND [value…] [--arg value…]]", "run a module's admin command on the running site (MODULE alone: list its commands)",
			"A runtime serving the site (any replica) runs it and answers: text is printed as it is, a table aligned in columns\n" +
				"(--json for scripts). websonic's flags go before MODULE; the command's arguments follow COMMAND. Audited.", siteEnv},
		"jobs": {jobsList, "[flags]", "the modules' scheduled jobs: schedule, next run, last run, duration, result",
			"Reads the site in --data-dir, running or not. Schedules and times are UTC; a running site runs each tick once\n" +
				"across its replicas. --history N lists each job's newest runs (20 are kept); what a job logs is in the site's log.", siteEnv},
		"module list": {moduleList, "[flags]", "installed modules, their storage, recent update events and the runtimes answering requests", "", siteEnv},
		"module quota": {moduleQuota, "NAME SIZE|default [flags]", "set a module's storage quota (e.g. 2GiB; default: the site's)",
			"A module past its quota loses its database access (its pages that need none keep serving) until the quota\n" +
				"covers what it stores; `websonic module list` shows each module's storage. Running runtimes apply it within seconds.", siteEnv},
		"registry serve": {registryServe, "[flags]", "run the registry", "",
			map[string]string{"WEBSONIC_ONLINE_KEY_PASSWORD": "the password of the online snapshot and timestamp keys" + passwordHelp}},
		"registry token": {registryToken, "--publisher NAME --modules LIST [flags]", "create a publisher token", "", nil},
		"dev": {devRun, "[flags]", "development: a local registry and a runtime installing build/modules from it (make run)",
			"The first run starts a local registry, publishes every package in --modules to it and runs the site, which\n" +
				"installs them from it. Run again while it runs (e.g. after bumping a module's version: `make run`), it publishes\n" +
				"the packages to the running registry, waits for the site to install them, and exits.", nil},
	}
	addUserCommands(commands, siteEnv) // users.go
	addThemeCommands(commands, siteEnv)
	addModuleExtrasCommands(commands, siteEnv)
	addReleaseCommands(commands)           // version.go
	addRuntimeCommands(commands, siteEnv)  // runtimecmd.go
	addSiteMoveCommands(commands, siteEnv) // sitemove.go
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage: websonic COMMAND [arguments] [flags]\n\ncommands:\n")
	width := 0
	var groups []string
	for _, n := range commandNames() {
		width = max(width, len(n))
		if g, _, ok := strings.Cut(n, " "); ok && !slices.Contains(groups, g) {
			groups = append(groups, g)
		}
	}
	for _, n := range commandNames() {
		fmt.Fprintf(&b, "  websonic %-*s %s\n", width, n, commands[n].help)
	}
	b.WriteString("\nwebsonic COMMAND -h shows a command's arguments, flags and environment variables;\n" +
		"websonic GROUP -h (" + strings.Join(groups, ", ") + ") lists a group's verbs.\n")
	return b.String()
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return errors.New("no command")
	}
	if isHelp(args[0]) {
		if len(args) > 1 { // websonic help module install
			return run(append(args[1:], "-h"), stdin, stdout, stderr)
		}
		fmt.Fprint(stdout, usage())
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	name, rest := args[0], args[1:]
	c, ok := commands[name]
	if !ok && len(args) > 1 {
		name, rest = args[0]+" "+args[1], args[2:]
		c, ok = commands[name]
	}
	if !ok {
		switch {
		case isGroup(args[0]) && (len(args) == 1 || isHelp(args[1])):
			if len(args) == 1 {
				fmt.Fprint(stderr, groupUsage(args[0]))
				return fmt.Errorf("%s: which verb?", args[0])
			}
			fmt.Fprint(stdout, groupUsage(args[0]))
			return nil
		case isGroup(args[0]):
			fmt.Fprint(stderr, groupUsage(args[0]))
			return fmt.Errorf("unknown command %q", args[0]+" "+args[1])
		}
		fmt.Fprint(stderr, usage())
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err := c.run(rest, stdin, stdout, stderr); !errors.Is(err, flag.ErrHelp) {
		return err
	}
	return nil // -h: the usage was printed
}

// listen takes a server's listen address before anything else starts
// (a database, a data folder), so that an address another program holds
// fails at once, naming the flag.
func listen(cmd, addr string, listenFn ...func(network, addr string) (net.Listener, error)) (net.Listener, error) {
	l := net.Listen
	if len(listenFn) > 0 {
		l = listenFn[0]
	}
	ln, err := l("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: --addr %s: %w (is another site or registry, `make run`, still running there? stop it or pass another --addr)", cmd, addr, err)
	}
	return ln, nil
}

// common are the flags of the commands that run or act on a site.
type common struct {
	dataDir, databaseURL, logLevel string
	logJSON                        bool
}

// register adds the flags; logLevel is the command's default level.
func (c *common) register(fs *flag.FlagSet, logLevel string) {
	fs.StringVar(&c.dataDir, "data-dir", env("WEBSONIC_DATA_DIR", defaultDataDir), "the site's data folder: embedded PostgreSQL, caches, updates (WEBSONIC_DATA_DIR)")
	fs.StringVar(&c.databaseURL, "database-url", env("WEBSONIC_DATABASE_URL", ""), "the site's PostgreSQL URL; empty: the embedded PostgreSQL under --data-dir (WEBSONIC_DATABASE_URL)")
	fs.StringVar(&c.logLevel, "log-level", env("WEBSONIC_LOG_LEVEL", logLevel), "trace, debug, info, warn or error (WEBSONIC_LOG_LEVEL)")
	fs.BoolVar(&c.logJSON, "log-json", env("WEBSONIC_LOG_JSON", "") == "true", "log JSON lines (WEBSONIC_LOG_JSON=true)")
}

func (c *common) logger(w io.Writer) (hclog.Logger, error) {
	lvl := hclog.LevelFromString(c.logLevel)
	if lvl == hclog.NoLevel {
		return nil, fmt.Errorf("unknown log level %q (want trace, debug, info, warn or error)", c.logLevel)
	}
	return hclog.New(&hclog.LoggerOptions{Name: "websonic", Level: lvl, Output: w, JSONFormat: c.logJSON}), nil
}

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func serve(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", stdout, stderr)
	var c common
	c.register(fs.FlagSet, "info")
	addr := fs.String("addr", env("WEBSONIC_ADDR", "127.0.0.1:8080"), "listen address (WEBSONIC_ADDR)")
	modules := fs.String("modules-dir", env("WEBSONIC_MODULES_DIR", ""), "load local unsigned module builds from this folder; each waits for the owner's approval of what it asks for (admin area, or websonic module approve NAME) unless --dev-approve-local (WEBSONIC_MODULES_DIR)")
	devApprove := fs.Bool("dev-approve-local", env("WEBSONIC_DEV_APPROVE_LOCAL", "") == "true", "approve at once all that the --modules-dir builds ask for: development only (WEBSONIC_DEV_APPROVE_LOCAL=true)")
	secure := fs.Bool("secure-cookies", env("WEBSONIC_SECURE_COOKIES", "") == "true", "always mark session cookies Secure and __Host- (they are on every request that came over HTTPS, directly or through --trusted-proxies): for a TLS proxy that is not in --trusted-proxies (WEBSONIC_SECURE_COOKIES=true)")
	registryURL := fs.String("registry", env("WEBSONIC_REGISTRY", ""), "install and update modules from this registry (WEBSONIC_REGISTRY)")
	pullToken := fs.String("registry-token", env("WEBSONIC_REGISTRY_PULL_TOKEN", ""), "token to pull with, for a registry with --private-pulls (WEBSONIC_REGISTRY_PULL_TOKEN)")
	trustedRoot := fs.String("trusted-root", env("WEBSONIC_TRUSTED_ROOT", ""), "the registry's pinned root.json, from its publisher; used on first start (WEBSONIC_TRUSTED_ROOT)")
	// Web security: proxies, /metrics, login errors (see runtime/server.Config).
	trustedProxies := fs.String("trusted-proxies", env("WEBSONIC_TRUSTED_PROXIES", ""), "comma-separated CIDR prefixes or addresses of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed; empty: none (WEBSONIC_TRUSTED_PROXIES)")
	adminAddr := fs.String("admin-addr", env("WEBSONIC_ADMIN_ADDR", "127.0.0.1:8081"), "serve the admin area on this address, an origin of its own that module scripts cannot drive; empty: no admin area (WEBSONIC_ADMIN_ADDR)")
	metricsAddr := fs.String("metrics-addr", env("WEBSONIC_METRICS_ADDR", ""), "also serve /metrics, and only that, on this address for a scraper (e.g. 127.0.0.1:9090); empty: none (WEBSONIC_METRICS_ADDR)")
	metricsToken := fs.String("metrics-token", env("WEBSONIC_METRICS_TOKEN", ""), "bearer token (16+ characters) that may read /metrics on either listener; prefer the environment variable (WEBSONIC_METRICS_TOKEN)")
	genericLogin := fs.Bool("generic-login-errors", env("WEBSONIC_GENERIC_LOGIN_ERRORS", "") == "true", "answer an unknown username and a wrong password with one message (WEBSONIC_GENERIC_LOGIN_ERRORS=true)")
	tf := registerTLS(fs.FlagSet, "WEBSONIC_", true)
	var lim limits
	lim.register(fs)
	var gr graceful // graceful.go: restarts, self-update
	gr.register(fs)
	var bk serveBackup // servebackup.go
	bk.register(fs)
	if err := fs.parse(args); err != nil {
		return err
	}
	if err := lim.validate(); err != nil {
		return err
	}
	if err := bk.load(); err != nil {
		return err
	}
	if err := tf.load(c.dataDir); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	proxies, err := clientaddr.ParsePrefixes(*trustedProxies)
	if err != nil {
		return fmt.Errorf("serve: --trusted-proxies: %w", err)
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	log.Info("websonic", "version", buildinfo.Version(), "commit", buildinfo.Commit())
	var root []byte
	if *registryURL != "" {
		if *trustedRoot == "" {
			return errors.New("serve: --registry needs --trusted-root (the publisher's root.json)")
		}
		if root, err = os.ReadFile(*trustedRoot); err != nil {
			return fmt.Errorf("serve: --trusted-root: %w", err)
		}
	}
	rs, err := gr.restarter(c.databaseURL, log)
	if err != nil {
		return err
	}
	defer rs.Stop()
	ln, err := listen("serve", *addr, rs.Listen)
	if err != nil {
		return err
	}
	defer ln.Close()
	var mln net.Listener
	if *metricsAddr != "" { // before Ready: a restart hands every listener over
		if mln, err = rs.Listen("tcp", *metricsAddr); err != nil {
			return fmt.Errorf("serve: --metrics-addr %s: %w", *metricsAddr, err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	followRestarts(ctx, rs, stop, log)
	var srv *server.Server
	start := time.Now()
	cfg := server.Config{
		Addr: *addr, DataDir: c.dataDir, DatabaseURL: c.databaseURL, ModulesDir: *modules, ApproveLocalModules: *devApprove,
		SecureCookies: *secure, Registry: *registryURL, TrustedRoot: root, RegistryToken: *pullToken, Logger: log,
		TrustedProxies: proxies, AdminAddr: *adminAddr, MetricsAddr: *metricsAddr, MetricsToken: *metricsToken, GenericLoginErrors: *genericLogin,
		TLS: tf.tls, RegistryCA: tf.registryPEM, SiteKey: env("WEBSONIC_SITE_KEY", ""),
	}
	lim.apply(&cfg)
	bk.apply(&cfg)
	if err := gr.apply(&cfg, rs, buildinfo.Version(), whenReady(ctx, rs, func() *server.Server { return srv }, log)); err != nil {
		return err
	}
	if srv, err = server.Open(ctx, cfg); err != nil {
		return err
	}
	if mln != nil {
		go func() {
			if err := srv.ServeMetrics(ctx, mln); err != nil {
				log.Error("metrics listener failed; shutting down", "error", err)
				stop()
			}
		}()
	}
	log.Info("runtime ready", "took", time.Since(start).Round(time.Millisecond), "modules", len(srv.Modules()))
	err = srv.Serve(ctx, ln)
	log.Info("shutting down")
	cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(err, srv.Close(cctx))
}

func adminCreate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin create"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	username := fs.String("username", "", "the admin's username (required)")
	display := fs.String("display-name", "", "display name (default: the username)")
	email := fs.String("email", "", "email address (optional)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *username == "" {
		return errors.New("admin create: --username is required")
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	password, err := readPassword(stdin, stderr, "WEBSONIC_ADMIN_PASSWORD", cmd)
	if err != nil {
		return err
	}
	id, err := console.CreateAdmin(ctx, *username, *display, *email, password)
	if err != nil {
		return fmt.Errorf("admin create: %w", err)
	}
	fmt.Fprintf(stdout, "created admin %q (id %d) on the site in %s\n", *username, id, c.where())
	return nil
}

func keysGenerate(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("keys generate", stdout, stderr)
	out := fs.String("out", env("WEBSONIC_KEY_DIR", ""), "write NAME.key and NAME.pub into this folder, created (mode 0700) if needed: required (WEBSONIC_KEY_DIR)")
	alg := fs.String("algorithm", env("WEBSONIC_KEY_ALGORITHM", string(signing.Ed25519)), "ed25519 or ecdsa-p256 (WEBSONIC_KEY_ALGORITHM)")
	name := fs.String("name", env("WEBSONIC_KEY_NAME", "publisher"), "file name of the key pair, without extension (WEBSONIC_KEY_NAME)")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("keys generate: --out is required")
	}
	password, err := readPassword(stdin, stderr, "WEBSONIC_KEY_PASSWORD", "keys generate")
	if err != nil {
		return err
	}
	kp, err := signing.Generate(signing.Algorithm(*alg), []byte(password))
	if err != nil {
		return fmt.Errorf("keys generate: %w", err)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fmt.Errorf("keys generate: --out: %w", err)
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
	fs := newFlagSet("module build", stdout, stderr)
	out := fs.String("out", env("WEBSONIC_OCI_LAYOUT", ""), "OCI image layout folder to write the artifact into, created if needed: required (WEBSONIC_OCI_LAYOUT)")
	tag := fs.String("tag", "", "a further tag besides the module's version, e.g. latest")
	dirs, err := fs.parseArgs(args)
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
	ctx, stop := signalContext()
	defer stop()
	src := dirs[0]
	if _, err := readSourceManifest(src); err != nil {
		return fmt.Errorf("module build: %w", err)
	}
	tmp, err := os.MkdirTemp("", "websonic-module-")
	if err != nil {
		return fmt.Errorf("module build: %w", err)
	}
	defer os.RemoveAll(tmp)
	pkg := filepath.Join(tmp, "package")
	if err := modbuild.Package(ctx, src, pkg); err != nil {
		return fmt.Errorf("module build: %w", inSource(err, pkg, src))
	}
	desc, err := ocipkg.Pack(ctx, pkg, *out, tags...)
	if err != nil {
		return fmt.Errorf("module build: %w", inSource(err, pkg, src))
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

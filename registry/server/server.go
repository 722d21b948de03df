// Package server is Web Sonic's registry (DESIGN.md decisions 8 and 12):
// the OCI Distribution API for module, theme and runtime artifacts (and
// the runtime's container image, in runtime/websonic only: see
// acceptManifest), the TUF repository that signs their releases, publisher accounts with scoped
// tokens and an audit log, and the watch stream that tells every runtime
// at once that something new was published.
//
// # Endpoints
//
//	/v2/...                          OCI Distribution API v1.1 (package distribution):
//	                                 pull, push, discovery, content management
//	GET  /v1/tuf/<file>              root.json, <N>.root.json, timestamp.json, snapshot.json,
//	                                 targets.json; ETag + If-None-Match → 304
//	GET  /v1/tuf/targets/modules/<name>/<version>, /v1/tuf/targets/themes/<name>/<version>,
//	     /v1/tuf/targets/runtime/websonic/<version>/<os>-<arch>
//	                                 a release's TUF target: its OCI manifest bytes
//	PUT  /v1/tuf/targets.json        a publisher's signed targets (bearer token)
//	PUT  /v1/tuf/root.json           {"root": ..., "targets": ...}: the first root, or a
//	                                 rotation (admin token)
//	GET  /v1/tuf/online-keys         the registry's snapshot and timestamp public keys (PEM)
//	GET  /v1/watch                   Server-Sent Events: each new timestamp version
//	GET  /v1/token                   Docker/OCI login: Basic (any user, a token) → the token
//	GET  /download/...               install.sh, targets.canonical, runtime binaries (download.go)
//	GET  /healthz, /readyz, /metrics
//
// # Staying up
//
// The registry serves thousands of runtimes, and anyone may connect:
//
//   - Connections are capped in all and per client (Config.MaxConnections,
//     MaxConnectionsPerClient), watch streams in all and per client, below
//     the connections (MaxWatchers, MaxWatchersPerClient: 503 and 429 with
//     Retry-After), so that health, TUF metadata and pulls keep answering
//     with the watchers full. The defaults are sized from the open-file
//     limit, whose soft value Open raises to the hard one (limitsFor).
//   - API requests in progress are capped in all and per client
//     (MaxRequests, MaxRequestsPerClient: 503 and 429 with Retry-After),
//     whatever the protocol: over HTTP/2 one connection carries many.
//   - No request holds a database connection while its body arrives; every
//     body has a read deadline and a minimum rate (BodyIdleTimeout,
//     MinBodyRate: 408), a declared length over the endpoint's limit is
//     refused at once (413), and a request refused before its body was
//     read closes its connection rather than wait for the body. Responses
//     are held to the same deadline and rate: a client that stops reading
//     a download loses it.
//   - Failed authentications and /v1/token are throttled per client (429
//     with Retry-After); the 401 challenge's realm is Config.PublicURL.
//   - Upload sessions are capped per token and expire, publishers have a
//     storage quota, content can be deleted (never what a signed release
//     names) and unreferenced blobs are collected (Config.CollectEvery).
//
// Clients are told apart by address (IPv6 by /64), behind
// Config.TrustedProxies by the X-Forwarded-For they append.
//
// # Trust
//
// The registry holds only the online snapshot and timestamp keys. A
// release needs both the publisher's offline targets signature and a
// token scoped to the module (a theme: "theme:<name>"; the runtime:
// "runtime:websonic"); the registry checks that the signed release
// names a manifest it stores (length and digest) in the module's
// repository, that the artifact is the release (a runtime's binary layer
// is the signed binary_sha256 and binary_size), that releases are never removed or changed (only revoked),
// and audits every push and publish. Runtimes verify everything
// themselves from a pinned root, so a compromised registry or mirror can
// at worst withhold updates — which the timestamp expiry turns into an
// alert.
package server

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/pgembed"
	"github.com/websonic/websonic/internal/tlsserve"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/internal/watch"
	"github.com/websonic/websonic/registry/internal/distribution"
	"github.com/websonic/websonic/registry/internal/limit"
	"github.com/websonic/websonic/registry/internal/publishers"
	"github.com/websonic/websonic/registry/internal/tufstore"
	"github.com/websonic/websonic/sdk/manifest"
)

// Config configures a registry. Zero fields take the defaults shown.
type Config struct {
	// Addr is where ListenAndServe listens ("127.0.0.1:8090").
	Addr string
	// DataDir holds the embedded PostgreSQL, blobs and uploads
	// ("registry-data").
	DataDir string
	// DatabaseURL names an external PostgreSQL; "" starts the embedded one.
	DatabaseURL string
	// OnlineKeys are the registry's snapshot and timestamp signers; the
	// root and targets roles must be empty (those keys stay offline).
	OnlineKeys tufrepo.Keys
	// Expiries of the signed metadata (tufrepo.DefaultExpiries).
	Expiries tufrepo.Expiries
	// PrivatePulls requires a valid token to pull; by default pulls and
	// TUF metadata are anonymous (everything served is public and signed).
	PrivatePulls bool
	// RenewEvery is how often expiring snapshot and timestamp metadata is
	// checked and re-signed (1 minute).
	RenewEvery time.Duration
	// PublicURL is the registry's address as clients reach it, e.g.
	// "https://registry.example": the realm of every WWW-Authenticate
	// challenge is its /v1/token, never the request's Host header (under
	// TLS, "https://" + the name the certificate is for, with Addr's port
	// unless 443; otherwise "http://" + Addr, with "localhost" for an
	// unspecified host: see defaultPublicURL).
	PublicURL string
	// TrustedProxies are the proxies whose X-Forwarded-For is believed when
	// telling clients apart for the per-client limits (none: the client is
	// the connection's peer).
	TrustedProxies []netip.Prefix
	// TokenRequests throttles GET /v1/token per client (one a second,
	// bursts of 10); over it, 429 with Retry-After.
	TokenRequests limit.Rate
	// FailedAuths throttles failed authentications per client on every
	// endpoint that takes a token (one every 10 s, bursts of 10); over it,
	// every authenticated request of that client is answered 429 with
	// Retry-After, without looking the token up.
	FailedAuths limit.Rate
	// PublisherQuota is how many bytes a publisher may store: the blobs its
	// tokens pushed (per repository), its manifests and its uploads in
	// progress (10 GiB; negative: no limit). Over it, pushes are refused
	// with DENIED until it deletes unused content.
	PublisherQuota int64
	// MaxUploadsPerToken bounds a token's open upload sessions (32); over
	// it, starting one is answered 429 with Retry-After.
	MaxUploadsPerToken int
	// UploadTTL is how long an upload session may stay idle before it is
	// ended and its bytes deleted (24 h).
	UploadTTL time.Duration
	// CollectEvery is how often expired uploads and garbage are collected
	// (1 hour); CollectGrace how long a blob nothing references is kept
	// (24 h: a push uploads blobs before the manifest that names them).
	// See distribution.Handler.Collect.
	CollectEvery, CollectGrace time.Duration
	// DisableDelete refuses DELETE of manifests, tags and blobs (405
	// UNSUPPORTED); by default a token scoped to a module may delete its
	// repository's content, except what a signed release names.
	DisableDelete bool
	// MaxConnections bounds the TCP connections the registry holds at once;
	// more wait in the kernel's backlog until one closes. MaxWatchers
	// bounds the watch streams, below it, so that the rest always serves
	// the API (health, TUF metadata, pulls): over it, 503 with
	// Retry-After. Both are sized from the open-file limit (RLIMIT_NOFILE,
	// whose soft limit Open raises to the hard one): see limitsFor.
	MaxConnections, MaxWatchers int
	// MaxConnectionsPerClient and MaxWatchersPerClient bound one client
	// (an IPv4 address, an IPv6 /64; behind TrustedProxies, the forwarded
	// client for watchers): a connection over it is closed at once, a
	// watch over it answered 429 with Retry-After. Defaults: 1/32 of
	// MaxConnections and 1/64 of MaxWatchers (at least 32 and 8).
	MaxConnectionsPerClient, MaxWatchersPerClient int
	// MaxRequests bounds the API requests in progress at once (watch
	// streams, health and metrics apart): over it, 503 with Retry-After.
	// MaxRequestsPerClient bounds one client's (told apart as for
	// watchers): over it, 429 with Retry-After. Over HTTP/2 one connection
	// carries many requests, each holding a goroutine and often an open
	// file, so the connection caps alone do not bound them. Defaults:
	// MaxConnections-MaxWatchers (the API's share of the file descriptors,
	// see limitsFor) and MaxConnectionsPerClient.
	MaxRequests, MaxRequestsPerClient int
	// BodyIdleTimeout is the longest a request body may pause, or a
	// response wait for its client to take more, and the grace before
	// MinBodyRate applies (30 s). A request body past either is cut off
	// with 408; a response past either is cut off (its connection closed,
	// over HTTP/2 its stream reset). No request holds a database
	// connection while its body arrives.
	BodyIdleTimeout time.Duration
	// MinBodyRate is the average rate, in bytes per second, below which a
	// request body, or a response from its first byte, is cut off once
	// BodyIdleTimeout has passed (32 KiB/s).
	MinBodyRate int64
	// Now is the clock (time.Now); tests move it.
	Now    func() time.Time
	Logger hclog.Logger

	// InstallScript is served at GET /download/install.sh (deploy's
	// install.sh; none: 404).
	InstallScript []byte

	// TLS serves HTTPS: certificate files, ACME or a self-signed
	// development certificate, and an HTTP redirect listener (package
	// tlsserve); its Dir defaults to DataDir/tls. Zero serves plain HTTP.
	TLS tlsserve.Config
}

// defaults fills the zero fields of c and checks the others.
func (c *Config) defaults() error {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8090"
	}
	if c.DataDir == "" {
		c.DataDir = "registry-data"
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	if c.RenewEvery <= 0 {
		c.RenewEvery = time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.PublicURL == "" {
		u, err := defaultPublicURL(c.Addr, c.TLS)
		if err != nil {
			return err
		}
		c.PublicURL = u
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("registry: PublicURL %q: want an http(s) URL with a host and no query, e.g. https://registry.example", c.PublicURL)
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	if c.CollectEvery <= 0 {
		c.CollectEvery = time.Hour
	}
	fl := limitsFor(fileLimit())
	if c.MaxConnections <= 0 {
		c.MaxConnections = fl.connections
	}
	if c.MaxWatchers <= 0 {
		c.MaxWatchers = min(fl.watchers, c.MaxConnections-c.MaxConnections/8)
	}
	if c.MaxWatchers >= c.MaxConnections {
		return fmt.Errorf("registry: MaxWatchers (%d) must stay below MaxConnections (%d): the rest serves the API", c.MaxWatchers, c.MaxConnections)
	}
	if c.MaxConnectionsPerClient <= 0 {
		c.MaxConnectionsPerClient = max(32, c.MaxConnections/32)
	}
	if c.MaxWatchersPerClient <= 0 {
		c.MaxWatchersPerClient = max(8, c.MaxWatchers/64)
	}
	if c.MaxRequests <= 0 {
		c.MaxRequests = c.MaxConnections - c.MaxWatchers
	}
	if c.MaxRequestsPerClient <= 0 {
		c.MaxRequestsPerClient = c.MaxConnectionsPerClient
	}
	if c.BodyIdleTimeout <= 0 {
		c.BodyIdleTimeout = 30 * time.Second
	}
	if c.MinBodyRate <= 0 {
		c.MinBodyRate = 32 << 10
	}
	if c.TokenRequests == (limit.Rate{}) {
		c.TokenRequests = limit.Rate{Every: time.Second, Burst: 10}
	}
	if c.FailedAuths == (limit.Rate{}) {
		c.FailedAuths = limit.Rate{Every: 10 * time.Second, Burst: 10}
	}
	return nil
}

// defaultPublicURL is the registry's URL when none is configured: under
// TLS, https with the name its certificate is for (tlsserve's
// ServerName: the first ACME domain, the certificate file's first name,
// localhost when self-signed) and the port of addr (none for 443);
// otherwise http with the host of addr, "localhost" when unspecified.
//
// It is the realm of login challenges, and OCI clients (oras-go) send a
// token to a realm on another host than the one they reached only if it
// is public: "localhost", or a listen address such as 0.0.0.0, would
// make every push to a registry listening on ":443" fail.
func defaultPublicURL(addr string, tc tlsserve.Config) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("registry: Addr %q: %w", addr, err)
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	if !tc.Enabled() {
		return "http://" + net.JoinHostPort(host, port), nil
	}
	if name := tc.ServerName(); name != "" {
		host = name
	}
	if port == "443" {
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		return "https://" + host, nil
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

// fileLimits are the default caps for a limit on open files.
type fileLimits struct {
	connections, watchers int
}

// limitsFor sizes the caps so that the registry cannot run out of file
// descriptors: of nofile, 256 stay for the process itself (the database
// pool, logs, what the runtime opens); an API connection may hold two
// (its socket and a blob it serves or receives), a watch stream one. A
// tenth of what is left (at least 64) serves the API, the rest watchers.
// An unknown limit (0) counts as 4096.
func limitsFor(nofile uint64) fileLimits {
	if nofile == 0 {
		nofile = 4096
	}
	const reserve = 256
	budget := int(min(max(nofile, 2*reserve), 1<<24)) - reserve
	api := max(64, budget/10)
	watchers := max(16, budget-2*api)
	return fileLimits{connections: watchers + api, watchers: watchers}
}

// Server is a running registry.
type Server struct {
	cfg   Config
	log   hclog.Logger
	db    *pgembed.DB
	dist  *distribution.Handler
	pubs  *publishers.Store
	tuf   *tufstore.Store
	hub   *watch.Hub
	reg   *prometheus.Registry
	h     http.Handler
	bg    context.CancelFunc
	bgEnd chan struct{}

	conns      atomic.Pointer[limit.Listener] // of the running Serve
	clients    limit.Clients
	realm      string          // the WWW-Authenticate value of a 401
	tokenReqs  *limit.Throttle // GET /v1/token, per client
	failedAuth *limit.Throttle // failed authentications, per client
	requests   *limit.Requests // API requests in progress
	canonical  canonicalCache  // GET /download/targets.canonical
}

// Open starts the database and everything but the listener.
func Open(ctx context.Context, cfg Config) (_ *Server, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	if len(cfg.OnlineKeys.Root.Signers)+len(cfg.OnlineKeys.Targets.Signers) > 0 {
		return nil, errors.New("registry: the root and targets keys stay with the publisher: give the registry only its snapshot and timestamp keys")
	}
	if len(cfg.OnlineKeys.Snapshot.Signers) == 0 || len(cfg.OnlineKeys.Timestamp.Signers) == 0 {
		return nil, errors.New("registry: snapshot and timestamp signers are required")
	}
	cfg.Logger.Debug("limits", "max_connections", cfg.MaxConnections, "max_connections_per_client", cfg.MaxConnectionsPerClient,
		"max_watchers", cfg.MaxWatchers, "max_watchers_per_client", cfg.MaxWatchersPerClient,
		"max_requests", cfg.MaxRequests, "max_requests_per_client", cfg.MaxRequestsPerClient)
	s := &Server{cfg: cfg, log: cfg.Logger, reg: prometheus.NewRegistry(),
		clients:    limit.NewClients(cfg.TrustedProxies),
		realm:      fmt.Sprintf(`Bearer realm=%q,service="websonic-registry"`, cfg.PublicURL+"/v1/token"),
		tokenReqs:  limit.NewThrottle("token requests", cfg.TokenRequests, cfg.Now),
		failedAuth: limit.NewThrottle("failed authentications", cfg.FailedAuths, cfg.Now),
	}
	s.requests = limit.NewRequests(cfg.MaxRequests, cfg.MaxRequestsPerClient, s.clients.Key, time.Second)
	defer func() {
		if err != nil {
			s.Close(context.Background())
		}
	}()
	if s.db, err = openDB(ctx, cfg); err != nil {
		return nil, err
	}
	blobs, err := distribution.NewFS(filepath.Join(cfg.DataDir, "blobs"))
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	s.pubs = publishers.New(s.db.Pool)
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "websonic_registry_connections", Help: "Open TCP connections."},
			func() float64 { return float64(s.Connections()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "websonic_registry_connections_refused_total", Help: "Connections closed at once, over their client's cap."},
			func() float64 {
				if l := s.conns.Load(); l != nil {
					return float64(l.Refused())
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "websonic_registry_requests", Help: "API requests in progress (watch streams apart)."},
			func() float64 { return float64(s.requests.Open()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "websonic_registry_requests_refused_total", Help: "API requests refused over the caps in all (503) and per client (429)."},
			func() float64 { return float64(s.requests.Refused()) }))
	s.hub = watch.New(watch.Config{Logger: s.log.Named("watch"), Registerer: s.reg,
		MaxClients: cfg.MaxWatchers, MaxPerClient: cfg.MaxWatchersPerClient, ClientKey: s.clients.Key})
	if s.tuf, err = tufstore.Open(ctx, tufstore.Config{
		Pool: s.db.Pool, Keys: cfg.OnlineKeys,
		Repo:    tufrepo.Config{Expiries: cfg.Expiries, Now: cfg.Now},
		Changed: s.hub.Publish, Logger: s.log.Named("tuf"),
	}); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	if err := s.checkOnlineKeys(); err != nil {
		return nil, err
	}
	if s.dist, err = distribution.New(distribution.Config{
		Pool: s.db.Pool, Blobs: blobs, UploadDir: filepath.Join(cfg.DataDir, "uploads"),
		Logger: s.log, Authorize: s.authorizeOCI, Challenge: s.challenge,
		Accept: s.acceptManifest, ManifestPushed: s.manifestPushed, ContentDeleted: s.contentDeleted, Pinned: s.pinned,
		Quota: cfg.PublisherQuota, MaxUploads: cfg.MaxUploadsPerToken, UploadTTL: cfg.UploadTTL,
		Grace: cfg.CollectGrace, DisableDelete: cfg.DisableDelete, Now: cfg.Now,
	}); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	s.h = s.router()
	bgctx, cancel := context.WithCancel(context.Background())
	s.bg, s.bgEnd = cancel, make(chan struct{})
	go s.background(bgctx)
	return s, nil
}

func migrateAll(ctx context.Context, pool *pgxpool.Pool) error {
	if err := distribution.Migrate(ctx, pool); err != nil {
		return err
	}
	return publishers.Migrate(ctx, pool)
}

// checkOnlineKeys refuses to serve a repository whose root does not list
// this registry's online keys: it could sign nothing clients accept.
func (s *Server) checkOnlineKeys() error {
	if s.tuf.TimestampVersion() == 0 {
		return nil
	}
	root, err := parseRoot(s.tuf.Repo().Root())
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	for role, signers := range map[string][]crypto.PublicKey{"snapshot": publicKeys(s.cfg.OnlineKeys.Snapshot), "timestamp": publicKeys(s.cfg.OnlineKeys.Timestamp)} {
		for _, pub := range signers {
			id, err := tufrepo.KeyID(pub)
			if err != nil {
				return fmt.Errorf("registry: %w", err)
			}
			if !root.has(role, id) {
				return fmt.Errorf("registry: the current root (version %d) does not list this registry's %s key %s: start the registry with the keys its root names, or rotate the root", root.Signed.Version, role, id)
			}
		}
	}
	return nil
}

type rootDoc struct {
	Signed struct {
		Version int64 `json:"version"`
		Roles   map[string]struct {
			KeyIDs []string `json:"keyids"`
		} `json:"roles"`
	} `json:"signed"`
}

func parseRoot(b []byte) (*rootDoc, error) {
	var r rootDoc
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	return &r, nil
}

func (r *rootDoc) has(role, keyID string) bool {
	for _, id := range r.Signed.Roles[role].KeyIDs {
		if id == keyID {
			return true
		}
	}
	return false
}

func publicKeys(role tufrepo.Role) []crypto.PublicKey {
	var out []crypto.PublicKey
	for _, s := range role.Signers {
		if pub, err := s.PublicKey(); err == nil {
			out = append(out, pub)
		}
	}
	return out
}

// background renews expiring metadata and follows other replicas.
func (s *Server) background(ctx context.Context) {
	listened := make(chan struct{})
	defer func() { <-listened; close(s.bgEnd) }()
	go func() { defer close(listened); s.tuf.Listen(ctx, 30*time.Second) }()
	t := time.NewTicker(s.cfg.RenewEvery)
	defer t.Stop()
	collect := time.NewTicker(s.cfg.CollectEvery)
	defer collect.Stop()
	for {
		if err := s.tuf.Renew(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("renewing TUF metadata failed: runtimes will see it expire", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-collect.C:
			if _, err := s.dist.Collect(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("collecting expired uploads and garbage failed", "error", err)
			}
		}
	}
}

// Handler is the registry's whole HTTP surface.
func (s *Server) Handler() http.Handler { return s.h }

// Publishers is the account store (tokens are created through it).
func (s *Server) Publishers() *publishers.Store { return s.pubs }

// TUF is the served TUF repository.
func (s *Server) TUF() *tufstore.Store { return s.tuf }

// Collect ends expired upload sessions and collects unreferenced blobs
// now (the registry also does it every Config.CollectEvery).
func (s *Server) Collect(ctx context.Context) (distribution.Collected, error) {
	return s.dist.Collect(ctx)
}

// Watchers is the number of open watch streams.
func (s *Server) Watchers() int { return s.hub.Clients() }

// ListenAndServe serves on cfg.Addr until ctx ends; over HTTPS when
// cfg.TLS is enabled.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down gracefully. It caps
// the connections it accepts (Config.MaxConnections and
// MaxConnectionsPerClient), counting TCP peers before any TLS, and those
// of the HTTP redirect listener (Config.TLS.RedirectAddr) with them. With
// cfg.TLS enabled it serves HTTPS on ln (a certificate that does not load
// is an error) and every response carries HSTS.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	capped := s.limitListener(ln)
	tc := s.cfg.TLS
	tc.RedirectListener = capped.Share // one count of the sockets held
	ln, scheme, err := tlsserve.Wrap(ctx, tc, capped, s.cfg.DataDir, s.log)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	defer ln.Close()
	srv := &http.Server{
		Handler:           hsts(s.h),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          s.log.StandardLogger(&hclog.StandardLoggerOptions{InferLevels: true}),
	}
	s.log.Info("registry listening", "addr", ln.Addr().String(), "url", scheme+"://"+ln.Addr().String(), "public_url", s.cfg.PublicURL)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.hub.Close() // ends the watch streams, which Shutdown would wait for
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// hsts asks clients to reach the registry over HTTPS only for two years,
// on every response to a request that came over TLS.
func hsts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			w.Header().Set("Strict-Transport-Security", "max-age=63072000")
		}
		next.ServeHTTP(w, r)
	})
}

// limitListener caps ln's connections (see limit.Listener).
func (s *Server) limitListener(ln net.Listener) *limit.Listener {
	l := limit.NewListener(ln, s.cfg.MaxConnections, s.cfg.MaxConnectionsPerClient, s.clients)
	s.conns.Store(l)
	return l
}

// Connections is the number of connections the running Serve holds.
func (s *Server) Connections() int {
	if l := s.conns.Load(); l != nil {
		return l.Open()
	}
	return 0
}

// Close stops the background work and the database.
func (s *Server) Close(ctx context.Context) error {
	if s.bg != nil {
		s.bg()
		<-s.bgEnd
	}
	if s.hub != nil {
		s.hub.Close()
	}
	if s.db != nil {
		return s.db.Close()
	}
	return nil
}

func (s *Server) router() http.Handler {
	r := chi.NewRouter()
	r.Use(limit.Bodies{Idle: s.cfg.BodyIdleTimeout, MinRate: s.cfg.MinBodyRate}.Middleware)
	r.Get("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	r.Get("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := s.db.Pool.Ping(ctx); err != nil {
			http.Error(w, "database unavailable", http.StatusServiceUnavailable)
			return
		}
		if s.tuf.TimestampVersion() == 0 {
			http.Error(w, "no TUF root yet: run `websonic repo init`", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	r.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	r.Get("/v1/watch", s.hub.ServeHTTP) // capped by the hub, paced per write
	r.Group(func(r chi.Router) {
		r.Use(s.requests.Middleware, limit.Responses{Idle: s.cfg.BodyIdleTimeout, MinRate: s.cfg.MinBodyRate}.Middleware)
		r.Handle("/v2", s.dist)
		r.Handle("/v2/*", s.dist)
		r.Get("/v1/token", s.token)
		r.Get("/v1/tuf/online-keys", s.onlineKeys)
		r.Get("/v1/tuf/targets/*", s.getTarget)
		r.Head("/v1/tuf/targets/*", s.getTarget)
		r.Get("/v1/tuf/{file}", s.getMetadata)
		r.Head("/v1/tuf/{file}", s.getMetadata)
		r.Put("/v1/tuf/targets.json", s.putTargets)
		r.Put("/v1/tuf/root.json", s.putRoot)
		s.downloadRoutes(r)
	})
	return r
}

var metadataFileRE = regexp.MustCompile(`^([1-9][0-9]{0,9}\.)?root\.json$|^(timestamp|snapshot|targets)\.json$`)

// getMetadata serves a TUF metadata file. Clients revalidate every time
// (no-cache) and get 304 while it is unchanged.
func (s *Server) getMetadata(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "file")
	if !metadataFileRE.MatchString(name) {
		http.NotFound(w, r)
		return
	}
	f, ok := s.tuf.File(name)
	if !ok {
		http.Error(w, "no such metadata file (has the repository been initialized?)", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("ETag", f.ETag)
	h.Set("Content-Type", "application/json")
	if strings.Contains(name, ".root.json") {
		h.Set("Cache-Control", "public, max-age=31536000, immutable") // a root version never changes
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.Body))
}

// getTarget serves a release's TUF target: the bytes of its OCI manifest.
func (s *Server) getTarget(w http.ResponseWriter, r *http.Request) {
	path := chi.URLParam(r, "*")
	var rel *tufrepo.Release
	for _, x := range s.tuf.Repo().Releases() {
		if x.Path == path {
			rel = x
			break
		}
	}
	if rel == nil {
		http.NotFound(w, r)
		return
	}
	_, body, err := s.dist.Manifest(r.Context(), rel.Repository(), rel.ManifestDigest)
	if err != nil {
		s.log.Error("a signed release's manifest is missing", "release", rel.String(), "error", err)
		http.Error(w, "release artifact unavailable", http.StatusServiceUnavailable)
		return
	}
	h := w.Header()
	h.Set("ETag", `"`+rel.ManifestDigest+`"`)
	h.Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func (s *Server) onlineKeys(w http.ResponseWriter, _ *http.Request) {
	out := map[string][]string{}
	for role, k := range map[string]tufrepo.Role{"snapshot": s.cfg.OnlineKeys.Snapshot, "timestamp": s.cfg.OnlineKeys.Timestamp} {
		for _, pub := range publicKeys(k) {
			pem, err := cryptoutils.MarshalPublicKeyToPEM(pub)
			if err != nil {
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			out[role] = append(out[role], string(pem))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// apiError is the JSON error body of the /v1 API.
type apiError struct {
	Error string `json:"error"`
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", s.realm)
	}
	writeJSON(w, status, apiError{Error: msg})
}

// failAuth answers a failed principal: 401, 429 with Retry-After when the
// client is throttled, or 500.
func (s *Server) failAuth(w http.ResponseWriter, r *http.Request, err error) {
	var refused *limit.Refusal
	switch {
	case errors.As(err, &refused):
		w.Header().Set("Retry-After", limit.RetryAfter(refused.After))
		s.fail(w, r, http.StatusTooManyRequests, err.Error())
	case errors.Is(err, publishers.ErrUnauthenticated):
		s.fail(w, r, http.StatusUnauthorized, err.Error())
	default:
		s.log.Error("authentication failed", "error", err)
		s.fail(w, r, http.StatusInternalServerError, "internal error")
	}
}

// failBody answers a request body that could not be read: too large
// (413), too slow (408) or broken.
func (s *Server) failBody(w http.ResponseWriter, r *http.Request, err error) {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		s.fail(w, r, http.StatusRequestEntityTooLarge, fmt.Sprintf("body larger than %d bytes", tooLarge.Limit))
	case errors.Is(err, limit.ErrSlowBody):
		s.fail(w, r, http.StatusRequestTimeout, err.Error())
	default:
		s.fail(w, r, http.StatusBadRequest, "reading the body: "+err.Error())
	}
}

// challenge is the bearer challenge of a 401: its realm is the token
// endpoint at Config.PublicURL, where OCI clients holding a username and
// password (the token) exchange them; clients holding the token itself
// send it directly.
func (s *Server) challenge(*http.Request) string { return s.realm }

// token is the Docker/OCI token endpoint for clients that log in with a
// username and password: the password is a publisher token, returned as
// the bearer token once it authenticates. Each client may call it
// Config.TokenRequests times.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := s.tokenReqs.Take(s.clients.Key(r)); err != nil {
		s.failAuth(w, r, err)
		return
	}
	_, password, ok := r.BasicAuth()
	if !ok {
		s.fail(w, r, http.StatusUnauthorized, "log in with any user name and a publisher token as the password")
		return
	}
	if _, err := s.authenticate(r, password); err != nil {
		s.failAuth(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"token": password, "access_token": password})
}

// principal authenticates the request's token (see authenticate): a
// bearer token, or Basic credentials whose password is the token (any
// user name). OCI clients that find pulls anonymous (GET /v2/ answers
// 200) send their login as Basic on every push without asking /v1/token:
// go-containerregistry does.
func (s *Server) principal(r *http.Request) (*publishers.Principal, error) {
	if token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return s.authenticate(r, strings.TrimSpace(token))
	}
	if _, password, ok := r.BasicAuth(); ok {
		return s.authenticate(r, password)
	}
	return nil, publishers.ErrUnauthenticated
}

// authenticate looks token up, unless the client has failed too often
// (Config.FailedAuths): then it returns a *limit.Refusal. A failure
// counts against the client.
func (s *Server) authenticate(r *http.Request, token string) (*publishers.Principal, error) {
	key := s.clients.Key(r)
	if err := s.failedAuth.Check(key); err != nil {
		return nil, err
	}
	p, err := s.pubs.Authenticate(r.Context(), token)
	if errors.Is(err, publishers.ErrUnauthenticated) {
		s.failedAuth.Take(key)
	}
	return p, err
}

// authorizeOCI is the distribution API's authorizer: pushes and deletions
// need a token scoped to the repository's module, and are charged to its
// publisher (Config.PublisherQuota); pulls are anonymous unless
// PrivatePulls.
func (s *Server) authorizeOCI(r *http.Request, repo string, push bool) (distribution.Client, error) {
	if !push && !s.cfg.PrivatePulls {
		return distribution.Client{}, nil
	}
	p, err := s.principal(r)
	if err != nil {
		switch {
		case errors.Is(err, publishers.ErrUnauthenticated):
			return distribution.Client{}, fmt.Errorf("%w: %w", distribution.ErrUnauthorized, err)
		case errors.Is(err, limit.ErrLimited):
			return distribution.Client{}, fmt.Errorf("%w: %w", distribution.ErrTooManyRequests, err)
		}
		return distribution.Client{}, err
	}
	c := distribution.Client{Account: p.Publisher, Session: strconv.FormatInt(p.TokenID, 10)}
	if !push || repo == "" {
		return c, nil
	}
	kind, name, ok := nameOfRepo(repo)
	if !ok {
		return c, fmt.Errorf("%w: push to modules/<name>, themes/<name> or %s", distribution.ErrDenied, tufrepo.RuntimeRepository)
	}
	if kind == tufrepo.KindRuntime && !p.MayRuntime(name) {
		return c, fmt.Errorf("%w: token of %s may not publish the runtime (its scope needs %s)", distribution.ErrDenied, p.Publisher, publishers.RuntimeScope)
	}
	if kind == tufrepo.KindTheme && !p.MayTheme(name) {
		return c, fmt.Errorf("%w: token of %s may not publish theme %s (its scope needs %s%s)", distribution.ErrDenied, p.Publisher, name, publishers.ThemeScope, name)
	}
	if kind == tufrepo.KindModule && !p.May(name) {
		return c, fmt.Errorf("%w: token of %s may not publish %s", distribution.ErrDenied, p.Publisher, name)
	}
	return c, nil
}

// pinned is the distribution API's Pinned hook: in modules/<name>, every
// signed release's manifest, and its version tag, which PackTo pushed and
// runtimes and publishers expect to name that manifest (in
// runtime/websonic, "<version>-<os>-<arch>"). Revoked releases
// stay pinned: their targets entries stay too. The TUF repository stays
// locked until tx ends, so a release accepted meanwhile cannot name what
// tx deletes.
func (s *Server) pinned(ctx context.Context, tx pgx.Tx, repo string) ([]distribution.Pin, error) {
	if _, _, ok := nameOfRepo(repo); !ok {
		return nil, nil
	}
	releases, err := s.tuf.LockedReleases(ctx, tx)
	if err != nil {
		return nil, err
	}
	var pins []distribution.Pin
	for _, rel := range releases {
		if rel.Repository() == repo {
			tag := rel.Version
			if rel.Kind == tufrepo.KindRuntime {
				tag = rel.Version + "-" + rel.OS + "-" + rel.Arch
			}
			pins = append(pins, distribution.Pin{Tag: tag, Digest: digest.Digest(rel.ManifestDigest), Why: "signed release " + rel.String()})
		}
	}
	return pins, nil
}

var repoRE = regexp.MustCompile(`^(modules|themes)/([a-z0-9][a-z0-9_-]{0,63})$`)

// nameOfRepo tells what an OCI repository holds: a module's artifacts
// (modules/<name>), a theme's (themes/<name>) or the runtime's
// (runtime/websonic, the one runtime repository).
func nameOfRepo(repo string) (tufrepo.Kind, string, bool) {
	if repo == tufrepo.RuntimeRepository {
		return tufrepo.KindRuntime, tufrepo.RuntimeName, true
	}
	m := repoRE.FindStringSubmatch(repo)
	if m == nil {
		return 0, "", false
	}
	if m[1] == "themes" {
		return tufrepo.KindTheme, m[2], true
	}
	return tufrepo.KindModule, m[2], true
}

// audit records an action of the distribution API.
func (s *Server) audit(r *http.Request, c distribution.Client, action, repo string, details map[string]any) {
	e := publishers.Entry{Publisher: c.Account, Action: action, Subject: repo, Details: details, RemoteAddr: r.RemoteAddr}
	if e.Publisher == "" {
		e.Publisher = "anonymous"
	}
	e.TokenID, _ = strconv.ParseInt(c.Session, 10, 64)
	if err := s.pubs.Audit(r.Context(), e); err != nil {
		s.log.Error("audit", "error", err)
	}
}

func (s *Server) manifestPushed(r *http.Request, c distribution.Client, repo, digest, tag string) {
	s.audit(r, c, "manifest.push", repo, map[string]any{"digest": digest, "tag": tag})
}

func (s *Server) contentDeleted(r *http.Request, c distribution.Client, repo, what, ref string) {
	s.audit(r, c, what+".delete", repo, map[string]any{"ref": ref})
}

// putTargets accepts a publisher's signed targets: see the package doc.
func (s *Server) putTargets(w http.ResponseWriter, r *http.Request) {
	p, err := s.principal(r)
	if err != nil {
		s.failAuth(w, r, err)
		return
	}
	raw, err := limit.ReadBody(w, r, tufrepo.MaxMetadataSize)
	if err != nil {
		s.failBody(w, r, err)
		return
	}
	var changes []tufrepo.Change
	err = s.tuf.Update(r.Context(), func(ctx context.Context, tx pgx.Tx, repo *tufrepo.Repo) error {
		var err error
		changes, err = repo.AcceptTargets(raw, func(changes []tufrepo.Change) error { return s.checkChanges(ctx, tx, p, changes) })
		if err != nil {
			return err
		}
		for _, c := range changes {
			action := c.New.Kind.String() + ".publish"
			if c.Old != nil {
				action = c.New.Kind.String() + ".revoke"
			}
			details := map[string]any{"digest": c.New.ManifestDigest, "channel": c.New.Channel, "abi_version": c.New.ABIVersion, "capabilities": c.New.Capabilities}
			switch c.New.Kind {
			case tufrepo.KindTheme:
				details = map[string]any{"digest": c.New.ManifestDigest, "channel": c.New.Channel, "theme_version": c.New.ThemeVersion}
			case tufrepo.KindRuntime:
				details = map[string]any{"digest": c.New.ManifestDigest, "channel": c.New.Channel, "os": c.New.OS, "arch": c.New.Arch,
					"binary_sha256": c.New.BinarySHA256, "binary_size": c.New.BinarySize}
			}
			if err := publishers.AuditTx(ctx, tx, publishers.Entry{
				Publisher: p.Publisher, TokenID: p.TokenID, Action: action, Subject: c.New.String(),
				Details:    details,
				RemoteAddr: r.RemoteAddr,
			}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.refuse(w, r, p, "targets", err)
		return
	}
	var names []string
	for _, c := range changes {
		names = append(names, c.New.String())
	}
	s.log.Info("targets accepted", "publisher", p.Publisher, "changes", names, "timestamp", s.tuf.TimestampVersion())
	writeJSON(w, http.StatusOK, map[string]any{"timestamp_version": s.tuf.TimestampVersion(), "changes": names})
}

var errScope = errors.New("registry: not allowed")

// checkChanges refuses releases outside the token's scope and new
// releases whose manifest the registry does not store as signed. It reads
// within tx, the change's transaction: no second connection.
func (s *Server) checkChanges(ctx context.Context, tx pgx.Tx, p *publishers.Principal, changes []tufrepo.Change) error {
	for _, c := range changes {
		if c.New.Kind == tufrepo.KindTheme && !p.MayTheme(c.New.Module) {
			return fmt.Errorf("%w: the token of %s may not publish or revoke theme %s (its scope needs %s%s)", errScope, p.Publisher, c.New.Module, publishers.ThemeScope, c.New.Module)
		}
		if c.New.Kind == tufrepo.KindModule && !p.May(c.New.Module) {
			return fmt.Errorf("%w: the token of %s may not publish or revoke %s", errScope, p.Publisher, c.New.Module)
		}
		if c.New.Kind == tufrepo.KindRuntime && !p.MayRuntime(c.New.Module) {
			return fmt.Errorf("%w: the token of %s may not publish or revoke the runtime (its scope needs %s)", errScope, p.Publisher, publishers.RuntimeScope)
		}
		if c.Old != nil {
			continue
		}
		_, body, err := s.dist.ManifestTx(ctx, tx, c.New.Repository(), c.New.ManifestDigest)
		if err != nil {
			return fmt.Errorf("%w: release %s: push its artifact (%s) to %s first: %w", tufrepo.ErrRejected, c.New, c.New.ManifestDigest, c.New.Repository(), err)
		}
		if int64(len(body)) != c.New.Length {
			return fmt.Errorf("%w: release %s: signed length %d, stored manifest %d bytes", tufrepo.ErrRejected, c.New, c.New.Length, len(body))
		}
		if err := s.checkPackage(ctx, tx, c.New, body); err != nil {
			return fmt.Errorf("%w: release %s: %w", tufrepo.ErrRejected, c.New, err)
		}
	}
	return nil
}

// checkPackage reads the module manifest (module.json) of a stored
// artifact and checks it is the release being signed: what runtimes will
// verify, refused here already so that nothing uninstallable is listed.
func (s *Server) checkPackage(ctx context.Context, tx pgx.Tx, rel *tufrepo.Release, imageManifest []byte) error {
	switch rel.Kind {
	case tufrepo.KindTheme:
		return s.checkTheme(ctx, tx, rel, imageManifest)
	case tufrepo.KindRuntime:
		return s.checkRuntime(ctx, tx, rel, imageManifest)
	}
	// Layer types, titles (the assets layer's too), count and declared
	// sizes, as runtimes will check them before downloading.
	if err := ocipkg.CheckManifest(imageManifest); err != nil {
		return err
	}
	var im struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(imageManifest, &im); err != nil {
		return fmt.Errorf("image manifest: %w", err)
	}
	for _, l := range im.Layers {
		if l.MediaType != ocipkg.MediaTypeManifest {
			continue
		}
		raw, err := s.dist.BlobTx(ctx, tx, "modules/"+rel.Module, l.Digest, manifest.MaxSize)
		if err != nil {
			return fmt.Errorf("module manifest: %w", err)
		}
		m, err := manifest.Decode(raw)
		if err != nil {
			return err
		}
		return rel.Matches(m)
	}
	return errors.New("the artifact has no module manifest layer")
}

// checkTheme is checkPackage for a theme: the artifact's shape as
// runtimes check it before downloading (ocipkg.CheckThemeManifest), and
// its theme.json naming the release being signed. The templates are the
// runtime's to judge (its theme package), and the publisher's CLI
// validates them before pushing.
func (s *Server) checkTheme(ctx context.Context, tx pgx.Tx, rel *tufrepo.Release, imageManifest []byte) error {
	if err := ocipkg.CheckThemeManifest(imageManifest); err != nil {
		return err
	}
	var im struct {
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(imageManifest, &im); err != nil {
		return fmt.Errorf("image manifest: %w", err)
	}
	raw, err := s.dist.BlobTx(ctx, tx, rel.Repository(), im.Layers[0].Digest, ocipkg.MaxThemeManifestSize) // theme.json, checked above
	if err != nil {
		return fmt.Errorf("%s: %w", ocipkg.ThemeManifestFile, err)
	}
	meta, err := ocipkg.DecodeThemeMeta(raw)
	if err != nil {
		return err
	}
	if rel.Description != "" && rel.Description != meta.Description {
		return fmt.Errorf("%w: %s: signed description %q, %s says %q", tufrepo.ErrMismatch, rel, rel.Description, ocipkg.ThemeManifestFile, meta.Description)
	}
	return rel.MatchesTheme(meta.Name, meta.Version, meta.ThemeVersion)
}

// refuse answers a refused TUF change and audits it.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, p *publishers.Principal, what string, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, errScope):
		status = http.StatusForbidden
	case errors.Is(err, tufrepo.ErrRejected), errors.Is(err, tufrepo.ErrThreshold), errors.Is(err, tufrepo.ErrInvalidRelease), errors.Is(err, tufrepo.ErrKeys):
		status = http.StatusBadRequest
	case errors.Is(err, tufrepo.ErrNotInitialized):
		status = http.StatusConflict
	}
	msg := err.Error()
	if status == http.StatusInternalServerError {
		s.log.Error("TUF change failed", "what", what, "error", err)
		msg = "internal error"
	}
	if aerr := s.pubs.Audit(r.Context(), publishers.Entry{
		Publisher: p.Publisher, TokenID: p.TokenID, Action: what + ".refused", Subject: what,
		Details: map[string]any{"error": err.Error()}, RemoteAddr: r.RemoteAddr,
	}); aerr != nil {
		s.log.Error("audit", "error", aerr)
	}
	s.fail(w, r, status, msg)
}

// RootUpdate is the body of PUT /v1/tuf/root.json.
type RootUpdate struct {
	Root    json.RawMessage `json:"root"`
	Targets json.RawMessage `json:"targets"`
}

// putRoot accepts the first root or a rotation, from an admin token.
func (s *Server) putRoot(w http.ResponseWriter, r *http.Request) {
	p, err := s.principal(r)
	if err != nil {
		s.failAuth(w, r, err)
		return
	}
	if !p.Admin {
		s.fail(w, r, http.StatusForbidden, "changing the root needs an admin token")
		return
	}
	raw, err := limit.ReadBody(w, r, 2*tufrepo.MaxMetadataSize)
	if err != nil {
		s.failBody(w, r, err)
		return
	}
	var body RootUpdate
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || dec.More() || len(body.Root) == 0 || len(body.Targets) == 0 {
		s.fail(w, r, http.StatusBadRequest, `want {"root": <signed root>, "targets": <signed targets>}`)
		return
	}
	var version int64
	err = s.tuf.Update(r.Context(), func(ctx context.Context, tx pgx.Tx, repo *tufrepo.Repo) error {
		if err := repo.AcceptRoot(body.Root, body.Targets, func(changes []tufrepo.Change) error { return s.checkChanges(ctx, tx, p, changes) }); err != nil {
			return err
		}
		root, err := parseRoot(repo.Root())
		if err != nil {
			return err
		}
		version = root.Signed.Version
		return publishers.AuditTx(ctx, tx, publishers.Entry{
			Publisher: p.Publisher, TokenID: p.TokenID, Action: "root.update", Subject: fmt.Sprintf("root v%d", version),
			RemoteAddr: r.RemoteAddr,
		})
	})
	if err != nil {
		s.refuse(w, r, p, "root", err)
		return
	}
	s.log.Info("root accepted", "version", version, "publisher", p.Publisher)
	writeJSON(w, http.StatusOK, map[string]any{"root_version": version, "timestamp_version": s.tuf.TimestampVersion()})
}

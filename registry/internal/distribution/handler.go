package distribution

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"

	"github.com/websonic/websonic/registry/internal/limit"
)

// Client is whom a request acts for, as the Authorizer established it.
type Client struct {
	// Account is charged for what the request stores (Config.Quota); ""
	// is an account too (requests no Authorizer identified).
	Account string
	// Session identifies the credential (e.g. a token id): each has at most
	// Config.MaxUploads open upload sessions.
	Session string
}

// Authorizer decides whether a request may read (push false) or write
// (push true: uploads, manifests, deletions) repository repo; repo is ""
// for the API version check. It returns whom the request acts for, or an
// error wrapping ErrUnauthorized, ErrDenied or ErrTooManyRequests (with a
// *limit.Refusal for the Retry-After).
type Authorizer func(r *http.Request, repo string, push bool) (Client, error)

// Pin is what a repository must keep: manifest Digest may not be deleted,
// and Tag, if not "", may point at Digest only (nor be deleted). Why says
// what pins it, for the refusal.
type Pin struct {
	Tag    string
	Digest digest.Digest
	Why    string
}

// Defaults of Config.
const (
	DefaultMaxBlobSize = 1 << 30
	DefaultQuota       = 10 << 30
	DefaultMaxUploads  = 32
	DefaultUploadTTL   = 24 * time.Hour
	DefaultGrace       = 24 * time.Hour
)

// Config configures a Handler. Pool, Blobs and UploadDir are required.
type Config struct {
	// Pool is the metadata database, brought up to date with Migrate.
	Pool *pgxpool.Pool
	// Blobs holds the blob bytes.
	Blobs BlobStore
	// UploadDir holds the bytes of upload sessions in progress, a folder
	// per session; replicas must share it (see the package notes).
	UploadDir string
	// Logger receives the handler's logs (named "distribution"); nil
	// discards them.
	Logger hclog.Logger
	// Authorize is called for every request; nil allows everything, as
	// Client{}.
	Authorize Authorizer
	// MaxBlobSize bounds a blob's size (DefaultMaxBlobSize, 1 GiB).
	MaxBlobSize int64
	// Quota is how many bytes an account may store: the blobs it linked to
	// repositories (each link counts), the manifests it pushed and its
	// uploads in progress (DefaultQuota, 10 GiB; negative: no limit). Over
	// it, pushes are refused with DENIED.
	Quota int64
	// MaxUploads bounds the open upload sessions of one credential
	// (DefaultMaxUploads, 32); over it, 429 TOOMANYREQUESTS until one ends.
	MaxUploads int
	// UploadTTL is how long an upload session may stay idle before Collect
	// ends it and deletes its bytes (DefaultUploadTTL, 24 h).
	UploadTTL time.Duration
	// Grace is how long Collect leaves a blob that nothing references
	// (DefaultGrace, 24 h; negative: none): a push uploads its blobs
	// before the manifest that references them.
	Grace time.Duration
	// DisableDelete refuses every DELETE of content (manifests, tags,
	// blobs) with 405 UNSUPPORTED, as the spec allows; upload sessions can
	// still be cancelled.
	DisableDelete bool
	// Pinned, when not nil, returns what repo must keep (see Pin). It is
	// called inside the transaction of every deletion and every tag push,
	// so that whatever it reads can be locked against a concurrent change
	// of what is pinned.
	Pinned func(ctx context.Context, tx pgx.Tx, repo string) ([]Pin, error)
	// Challenge returns the WWW-Authenticate value sent with every 401,
	// e.g. `Bearer realm="https://host/v1/token",service="websonic"`: OCI
	// clients (oras-go) then retry with their bearer token. nil sends none.
	Challenge func(*http.Request) string
	// Accept, when not nil, judges every manifest pushed to repo, after
	// it parsed as a valid manifest of mediaType and before anything is
	// stored: an error refuses the push with MANIFEST_INVALID (the
	// registry says there what each repository may hold).
	Accept func(repo, mediaType string, body []byte) error
	// ManifestPushed, when not nil, is called after client c stored a
	// manifest (tag is "" for a push by digest): the registry audits pushes
	// there.
	ManifestPushed func(r *http.Request, c Client, repo, digest, tag string)
	// ContentDeleted, when not nil, is called after client c deleted a
	// manifest, tag or blob (what is "manifest", "tag" or "blob"; ref its
	// digest or tag): the registry audits deletions there.
	ContentDeleted func(r *http.Request, c Client, repo, what, ref string)
	// Now is the clock of expiries and grace periods (time.Now).
	Now func() time.Time
}

// Handler serves the OCI Distribution API. It is safe for concurrent use.
type Handler struct {
	cfg    Config
	log    hclog.Logger
	meta   *meta
	router chi.Router
}

var _ http.Handler = (*Handler)(nil)

// New returns a Handler for cfg; cfg is copied.
func New(cfg Config) (*Handler, error) {
	if cfg.Pool == nil || cfg.Blobs == nil || cfg.UploadDir == "" {
		return nil, errors.New("distribution: Config needs Pool, Blobs and UploadDir")
	}
	if cfg.MaxBlobSize <= 0 {
		cfg.MaxBlobSize = DefaultMaxBlobSize
	}
	if cfg.Quota == 0 {
		cfg.Quota = DefaultQuota
	}
	if cfg.MaxUploads <= 0 {
		cfg.MaxUploads = DefaultMaxUploads
	}
	if cfg.UploadTTL <= 0 {
		cfg.UploadTTL = DefaultUploadTTL
	}
	switch {
	case cfg.Grace == 0:
		cfg.Grace = DefaultGrace
	case cfg.Grace < 0:
		cfg.Grace = 0
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.UploadDir, 0o700); err != nil {
		return nil, fmt.Errorf("distribution: upload dir: %w", err)
	}
	h := &Handler{cfg: cfg, log: cfg.Logger.Named("distribution"), meta: &meta{pool: cfg.Pool, now: cfg.Now}}
	r := chi.NewRouter()
	r.Use(apiVersion)
	r.HandleFunc("/v2", h.serve)
	r.HandleFunc("/v2/*", h.serve)
	h.router = r
	return h, nil
}

// Manifest returns the media type and bytes of the manifest repo holds
// under ref, a tag or a digest, or an error wrapping ErrManifestUnknown.
func (h *Handler) Manifest(ctx context.Context, repo, ref string) (mediaType string, body []byte, err error) {
	mediaType, _, body, err = getManifest(ctx, h.meta.pool, repo, ref)
	return mediaType, body, err
}

// ManifestTx is Manifest within tx: a caller holding a transaction needs
// no second connection.
func (h *Handler) ManifestTx(ctx context.Context, tx pgx.Tx, repo, ref string) (mediaType string, body []byte, err error) {
	mediaType, _, body, err = getManifest(ctx, tx, repo, ref)
	return mediaType, body, err
}

// Blob returns blob d of repo, at most limit bytes, or an error wrapping
// ErrBlobUnknown.
func (h *Handler) Blob(ctx context.Context, repo, d string, limit int64) ([]byte, error) {
	return h.readBlob(ctx, h.meta.pool, repo, d, limit)
}

// BlobTx is Blob within tx (see ManifestTx).
func (h *Handler) BlobTx(ctx context.Context, tx pgx.Tx, repo, d string, limit int64) ([]byte, error) {
	return h.readBlob(ctx, tx, repo, d, limit)
}

func (h *Handler) readBlob(ctx context.Context, q querier, repo, d string, limit int64) ([]byte, error) {
	dg, err := parseDigest(d)
	if err != nil {
		return nil, err
	}
	size, err := queryBlobSize(ctx, q, repo, dg)
	if err != nil {
		return nil, err
	}
	if size > limit {
		return nil, fmt.Errorf("distribution: blob %s of %d bytes, more than %d", d, size, limit)
	}
	f, _, err := h.cfg.Blobs.Open(ctx, dg)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("distribution: blob %s: %w", d, err)
	}
	if int64(len(b)) != size || digest.FromBytes(b) != dg {
		return nil, fmt.Errorf("distribution: blob %s is damaged in the store", d)
	}
	return b, nil
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.router.ServeHTTP(w, r)
}

// apiVersion sets the header every Distribution API response carries.
func apiVersion(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		next.ServeHTTP(w, r)
	})
}

// Endpoint kinds, as parsed from the path's tail.
type kind int

const (
	kindBase kind = iota
	kindBlob
	kindUploadStart
	kindUpload
	kindManifest
	kindTags
	kindReferrers
)

// route is a parsed API path: the endpoint, the repository name and its
// argument (digest, upload id or manifest reference).
type route struct {
	kind kind
	name string
	arg  string
}

var (
	nameRE     = regexp.MustCompile(`^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$`)
	tagRE      = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
	uploadIDRE = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

const maxNameLength = 255

// parseRoute parses the path after /v2/. Repository names contain slashes,
// so the endpoint is recognised from the end.
func parseRoute(tail string) (route, bool) {
	if tail == "" {
		return route{kind: kindBase}, true
	}
	s := strings.Split(tail, "/")
	n := len(s)
	join := func(k int) string { return strings.Join(s[:k], "/") }
	switch {
	case n >= 3 && s[n-1] == "list" && s[n-2] == "tags":
		return route{kind: kindTags, name: join(n - 2)}, true
	case n >= 4 && s[n-3] == "blobs" && s[n-2] == "uploads":
		if s[n-1] == "" {
			return route{kind: kindUploadStart, name: join(n - 3)}, true
		}
		return route{kind: kindUpload, name: join(n - 3), arg: s[n-1]}, true
	case n >= 3 && s[n-2] == "blobs":
		return route{kind: kindBlob, name: join(n - 2), arg: s[n-1]}, true
	case n >= 3 && s[n-2] == "manifests":
		return route{kind: kindManifest, name: join(n - 2), arg: s[n-1]}, true
	case n >= 3 && s[n-2] == "referrers":
		return route{kind: kindReferrers, name: join(n - 2), arg: s[n-1]}, true
	}
	return route{}, false
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	if err := h.dispatch(w, r); err != nil {
		h.writeError(w, r, err)
	}
}

func (h *Handler) dispatch(w http.ResponseWriter, r *http.Request) error {
	rt, ok := parseRoute(strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/v2"), "/"))
	if !ok {
		return fmt.Errorf("%w: %s %s", ErrUnsupported, r.Method, r.URL.Path)
	}
	if rt.kind != kindBase && (len(rt.name) > maxNameLength || !nameRE.MatchString(rt.name)) {
		return fmt.Errorf("%w: %q", ErrNameInvalid, rt.name)
	}
	push := r.Method != http.MethodGet && r.Method != http.MethodHead
	var c Client
	if h.cfg.Authorize != nil {
		var err error
		if c, err = h.cfg.Authorize(r, rt.name, push); err != nil {
			return err
		}
	}
	switch m := r.Method; {
	case rt.kind == kindBase && (m == http.MethodGet || m == http.MethodHead):
		w.WriteHeader(http.StatusOK)
		return nil
	case rt.kind == kindBlob && (m == http.MethodGet || m == http.MethodHead):
		return h.getBlob(w, r, rt)
	case rt.kind == kindBlob && m == http.MethodDelete:
		return h.deleteBlob(w, r, rt, c)
	case rt.kind == kindUploadStart && m == http.MethodPost:
		return h.startUpload(w, r, rt, c)
	case rt.kind == kindUpload && m == http.MethodGet:
		return h.uploadStatus(w, r, rt)
	case rt.kind == kindUpload && m == http.MethodPatch:
		return h.patchUpload(w, r, rt)
	case rt.kind == kindUpload && m == http.MethodPut:
		return h.finishUpload(w, r, rt)
	case rt.kind == kindUpload && m == http.MethodDelete:
		return h.cancelUpload(w, r, rt)
	case rt.kind == kindManifest && (m == http.MethodGet || m == http.MethodHead):
		return h.getManifest(w, r, rt)
	case rt.kind == kindManifest && m == http.MethodPut:
		return h.putManifest(w, r, rt, c)
	case rt.kind == kindManifest && m == http.MethodDelete:
		return h.deleteManifest(w, r, rt, c)
	case rt.kind == kindTags && m == http.MethodGet:
		return h.listTags(w, r, rt)
	case rt.kind == kindReferrers && m == http.MethodGet:
		return h.listReferrers(w, r, rt)
	}
	return fmt.Errorf("%w: %s %s", ErrUnsupported, r.Method, r.URL.Path)
}

type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// writeError answers err in the OCI error format; unexpected errors are
// logged and answered without their text.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code, status, ok := statusOf(err)
	msg := err.Error()
	if !ok {
		h.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "error", err)
		msg = "internal error"
	} else {
		h.log.Debug("request refused", "method", r.Method, "path", r.URL.Path, "code", code, "error", err)
	}
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusUnauthorized && h.cfg.Challenge != nil {
		w.Header().Set("WWW-Authenticate", h.cfg.Challenge(r))
	}
	var refused *limit.Refusal
	if errors.As(err, &refused) {
		w.Header().Set("Retry-After", limit.RetryAfter(refused.After))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	json.NewEncoder(w).Encode(errorBody{Errors: []errorEntry{{Code: code, Message: msg}}})
}

func newUploadID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

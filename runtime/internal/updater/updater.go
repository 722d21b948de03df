package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing/fstest"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/pgnotify"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// Policy is how a module follows new releases.
type Policy string

// The policies.
const (
	PolicyAuto   Policy = "auto"   // install updates as they are published
	PolicyNotify Policy = "notify" // record that one is available
	PolicyPinned Policy = "pinned" // stay on the installed version
)

// Errors.
var (
	// ErrVerify wraps every refusal of an artifact or release: it does
	// not match what was signed, is revoked, or speaks another ABI.
	ErrVerify = errors.New("updater: release refused")
	// ErrTransfer: a download broke off, or brought bytes other than the
	// signed ones (a mirror, a proxy, a man in the middle, a dropped
	// connection). It says nothing against the signed release, so nothing
	// is refused for good: the next check tries again.
	ErrTransfer = errors.New("updater: download failed")
	// ErrNotInstalled: the module is not installed from the registry.
	ErrNotInstalled = errors.New("updater: module not installed")
	// ErrNoPrevious: nothing to roll back to.
	ErrNoPrevious = errors.New("updater: no previous version on record")
	// ErrNothingOlder: the version on record before the serving one is
	// newer (a rollback already happened): a rollback would go forward.
	ErrNothingOlder = errors.New("updater: nothing older to roll back to")
	// ErrUnreachable: the registry did not answer (network, or an HTTP
	// error status), as opposed to answering with something refused.
	ErrUnreachable = errors.New("updater: registry unreachable")
	// ErrConflict: another runtime changed the module meanwhile.
	ErrConflict = errors.New("updater: the module changed meanwhile")
	// ErrNothingStaged: approve with nothing waiting for approval.
	ErrNothingStaged = errors.New("updater: no update is waiting for approval")
)

// Runtime is the running site the updater changes.
type Runtime interface {
	// Swap makes p the serving version of its module (starting it when it
	// is not running) without failing a request. commit, when not nil,
	// runs once the new version is migrated, warm and healthy, before it
	// takes traffic; its error cancels the swap. rollback tolerates a
	// schema migrated by a newer version.
	Swap(ctx context.Context, p *modhost.Package, ap modhost.Approval, rollback bool, commit func(context.Context) error) error
	// Running returns the serving version of a module.
	Running(name string) (version string, ok bool)
}

// Config configures an Updater.
type Config struct {
	// Registry is the registry's base URL.
	Registry string
	// Root is the pinned TUF root, used until a verified rotation replaces
	// it in Dir.
	Root []byte
	// Dir keeps the trusted TUF metadata (Dir/tuf) and the verified
	// packages (an OCI image layout in Dir/oci).
	Dir string
	// Pool is the runtime's core database.
	Pool *pgxpool.Pool
	// Runtime is what the updater installs into.
	Runtime Runtime
	// Interval is how often Run checks for updates besides the watch
	// stream's notices (10 minutes).
	Interval time.Duration
	// Token is a bearer token for registries that require one to pull
	// (registry serve --private-pulls); "" pulls anonymously.
	Token string
	// RegistryCA, when set, holds the PEM certificates of the only CAs
	// trusted for the registry's TLS certificate, for TUF metadata, OCI
	// pulls and the watch stream alike (the system roots).
	RegistryCA []byte
	// PlainLoopback allows a plain http:// Registry on a loopback address:
	// development only (websonic dev). Any other plain-HTTP registry is
	// refused, since a pull token would cross the network in clear.
	PlainLoopback bool
	// HTTPClient reaches the registry; nil means a client built from
	// RegistryCA (see clients). Either way Limits bound its requests.
	HTTPClient *http.Client
	// Limits bound every registry transfer and the package store.
	Limits Limits
	Logger hclog.Logger
	// Queue is the site's request queue, on which the updater registers
	// install, rollback, approve and policy (nil: its own, on Pool).
	Queue *requestq.Queue

	// ValidateTheme judges a theme's files (theme.json, templates,
	// assets/) after they are verified and before the theme is installed
	// or served: the theme package's Validate. nil refuses every theme.
	ValidateTheme func(fs.FS) error
	// ThemesChanged, when set, is called after the installed themes
	// (names or versions) change, here or on another replica, so that the
	// site reads its active theme again (ThemeFiles). It must not block.
	ThemesChanged func()
	// ThemeInUse, when set, tells whether a theme is the site's active
	// one: UninstallTheme refuses it.
	ThemeInUse func(ctx context.Context, name string) (bool, error)

	// SelfUpdate is the runtime binary's own update (runtime.go); the
	// zero value checks nothing.
	SelfUpdate RuntimeConfig
}

// NotifyPurpose names the site's channel (package pgnotify) of module
// requests and installation changes.
const NotifyPurpose = requestq.NotifyPurpose

// Limits bound the updater's registry transfers and its package store.
// Zero fields take the defaults shown (New fills them).
type Limits struct {
	// HeaderTimeout bounds each registry request (TUF metadata and targets,
	// OCI manifests and blobs) until its response headers arrive,
	// connecting and TLS included (30s).
	HeaderTimeout time.Duration
	// MinRate is the slowest a response body may arrive, in bytes per
	// second, measured over each StallWindow: a transfer that moves less in
	// a window and is not done is abandoned (16 KiB/s). Each answer must
	// also end within StallWindow plus the time its length takes at
	// MinRate.
	MinRate int64
	// StallWindow is the window MinRate is measured over (30s).
	StallWindow time.Duration
	// StoreMax caps the package store (Dir/oci) in bytes: a download that
	// would take it past the cap is refused and the owner alerted (1 GiB).
	// During an update the store holds three versions of the module: the
	// serving one, the previous one and the new one.
	StoreMax int64
}

func (l *Limits) defaults() {
	if l.HeaderTimeout <= 0 {
		l.HeaderTimeout = 30 * time.Second
	}
	if l.MinRate <= 0 {
		l.MinRate = 16 << 10
	}
	if l.StallWindow <= 0 {
		l.StallWindow = 30 * time.Second
	}
	if l.StoreMax <= 0 {
		l.StoreMax = 1 << 30
	}
}

// Updater installs, updates and rolls back modules.
//
// # Concurrency
//
// Changes are serialised: every swap runs under one lock, so two never run
// at once. The site owner's requests (Install, Approve, Rollback) hold it
// for their whole run; background work (Check, the reconciling in Run)
// downloads without it and takes it only to swap, after checking that the
// installation record it decided on has not changed meanwhile (else it
// drops the change and checks again). Registry transfers are bounded
// (Limits), and the TUF client, which serves one operation at a time, goes
// to the owner first: a request pre-empts a background refresh or download
// (ErrPreempted), and Rollback, which works from disk, does not wait for
// it at all when another operation holds it. So an owner's request never
// waits behind a background transfer, however slow the registry. The
// methods are safe for concurrent use.
type Updater struct {
	cfg   Config
	log   hclog.Logger
	tuf   *tufrepo.Client
	store *store
	gate  *gate // the TUF client
	host  string
	plain bool

	stream *http.Client // the watch stream's: no overall timeout

	mu      sync.Mutex      // one change at a time
	checkMu sync.Mutex      // one Check at a time
	alerted map[string]bool // revoked installs already reported; under checkMu
	// runtimeFailing: runtime versions whose install failed (not refused)
	// and was recorded; under mu.
	runtimeFailing map[string]bool
	kick           chan struct{}

	lastAlert string // the refresh failure last reported; under the gate

	memo       sync.Mutex
	failing    map[string]failure // "name@digest" that failed to start
	storeAlert string             // the release last refused for the store's cap
	channel    string             // the site's NOTIFY channel of module changes (pgnotify)

	queue *requestq.Queue // the site's request queue, served by Run too
	recon chan struct{}   // wakes the reconciler

	// Themes (themes.go).
	themeMu       sync.Mutex
	themeCache    map[string]*ocipkg.Theme // verified and validated, by digest; under themeMu
	themeSeen     string                   // the installed themes last noted; under themeMu
	refusedThemes map[string]bool          // theme digests refused by a check; under checkMu
	themeWake     chan struct{}            // wakes themeReconciler
}

// New creates the updater's directories and clients and removes what a
// crash left in the package store. It does no network I/O.
func New(ctx context.Context, cfg Config) (*Updater, error) {
	if cfg.Registry == "" || len(cfg.Root) == 0 || cfg.Dir == "" || cfg.Pool == nil || cfg.Runtime == nil {
		return nil, errors.New("updater: Config needs Registry, Root, Dir, Pool and Runtime")
	}
	u, err := url.Parse(cfg.Registry)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("updater: registry URL %q: want https://host[:port]", cfg.Registry)
	}
	if u.Scheme == "http" && !(cfg.PlainLoopback && isLoopback(u.Hostname())) {
		return nil, fmt.Errorf("updater: registry URL %q: the registry is reached over HTTPS only (plain HTTP only to a loopback address, in development)", cfg.Registry)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Minute
	}
	if err := cfg.SelfUpdate.validate(); err != nil {
		return nil, err
	}
	requests, stream, err := clients(cfg)
	if err != nil {
		return nil, err
	}
	cfg.HTTPClient = requests
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	cfg.Limits.defaults()
	cfg.HTTPClient = limitClient(cfg.HTTPClient, cfg.Limits)
	base := strings.TrimSuffix(cfg.Registry, "/")
	tc, err := tufrepo.NewClient(tufrepo.ClientConfig{
		MetadataURL: base + "/v1/tuf", Root: cfg.Root, Dir: filepath.Join(cfg.Dir, "tuf"), HTTPClient: cfg.HTTPClient,
	})
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	channel, err := pgnotify.Channel(ctx, cfg.Pool, NotifyPurpose)
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	store, err := openStore(filepath.Join(cfg.Dir, "oci"), cfg.Limits.StoreMax)
	if err != nil {
		return nil, err
	}
	q := cfg.Queue
	if q == nil {
		if q, err = requestq.New(ctx, requestq.Config{Pool: cfg.Pool, Logger: cfg.Logger.Named("requests")}); err != nil {
			return nil, fmt.Errorf("updater: %w", err)
		}
	}
	up := &Updater{
		cfg: cfg, log: cfg.Logger, tuf: tc, store: store, gate: newGate(), host: u.Host, plain: u.Scheme == "http", stream: stream,
		kick: make(chan struct{}, 1), alerted: map[string]bool{}, runtimeFailing: map[string]bool{}, failing: map[string]failure{}, channel: channel,
		queue: q, recon: make(chan struct{}, 1),
		themeCache: map[string]*ocipkg.Theme{}, refusedThemes: map[string]bool{}, themeWake: make(chan struct{}, 1),
	}
	up.register(q)
	up.removeStaged()
	return up, nil
}

// failure is a recorded version that failed to start, retried with backoff.
type failure struct {
	delay time.Duration
	next  time.Time
}

// Installed is a module's installation record.
type Installed struct {
	Name, Version, Digest           string
	PreviousVersion, PreviousDigest string
	Channel                         tufrepo.Channel
	Policy                          Policy
	Approved                        manifest.Capabilities
	StagedVersion, StagedReason     string
	UpdatedAt                       time.Time
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

const installCols = `name, version, digest, coalesce(previous_version, ''), coalesce(previous_digest, ''), channel, policy,
	approved, coalesce(staged_version, ''), coalesce(staged_reason, ''), updated_at`

func scanInstalled(row pgx.CollectableRow) (Installed, error) {
	var in Installed
	var approved []byte
	err := row.Scan(&in.Name, &in.Version, &in.Digest, &in.PreviousVersion, &in.PreviousDigest, &in.Channel, &in.Policy,
		&approved, &in.StagedVersion, &in.StagedReason, &in.UpdatedAt)
	if err != nil {
		return in, err
	}
	if err := json.Unmarshal(approved, &in.Approved); err != nil {
		return in, fmt.Errorf("approved capabilities of %s: %w", in.Name, err)
	}
	return in, nil
}

func list(ctx context.Context, q querier, where string, args ...any) ([]Installed, error) {
	rows, err := q.Query(ctx, `SELECT `+installCols+` FROM websonic.module_installs `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("updater: installed modules: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanInstalled)
	if err != nil {
		return nil, fmt.Errorf("updater: installed modules: %w", err)
	}
	return out, nil
}

// List returns the installed modules.
func (u *Updater) List(ctx context.Context) ([]Installed, error) { return list(ctx, u.cfg.Pool, "") }

// ListFrom returns the modules installed according to a runtime database.
func ListFrom(ctx context.Context, pool *pgxpool.Pool) ([]Installed, error) {
	return list(ctx, pool, "")
}

func (u *Updater) get(ctx context.Context, name string) (*Installed, error) {
	ins, err := list(ctx, u.cfg.Pool, "WHERE name = $1", name)
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNotInstalled, name)
	}
	return &ins[0], nil
}

// event records an outcome for the owner.
func (u *Updater) event(ctx context.Context, module, from, to, outcome, reason string) {
	u.eventKind(ctx, "module", module, from, to, outcome, reason)
}

// eventKind records an outcome of a module or a theme (kind).
func (u *Updater) eventKind(ctx context.Context, kind, name, from, to, outcome, reason string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second) // record even a cancelled attempt
	defer cancel()
	if _, err := u.cfg.Pool.Exec(ctx, `INSERT INTO websonic.update_events (kind, module, from_version, to_version, outcome, reason)
		VALUES ($1, $2, nullif($3, ''), nullif($4, ''), $5, $6)`, kind, name, from, to, outcome, reason); err != nil {
		u.log.Error("recording an update event", kind, name, "outcome", outcome, "error", err)
	}
}

// Event is a recorded outcome.
type Event struct {
	At                                time.Time
	Module, From, To, Outcome, Reason string
}

// Events returns the newest events first, at most limit.
func (u *Updater) Events(ctx context.Context, limit int) ([]Event, error) {
	return EventsFrom(ctx, u.cfg.Pool, limit)
}

// EventsFrom returns a runtime database's newest module update events
// first (ThemeEventsFrom has the themes').
func EventsFrom(ctx context.Context, pool *pgxpool.Pool, limit int) ([]Event, error) {
	return eventsOf(ctx, pool, "module", limit)
}

func eventsOf(ctx context.Context, pool *pgxpool.Pool, kind string, limit int) ([]Event, error) {
	rows, err := pool.Query(ctx, `SELECT at, module, coalesce(from_version, ''), coalesce(to_version, ''), outcome, reason
		FROM websonic.update_events WHERE kind = $2 ORDER BY id DESC LIMIT $1`, limit, kind)
	if err != nil {
		return nil, fmt.Errorf("updater: events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		return e, r.Scan(&e.At, &e.Module, &e.From, &e.To, &e.Outcome, &e.Reason)
	})
}

// refresh updates the trusted metadata; a failure alerts the owner once
// per distinct reason and changes nothing. Pre-empted (see gate), it
// returns an error wrapping ErrPreempted and alerts nobody.
func (u *Updater) refresh(ctx context.Context, p priority) error {
	gctx, done, err := u.gate.acquire(ctx, p)
	if err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	defer done()
	return u.refreshHeld(ctx, gctx)
}

// tryRefresh is refresh unless another operation holds or awaits the TUF
// client: a rollback then goes on with the last trusted metadata instead
// of waiting for a registry that may be stalled.
func (u *Updater) tryRefresh(ctx context.Context) error {
	gctx, done, ok := u.gate.try(ctx)
	if !ok {
		return errors.New("updater: another transfer from the registry is under way")
	}
	defer done()
	return u.refreshHeld(ctx, gctx)
}

// refreshHeld refreshes under gctx, the gate's context for ctx.
func (u *Updater) refreshHeld(ctx, gctx context.Context) error {
	err := u.tuf.Refresh(gctx)
	if errors.Is(context.Cause(gctx), ErrPreempted) {
		return fmt.Errorf("updater: metadata refresh: %w", ErrPreempted)
	}
	if err == nil {
		if u.lastAlert != "" {
			u.log.Info("registry metadata verifies again")
			u.lastAlert = ""
		}
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	if unreachable(err) {
		err = fmt.Errorf("%w: %s: %w", ErrUnreachable, u.cfg.Registry, err)
	} else {
		err = fmt.Errorf("updater: registry metadata refused: %w", err)
	}
	reason := err.Error()
	if reason != u.lastAlert {
		u.lastAlert = reason
		if errors.Is(err, ErrUnreachable) {
			u.log.Error("registry unreachable; installed modules keep serving", "registry", u.cfg.Registry, "error", err)
		} else {
			u.log.Error("registry metadata refused; installed modules keep serving", "registry", u.cfg.Registry, "error", err)
		}
		u.event(ctx, "", "", "", "alert", reason)
	}
	return err
}

// unreachable reports whether err is the registry not answering (a
// network error or an HTTP error status) rather than a refusal of what it
// sent (bad signature, rollback, expiry, wrong length or digest).
func unreachable(err error) bool {
	if errors.Is(err, &metadata.ErrDownloadLengthMismatch{}) {
		return false
	}
	var ue *url.Error
	var ne net.Error
	return errors.Is(err, &metadata.ErrDownload{}) || errors.As(err, &ue) || errors.As(err, &ne)
}

// repository is the registry's OCI repository of a module.
func (u *Updater) repository(module string) (*remote.Repository, error) {
	return u.repositoryNamed("modules/" + module)
}

// repositoryNamed is the registry's OCI repository name (modules/<name>,
// themes/<name>).
func (u *Updater) repositoryNamed(name string) (*remote.Repository, error) {
	repo, err := remote.NewRepository(u.host + "/" + name)
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	repo.PlainHTTP = u.plain
	repo.Client = u.cfg.HTTPClient
	if u.cfg.Token != "" {
		repo.Client = &auth.Client{
			Client:     u.cfg.HTTPClient,
			Credential: auth.StaticCredential(u.host, auth.Credential{AccessToken: u.cfg.Token}),
		}
	}
	return repo, nil
}

// fetch returns rel's package, verified: from the local store when it is
// there, else downloaded (see the package doc) at priority p. l keeps what
// it stores until the caller has recorded the package or given up; a
// download is refused before it starts if it would take the store past
// its cap (the owner is alerted once per release).
func (u *Updater) fetch(ctx context.Context, rel *tufrepo.Release, p priority, l *lease) (*modhost.Package, error) {
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(rel.ManifestDigest), Size: rel.Length}
	l.holdManifest(desc.Digest)
	have, err := u.store.Exists(ctx, desc)
	if err != nil {
		return nil, err
	}
	if !have {
		raw, err := u.download(ctx, rel, p)
		if err != nil {
			return nil, u.transferError(rel, err)
		}
		if err := ocipkg.CheckManifest(raw); err != nil { // before downloading what it names
			return nil, fmt.Errorf("%w: %s: %w", ErrVerify, rel, err)
		}
		var im ocispec.Manifest
		if err := json.Unmarshal(raw, &im); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrVerify, rel, err)
		}
		if err := u.reserve(ctx, rel, l, append([]ocispec.Descriptor{desc, im.Config}, im.Layers...)); err != nil {
			return nil, err
		}
		repo, err := u.repository(rel.Module)
		if err != nil {
			return nil, err
		}
		if err := oras.CopyGraph(ctx, repo, u.store, desc, oras.DefaultCopyGraphOptions); err != nil {
			return nil, u.transferError(rel, err)
		}
	}
	return u.load(ctx, rel)
}

// download fetches rel's OCI manifest as its TUF target.
func (u *Updater) download(ctx context.Context, rel *tufrepo.Release, p priority) ([]byte, error) {
	gctx, done, err := u.gate.acquire(ctx, p)
	if err != nil {
		return nil, err
	}
	defer done()
	raw, _, err := u.tuf.Download(gctx, rel.Module, rel.Version)
	if errors.Is(context.Cause(gctx), ErrPreempted) {
		return nil, ErrPreempted
	}
	return raw, err
}

// transferError wraps a failed download. A release revoked meanwhile is
// refused (ErrVerify); a registry too slow, a pre-emption or a
// cancellation is reported as it is; an unreachable registry wraps
// ErrUnreachable; anything else (cut short, changed in transit: what came
// is not what was signed) wraps ErrTransfer, never ErrVerify — whoever
// can disturb a download must not get a signed release refused for good.
// (go-tuf's fetcher interface keeps only the text of a transfer's error,
// hence the text match.)
func (u *Updater) transferError(rel *tufrepo.Release, err error) error {
	if errors.Is(err, tufrepo.ErrRevoked) {
		return fmt.Errorf("%w: %s: %w", ErrVerify, rel, err)
	}
	if errors.Is(err, ErrTooSlow) || errors.Is(err, ErrPreempted) || errors.Is(err, context.Canceled) ||
		strings.Contains(err.Error(), ErrTooSlow.Error()) {
		return fmt.Errorf("updater: %s: download: %w", rel, err)
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %s: downloading %s: %w", ErrUnreachable, u.cfg.Registry, rel, err)
	}
	return fmt.Errorf("%w: %s: %w", ErrTransfer, rel, err)
}

// reserve makes room in the store for the blobs of descs it lacks, and
// leases them: collecting first when the store is full, refusing when it
// stays so.
func (u *Updater) reserve(ctx context.Context, rel *tufrepo.Release, l *lease, descs []ocispec.Descriptor) error {
	l.holdBlobs(descs...)
	var need int64
	for _, d := range descs {
		have, err := u.store.Exists(ctx, d)
		if err != nil {
			return err
		}
		if !have {
			need += d.Size
		}
	}
	err := l.reserve(need)
	if errors.Is(err, ErrStoreFull) {
		u.collect(ctx)
		err = l.reserve(need)
	}
	u.memo.Lock()
	defer u.memo.Unlock()
	if err == nil {
		u.storeAlert = ""
		return nil
	}
	err = fmt.Errorf("%w (downloading %s)", err, rel)
	if errors.Is(err, ErrStoreFull) && u.storeAlert != rel.String() {
		u.storeAlert = rel.String()
		u.log.Error("package store full; the update is refused and installed modules keep serving", "release", rel, "error", err)
		u.eventKind(ctx, rel.Kind.String(), rel.Module, "", rel.Version, "alert", err.Error())
	}
	return err
}

// collect removes from the package store what no installation needs: see
// store. The keep list is read under the store's lock, so a change
// committed meanwhile is either in it or still leased.
func (u *Updater) collect(ctx context.Context) {
	if ctx.Err() != nil {
		return // stopping: the next start collects
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	freed, err := u.store.collect(func() ([]digest.Digest, error) { return u.needed(ctx) })
	if err != nil {
		u.log.Error("package store: collecting", "error", err)
		return
	}
	if freed > 0 {
		u.log.Debug("package store: collected", "freed", mib(freed))
	}
}

// needed lists the image manifests the installations need: every module's
// serving and previous versions and its staged one when the trusted
// metadata knows it.
func (u *Updater) needed(ctx context.Context) ([]digest.Digest, error) {
	ins, err := u.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, in := range ins {
		out = append(out, digest.Digest(in.Digest))
		if in.PreviousDigest != "" {
			out = append(out, digest.Digest(in.PreviousDigest))
		}
		if in.StagedVersion != "" {
			if rel, err := u.tuf.Release(in.Name, in.StagedVersion); err == nil {
				out = append(out, digest.Digest(rel.ManifestDigest))
			}
		}
	}
	themes, err := u.Themes(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range themes {
		out = append(out, digest.Digest(t.Digest))
		if t.PreviousDigest != "" {
			out = append(out, digest.Digest(t.PreviousDigest))
		}
	}
	return out, nil
}

// load reads rel's package from the local store, verifying every blob
// and that the package is the release that was signed.
func (u *Updater) load(ctx context.Context, rel *tufrepo.Release) (*modhost.Package, error) {
	p, err := u.loadStored(ctx, rel)
	if err != nil {
		return nil, err
	}
	if err := rel.Matches(p.Manifest); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	return p, nil
}

// release finds a release in the trusted metadata: version "" means the
// newest on channel. Revoked releases and other ABIs are refused.
func (u *Updater) release(name, version string, channel tufrepo.Channel) (*tufrepo.Release, error) {
	var rel *tufrepo.Release
	var err error
	if version == "" {
		rel, err = u.tuf.Latest(name, channel)
	} else {
		rel, err = u.tuf.Release(name, version)
	}
	if err != nil {
		if errors.Is(err, tufrepo.ErrRevoked) {
			return nil, fmt.Errorf("%w: %w", ErrVerify, err)
		}
		return nil, fmt.Errorf("updater: %w", err)
	}
	if !abi.Speaks(rel.ABIVersion) {
		return nil, fmt.Errorf("%w: %s needs host ABI v%d; this runtime speaks v%d to v%d", ErrVerify, rel, rel.ABIVersion, abi.MinVersion, abi.Version)
	}
	return rel, nil
}

// approval is what the runtime grants a package under approved.
func approval(p *modhost.Package, approved manifest.Capabilities) modhost.Approval {
	var views []string
	for _, v := range p.Manifest.Capabilities.CoreData {
		for _, a := range approved.CoreData {
			if v == a {
				views = append(views, v)
			}
		}
	}
	return modhost.Approval{Views: views}
}

// record is what an installation record says of its versions.
type record struct{ Version, Digest, PreviousVersion, PreviousDigest string }

// lockRecord locks name's row of table (module_installs, theme_installs)
// and checks that it still says what the change was decided on (was; nil:
// no row), so that a change never overwrites one made meanwhile.
func lockRecord(ctx context.Context, tx pgx.Tx, table, name string, was *record) error {
	var cur string
	err := tx.QueryRow(ctx, `SELECT digest FROM websonic.`+table+` WHERE name = $1 FOR UPDATE`, name).Scan(&cur)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		if was != nil {
			return fmt.Errorf("%w: %s was uninstalled", ErrConflict, name)
		}
	case err != nil:
		return err
	case was == nil || cur != was.Digest:
		return fmt.Errorf("%w: %s", ErrConflict, name)
	}
	return nil
}

// previous is the previous version a record keeps once digest replaces
// was: was itself, or, when the same release is installed again, what was
// kept before it (nil: none).
func (was *record) previous(digest string) (version, dig *string) {
	switch {
	case was == nil:
		return nil, nil
	case was.Digest != digest:
		return &was.Version, &was.Digest
	}
	return nilIfEmpty(was.PreviousVersion), nilIfEmpty(was.PreviousDigest)
}

// checkChoice checks an owner's choice of policy and channel ("": keep).
func checkChoice(policy Policy, channel tufrepo.Channel) error {
	if policy != "" && policy != PolicyAuto && policy != PolicyNotify && policy != PolicyPinned {
		return fmt.Errorf("updater: policy %q (want auto, notify or pinned)", policy)
	}
	if channel != "" && channel != tufrepo.ChannelStable && channel != tufrepo.ChannelBeta {
		return fmt.Errorf("updater: channel %q (want stable or beta)", channel)
	}
	return nil
}

// chosen is an install's policy and channel: checked, "" taking the
// defaults (auto, stable).
func chosen(policy Policy, channel tufrepo.Channel) (Policy, tufrepo.Channel, error) {
	if err := checkChoice(policy, channel); err != nil {
		return "", "", err
	}
	if policy == "" {
		policy = PolicyAuto
	}
	if channel == "" {
		channel = tufrepo.ChannelStable
	}
	return policy, channel, nil
}

// change is one installation change, committed inside the swap.
type change struct {
	rel      *tufrepo.Release
	prev     *Installed // nil for a first install
	approved manifest.Capabilities
	channel  tufrepo.Channel
	policy   Policy
	outcome  string // installed, updated, rolled_back
	reason   string
	pkg      *modhost.Package // already loaded and verified; nil: fetch rel
	// by is who asks: the owner's changes run under u.mu, which the
	// caller holds; background changes download first and take it to swap.
	by priority
}

// errStale: background work decided on an installation record that
// changed while it downloaded; it drops the change and checks again.
var errStale = errors.New("updater: the module changed meanwhile; checking again")

// apply swaps rel in and records it. Any failure leaves the running
// version serving and is recorded (but for a change that went stale or was
// pre-empted, which is tried again, a cancelled one, and a full store,
// alerted already).
// What a download stored is collected unless the record now names it.
func (u *Updater) apply(ctx context.Context, c change) error {
	from := ""
	if c.prev != nil {
		from = c.prev.Version
	}
	l := u.store.lease()
	defer func() {
		l.release()
		u.collect(ctx)
	}()
	err := u.swap(ctx, c, from, l)
	switch {
	case err == nil:
		u.log.Info("module "+strings.ReplaceAll(c.outcome, "_", " "), "module", c.rel.Module, "from", from, "to", c.rel.Version)
	case errors.Is(err, errStale), errors.Is(err, ErrPreempted), ctx.Err() != nil:
		u.log.Debug("module update postponed", "module", c.rel.Module, "to", c.rel.Version, "reason", err)
	case errors.Is(err, ErrStoreFull):
	default:
		u.log.Error("module update failed; the running version keeps serving", "module", c.rel.Module, "from", from, "to", c.rel.Version, "error", err)
		u.event(ctx, c.rel.Module, from, c.rel.Version, "failed", err.Error())
	}
	return err
}

func (u *Updater) swap(ctx context.Context, c change, from string, l *lease) error {
	p := c.pkg
	if p == nil {
		var err error
		if p, err = u.fetch(ctx, c.rel, c.by, l); err != nil {
			return err
		}
	}
	if c.by == background {
		u.mu.Lock()
		defer u.mu.Unlock()
		cur, err := u.get(ctx, c.rel.Module)
		if errors.Is(err, ErrNotInstalled) || (err == nil && !sameRecord(cur, c.prev)) {
			return errStale
		}
		if err != nil {
			return err
		}
	}
	rollback := from != "" && tufrepo.CompareVersions(c.rel.Version, from) < 0
	approved, err := json.Marshal(c.approved)
	if err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	commit := func(ctx context.Context) error {
		return pgx.BeginFunc(ctx, u.cfg.Pool, func(tx pgx.Tx) error {
			var was *record
			if c.prev != nil {
				was = &record{c.prev.Version, c.prev.Digest, c.prev.PreviousVersion, c.prev.PreviousDigest}
			}
			if err := lockRecord(ctx, tx, "module_installs", c.rel.Module, was); err != nil {
				return err
			}
			prevV, prevD := was.previous(c.rel.ManifestDigest)
			if _, err := tx.Exec(ctx, `INSERT INTO websonic.module_installs
				(name, version, digest, previous_version, previous_digest, channel, policy, approved)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
				ON CONFLICT (name) DO UPDATE SET version = $2, digest = $3, previous_version = $4, previous_digest = $5,
					channel = $6, policy = $7, approved = $8,
					staged_version = CASE WHEN module_installs.staged_version = $2 THEN NULL ELSE module_installs.staged_version END,
					staged_reason = CASE WHEN module_installs.staged_version = $2 THEN NULL ELSE module_installs.staged_reason END,
					updated_at = now()`,
				c.rel.Module, c.rel.Version, c.rel.ManifestDigest, prevV, prevD, string(c.channel), string(c.policy), approved); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO websonic.update_events (module, from_version, to_version, outcome, reason)
				VALUES ($1, nullif($2, ''), $3, $4, $5)`, c.rel.Module, from, c.rel.Version, c.outcome, c.reason); err != nil {
				return err
			}
			return pgnotify.Notify(ctx, tx, u.channel)
		})
	}
	return u.cfg.Runtime.Swap(ctx, p, approval(p, c.approved), rollback, commit)
}

// sameRecord tells whether an installation record is still the one a
// background change was decided on.
func sameRecord(cur, prev *Installed) bool {
	return prev != nil && cur.Digest == prev.Digest && cur.Policy == prev.Policy && cur.Channel == prev.Channel &&
		cur.UpdatedAt.Equal(prev.UpdatedAt)
}

func nilIfEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// Install installs module name at version ("" for the newest release of
// channel) with policy, approving the capabilities it asks for: the site
// owner's explicit choice. An installed module moves to that version.
func (u *Updater) Install(ctx context.Context, name, version string, channel tufrepo.Channel, policy Policy) (*tufrepo.Release, error) {
	return u.install(ctx, name, version, channel, policy, "")
}

// install is Install refusing any release but the one of digest ("" for
// any).
func (u *Updater) install(ctx context.Context, name, version string, channel tufrepo.Channel, policy Policy, digest string) (*tufrepo.Release, error) {
	policy, channel, err := chosen(policy, channel)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refresh(ctx, owner); err != nil {
		return nil, err
	}
	rel, err := u.release(name, version, channel)
	if err != nil {
		return nil, err
	}
	if err := confirmed(rel, digest); err != nil {
		return nil, err
	}
	prev, err := u.get(ctx, name)
	if err != nil && !errors.Is(err, ErrNotInstalled) {
		return nil, err
	}
	var caps manifest.Capabilities
	if err := json.Unmarshal(rel.Capabilities, &caps); err != nil {
		return nil, fmt.Errorf("%w: %s: capabilities: %w", ErrVerify, rel, err)
	}
	outcome := "installed"
	if prev != nil {
		outcome = "updated"
		if tufrepo.CompareVersions(rel.Version, prev.Version) < 0 {
			outcome = "rolled_back"
		}
	}
	return rel, u.apply(ctx, change{rel: rel, prev: prev, approved: caps, channel: channel, policy: policy, outcome: outcome, reason: "installed by the site owner", by: owner})
}

// Rollback returns a module to its previous version, from disk.
func (u *Updater) Rollback(ctx context.Context, name string) (*tufrepo.Release, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	cur, err := u.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if cur.PreviousVersion == "" {
		return nil, fmt.Errorf("%w: %s", ErrNoPrevious, name)
	}
	if tufrepo.CompareVersions(cur.PreviousVersion, cur.Version) >= 0 {
		// A rollback records the version it left as the previous one; going
		// there would be a roll forward.
		return nil, fmt.Errorf("%w: %s@%s is serving and the version on record before it, %s, is newer (rolled back from); `websonic module install %s@%s` returns to it",
			ErrNothingOlder, name, cur.Version, cur.PreviousVersion, name, cur.PreviousVersion)
	}
	// The previous version was verified when it was installed and is
	// verified again from disk. Fresh metadata says whether its publisher
	// has revoked it since; a rollback must work in a registry outage,
	// though, and never waits for a transfer another operation holds, so
	// a registry unreachable, slow or busy is recorded, not fatal.
	var pkg *modhost.Package
	rel := &tufrepo.Release{Module: name, Version: cur.PreviousVersion, ManifestDigest: cur.PreviousDigest}
	if rerr := u.tryRefresh(ctx); rerr != nil {
		u.event(ctx, name, cur.Version, cur.PreviousVersion, "alert", "rolling back with the last trusted metadata (the registry's did not refresh): "+rerr.Error())
	}
	signed, err := u.tuf.Release(name, cur.PreviousVersion)
	switch {
	case errors.Is(err, tufrepo.ErrRevoked):
		return nil, fmt.Errorf("%w: %w: roll forward instead", ErrVerify, err)
	case err == nil && signed.ManifestDigest != cur.PreviousDigest:
		return nil, fmt.Errorf("%w: %s is signed with digest %s, but %s is on record", ErrVerify, signed, signed.ManifestDigest, cur.PreviousDigest)
	case err == nil && !abi.Speaks(signed.ABIVersion):
		return nil, fmt.Errorf("%w: %s needs host ABI v%d", ErrVerify, signed, signed.ABIVersion)
	case err == nil:
		rel = signed
	case !errors.Is(err, tufrepo.ErrNotFound) && !errors.Is(err, tufrepo.ErrNotRefreshed):
		return nil, fmt.Errorf("updater: %w", err)
	}
	if rel.Length == 0 { // not listed: from disk by digest alone
		var err error
		if pkg, err = u.loadStored(ctx, rel); err != nil {
			return nil, err
		}
	}
	policy := cur.Policy
	if policy == PolicyAuto {
		policy = PolicyPinned // or the next check would update it again
	}
	c := change{rel: rel, prev: cur, approved: cur.Approved, channel: cur.Channel, policy: policy, outcome: "rolled_back",
		reason: "rolled back by the site owner; pinned until the next install", pkg: pkg, by: owner}
	// The rolled-back-from version becomes the previous one.
	return rel, u.apply(ctx, c)
}

// loadStored reads a package from the local store by digest (every blob
// verified) and checks its name and version; load also checks it against
// the signed release, which a version no longer listed lacks.
func (u *Updater) loadStored(ctx context.Context, rel *tufrepo.Release) (*modhost.Package, error) {
	files, err := ocipkg.FetchFrom(ctx, u.store, rel.ManifestDigest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not on disk any more: %w", ErrVerify, rel, err)
	}
	fsys := fstest.MapFS{}
	for name, b := range files {
		fsys[name] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	p, err := modhost.LoadFS(fsys, rel.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrVerify, err)
	}
	if p.Manifest.Name != rel.Module || p.Manifest.Version != rel.Version {
		return nil, fmt.Errorf("%w: %s: the stored package is %s@%s", ErrVerify, rel, p.Manifest.Name, p.Manifest.Version)
	}
	return p, nil
}

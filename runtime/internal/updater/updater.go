package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
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
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/modhost"
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

// Notify is the NOTIFY channel of module requests and installation
// changes.
const Notify = "websonic_modules"

// Errors.
var (
	// ErrVerify wraps every refusal of an artifact or release: it does
	// not match what was signed, is revoked, or speaks another ABI.
	ErrVerify = errors.New("updater: release refused")
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
	// HTTPClient reaches the registry; nil means a client with a 2 minute
	// timeout.
	HTTPClient *http.Client
	Logger     hclog.Logger
}

// Updater installs, updates and rolls back modules. Its operations are
// serialised.
type Updater struct {
	cfg   Config
	log   hclog.Logger
	tuf   *tufrepo.Client
	store *oci.Store
	host  string
	plain bool

	mu        sync.Mutex         // one operation at a time
	lastAlert string             // the refresh failure last reported
	alerted   map[string]bool    // revoked installs already reported
	failing   map[string]failure // "name@digest" that failed to start
	kick      chan struct{}
}

// New creates the updater's directories and clients. It does no network
// I/O.
func New(ctx context.Context, cfg Config) (*Updater, error) {
	if cfg.Registry == "" || len(cfg.Root) == 0 || cfg.Dir == "" || cfg.Pool == nil || cfg.Runtime == nil {
		return nil, errors.New("updater: Config needs Registry, Root, Dir, Pool and Runtime")
	}
	u, err := url.Parse(cfg.Registry)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("updater: registry URL %q: want http(s)://host[:port]", cfg.Registry)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 2 * time.Minute}
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	base := strings.TrimSuffix(cfg.Registry, "/")
	tc, err := tufrepo.NewClient(tufrepo.ClientConfig{
		MetadataURL: base + "/v1/tuf", Root: cfg.Root, Dir: filepath.Join(cfg.Dir, "tuf"), HTTPClient: cfg.HTTPClient,
	})
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "oci"), 0o700); err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	store, err := oci.NewWithContext(ctx, filepath.Join(cfg.Dir, "oci"))
	if err != nil {
		return nil, fmt.Errorf("updater: package store: %w", err)
	}
	return &Updater{
		cfg: cfg, log: cfg.Logger, tuf: tc, store: store, host: u.Host, plain: u.Scheme == "http",
		kick: make(chan struct{}, 1), alerted: map[string]bool{}, failing: map[string]failure{},
	}, nil
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
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second) // record even a cancelled attempt
	defer cancel()
	if _, err := u.cfg.Pool.Exec(ctx, `INSERT INTO websonic.update_events (module, from_version, to_version, outcome, reason)
		VALUES ($1, nullif($2, ''), nullif($3, ''), $4, $5)`, module, from, to, outcome, reason); err != nil {
		u.log.Error("recording an update event", "module", module, "outcome", outcome, "error", err)
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

// EventsFrom returns a runtime database's newest update events first.
func EventsFrom(ctx context.Context, pool *pgxpool.Pool, limit int) ([]Event, error) {
	rows, err := pool.Query(ctx, `SELECT at, module, coalesce(from_version, ''), coalesce(to_version, ''), outcome, reason
		FROM websonic.update_events ORDER BY id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("updater: events: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		return e, r.Scan(&e.At, &e.Module, &e.From, &e.To, &e.Outcome, &e.Reason)
	})
}

// refresh updates the trusted metadata; a failure alerts the owner once
// per distinct reason and changes nothing.
func (u *Updater) refresh(ctx context.Context) error {
	err := u.tuf.Refresh(ctx)
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
	repo, err := remote.NewRepository(u.host + "/modules/" + module)
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
// there, else downloaded (see the package doc).
func (u *Updater) fetch(ctx context.Context, rel *tufrepo.Release) (*modhost.Package, error) {
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(rel.ManifestDigest), Size: rel.Length}
	have, err := u.store.Exists(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("updater: package store: %w", err)
	}
	if !have {
		raw, _, err := u.tuf.Download(ctx, rel.Module, rel.Version)
		if err != nil && unreachable(err) {
			return nil, fmt.Errorf("%w: %s: downloading %s: %w", ErrUnreachable, u.cfg.Registry, rel, err)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrVerify, rel, err)
		}
		if err := ocipkg.CheckManifest(raw); err != nil { // before downloading what it names
			return nil, fmt.Errorf("%w: %s: %w", ErrVerify, rel, err)
		}
		repo, err := u.repository(rel.Module)
		if err != nil {
			return nil, err
		}
		if err := oras.CopyGraph(ctx, repo, u.store, desc, oras.DefaultCopyGraphOptions); err != nil && unreachable(err) {
			return nil, fmt.Errorf("%w: %s: downloading %s: %w", ErrUnreachable, u.cfg.Registry, rel, err)
		} else if err != nil {
			return nil, fmt.Errorf("%w: %s: download: %w", ErrVerify, rel, err)
		}
	}
	return u.load(ctx, rel)
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
	if rel.ABIVersion != abi.Version {
		return nil, fmt.Errorf("%w: %s needs host ABI v%d; this runtime speaks v%d", ErrVerify, rel, rel.ABIVersion, abi.Version)
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
}

// apply swaps rel in and records it. Any failure leaves the running
// version serving and is recorded.
func (u *Updater) apply(ctx context.Context, c change) error {
	from := ""
	if c.prev != nil {
		from = c.prev.Version
	}
	err := u.swap(ctx, c, from)
	if err != nil {
		u.log.Error("module update failed; the running version keeps serving", "module", c.rel.Module, "from", from, "to", c.rel.Version, "error", err)
		u.event(ctx, c.rel.Module, from, c.rel.Version, "failed", err.Error())
		return err
	}
	u.log.Info("module "+strings.ReplaceAll(c.outcome, "_", " "), "module", c.rel.Module, "from", from, "to", c.rel.Version)
	return nil
}

func (u *Updater) swap(ctx context.Context, c change, from string) error {
	p := c.pkg
	if p == nil {
		var err error
		if p, err = u.fetch(ctx, c.rel); err != nil {
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
			var cur string
			err := tx.QueryRow(ctx, `SELECT digest FROM websonic.module_installs WHERE name = $1 FOR UPDATE`, c.rel.Module).Scan(&cur)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				if c.prev != nil {
					return fmt.Errorf("%w: %s was uninstalled", ErrConflict, c.rel.Module)
				}
			case err != nil:
				return err
			case c.prev == nil || cur != c.prev.Digest:
				return fmt.Errorf("%w: %s", ErrConflict, c.rel.Module)
			}
			var prevV, prevD *string
			if c.prev != nil && c.prev.Digest != c.rel.ManifestDigest {
				prevV, prevD = &c.prev.Version, &c.prev.Digest
			} else if c.prev != nil {
				prevV, prevD = nilIfEmpty(c.prev.PreviousVersion), nilIfEmpty(c.prev.PreviousDigest)
			}
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
			_, err = tx.Exec(ctx, `SELECT pg_notify($1, 'changed')`, Notify)
			return err
		})
	}
	return u.cfg.Runtime.Swap(ctx, p, approval(p, c.approved), rollback, commit)
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
	if channel == "" {
		channel = tufrepo.ChannelStable
	}
	if policy == "" {
		policy = PolicyAuto
	}
	if policy != PolicyAuto && policy != PolicyNotify && policy != PolicyPinned {
		return nil, fmt.Errorf("updater: policy %q (want auto, notify or pinned)", policy)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refresh(ctx); err != nil {
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
	return rel, u.apply(ctx, change{rel: rel, prev: prev, approved: caps, channel: channel, policy: policy, outcome: outcome, reason: "installed by the site owner"})
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
	// though, so an unreachable registry is recorded, not fatal.
	var pkg *modhost.Package
	rel := &tufrepo.Release{Module: name, Version: cur.PreviousVersion, ManifestDigest: cur.PreviousDigest}
	if rerr := u.refresh(ctx); rerr != nil {
		u.event(ctx, name, cur.Version, cur.PreviousVersion, "alert", "rolling back with the last trusted metadata (the registry's did not refresh): "+rerr.Error())
	}
	signed, err := u.tuf.Release(name, cur.PreviousVersion)
	switch {
	case errors.Is(err, tufrepo.ErrRevoked):
		return nil, fmt.Errorf("%w: %w: roll forward instead", ErrVerify, err)
	case err == nil && signed.ManifestDigest != cur.PreviousDigest:
		return nil, fmt.Errorf("%w: %s is signed with digest %s, but %s is on record", ErrVerify, signed, signed.ManifestDigest, cur.PreviousDigest)
	case err == nil && signed.ABIVersion != abi.Version:
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
		reason: "rolled back by the site owner; pinned until the next install", pkg: pkg}
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

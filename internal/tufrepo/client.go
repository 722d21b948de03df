package tufrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
)

// Errors a Client reports, each wrapping go-tuf's own error (still
// matchable with errors.Is / errors.As).
var (
	// ErrBadSignature: metadata not signed by a threshold of trusted keys.
	ErrBadSignature = errors.New("tufrepo: metadata not signed by trusted keys")
	// ErrRollback: metadata older than what the client already trusts
	// (a replayed timestamp, snapshot or targets), or versions that do not
	// match (mix-and-match).
	ErrRollback = errors.New("tufrepo: metadata rollback")
	// ErrExpired: the newest metadata offered has expired (a freeze).
	ErrExpired = errors.New("tufrepo: metadata expired")
	// ErrDigestMismatch: a download whose length or sha256 differs from
	// the signed one.
	ErrDigestMismatch = errors.New("tufrepo: length or digest mismatch")
	// ErrRevoked matches a *RevokedError.
	ErrRevoked = errors.New("tufrepo: release revoked")
	// ErrNotRefreshed: no successful Refresh yet.
	ErrNotRefreshed = errors.New("tufrepo: no trusted metadata yet: call Refresh")
)

// RevokedError is returned for a release the publisher revoked.
type RevokedError struct{ Release *Release }

func (e *RevokedError) Error() string {
	return fmt.Sprintf("tufrepo: release %s is revoked", e.Release)
}

// Is makes a *RevokedError match ErrRevoked.
func (e *RevokedError) Is(target error) bool { return target == ErrRevoked }

// ClientConfig configures a Client.
type ClientConfig struct {
	// MetadataURL is where root.json, <N>.root.json, timestamp.json, ...
	// are served.
	MetadataURL string
	// TargetsURL is where artifacts are served by target name; empty
	// means MetadataURL + "/targets".
	TargetsURL string
	// Root is the pinned root.json, trusted on first use only: afterwards
	// the root persisted in Dir (reached from it by verified rotations)
	// is used.
	Root []byte
	// Dir persists the trusted metadata between runs (created 0700).
	Dir string
	// HTTPClient fetches; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Client is the runtime's verified view of a TUF repository: go-tuf's
// updater with a pinned root and a persistent metadata directory.
//
// The releases a Client reports come from its last successful Refresh. A
// failed Refresh (bad signature, rollback, expiry, ...) changes nothing in
// memory: the previous trusted state keeps answering Release and Latest,
// and go-tuf persists a metadata file only after verifying it.
//
// A Client is safe for concurrent use; Refresh and Download are serialized.
type Client struct {
	cfg   ClientConfig
	fetch *fetcher

	mu       sync.RWMutex
	up       *updater.Updater // from the last successful Refresh
	releases map[string]*Release
	root     int64 // trusted root version
}

// NewClient checks the configuration and creates Dir. It does no I/O on
// the network: call Refresh.
func NewClient(cfg ClientConfig) (*Client, error) {
	if cfg.MetadataURL == "" || cfg.Dir == "" || len(cfg.Root) == 0 {
		return nil, errors.New("tufrepo: client needs MetadataURL, Dir and a pinned Root")
	}
	if cfg.TargetsURL == "" {
		u, err := url.JoinPath(cfg.MetadataURL, "targets")
		if err != nil {
			return nil, fmt.Errorf("tufrepo: metadata URL: %w", err)
		}
		cfg.TargetsURL = u
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, "targets"), 0o700); err != nil {
		return nil, fmt.Errorf("tufrepo: client dir: %w", err)
	}
	return &Client{cfg: cfg, fetch: &fetcher{hc: cfg.HTTPClient}}, nil
}

// Refresh runs the TUF client workflow (root rotations, timestamp,
// snapshot, targets) against the repository. On success the new releases
// replace the old ones; on failure the previous state stays and the error
// wraps ErrBadSignature, ErrRollback, ErrExpired or ErrDigestMismatch when
// it is one of those.
func (c *Client) Refresh(ctx context.Context) error {
	c.fetch.mu.Lock()
	defer c.fetch.mu.Unlock()
	c.fetch.ctx = ctx

	root, err := os.ReadFile(filepath.Join(c.cfg.Dir, "root.json"))
	if errors.Is(err, fs.ErrNotExist) {
		root = c.cfg.Root
	} else if err != nil {
		return fmt.Errorf("tufrepo: refresh: %w", err)
	}
	ucfg, err := config.New(c.cfg.MetadataURL, root)
	if err != nil {
		return fmt.Errorf("tufrepo: refresh: %w", err)
	}
	ucfg.LocalMetadataDir = c.cfg.Dir
	ucfg.LocalTargetsDir = filepath.Join(c.cfg.Dir, "targets")
	ucfg.RemoteTargetsURL = c.cfg.TargetsURL
	ucfg.Fetcher = c.fetch
	ucfg.TargetsMaxLength = MaxTargetsSize
	up, err := updater.New(ucfg)
	if err != nil {
		return classify("refresh: trusted root", err)
	}
	if err := up.Refresh(); err != nil {
		return classify("refresh", err)
	}
	releases := map[string]*Release{}
	for path, tf := range up.GetTopLevelTargets() {
		if !strings.HasPrefix(path, TargetPrefix) && !strings.HasPrefix(path, ThemeTargetPrefix) && !strings.HasPrefix(path, RuntimeTargetPrefix) {
			continue // another kind of target: not ours to read
		}
		var raw []byte
		if tf.Custom != nil {
			raw = *tf.Custom
		}
		rel, err := releaseFromTarget(path, tf.Length, tf.Hashes["sha256"], raw)
		if err != nil {
			return fmt.Errorf("tufrepo: refresh: %w", err)
		}
		if len(rel.SHA256) != 32 {
			return fmt.Errorf("%w: target %q has no sha256", ErrInvalidRelease, path)
		}
		releases[path] = rel
	}
	trusted := up.GetTrustedMetadataSet()
	c.mu.Lock()
	c.up, c.releases, c.root = up, releases, trusted.Root.Signed.Version
	c.mu.Unlock()
	return nil
}

// State returns the metadata verified by the last successful Refresh —
// the current root, targets, snapshot and timestamp — as a publisher
// loads it (Load) to sign the next targets on top of what runtimes see.
func (c *Client) State() (State, error) {
	c.fetch.mu.Lock()
	defer c.fetch.mu.Unlock()
	c.mu.RLock()
	up := c.up
	c.mu.RUnlock()
	if up == nil {
		return State{}, ErrNotRefreshed
	}
	var st State
	for name, dst := range map[string]*[]byte{"targets.json": &st.Targets, "snapshot.json": &st.Snapshot, "timestamp.json": &st.Timestamp} {
		b, err := os.ReadFile(filepath.Join(c.cfg.Dir, name))
		if err != nil {
			return State{}, fmt.Errorf("tufrepo: client state: %w", err)
		}
		*dst = b
	}
	root, err := os.ReadFile(filepath.Join(c.cfg.Dir, "root.json"))
	if err != nil {
		return State{}, fmt.Errorf("tufrepo: client state: %w", err)
	}
	st.Roots = [][]byte{root}
	return st, nil
}

// RootVersion is the version of the trusted root after the last
// successful Refresh (0 before).
func (c *Client) RootVersion() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.root
}

// Release returns the verified release module@version. A revoked release
// gives a *RevokedError (matching ErrRevoked); an unknown one ErrNotFound.
func (c *Client) Release(module, version string) (*Release, error) {
	return c.release(TargetPath(module, version), module+"@"+version)
}

// ThemeRelease is Release for the theme release theme@version.
func (c *Client) ThemeRelease(theme, version string) (*Release, error) {
	return c.release(ThemeTargetPath(theme, version), "theme "+theme+"@"+version)
}

func (c *Client) release(path, what string) (*Release, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.releases == nil {
		return nil, ErrNotRefreshed
	}
	rel, ok := c.releases[path]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, what)
	}
	cp := *rel
	if cp.Revoked {
		return nil, &RevokedError{Release: &cp}
	}
	return &cp, nil
}

// Releases lists the verified module releases (revoked ones included,
// marked), sorted by target name; ErrNotRefreshed before the first
// Refresh. ReleasesOf(KindTheme) lists the themes'.
func (c *Client) Releases() ([]*Release, error) { return c.ReleasesOf(KindModule) }

// Latest returns the highest-precedence non-revoked release of module on
// channel (ChannelBeta also considers stable releases), or ErrNotFound.
func (c *Client) Latest(module string, channel Channel) (*Release, error) {
	return c.latest(KindModule, module, channel)
}

// LatestTheme is Latest for a theme.
func (c *Client) LatestTheme(theme string, channel Channel) (*Release, error) {
	return c.latest(KindTheme, theme, channel)
}

func (c *Client) latest(kind Kind, module string, channel Channel) (*Release, error) {
	return c.latestWhere(kind, module, channel, nil, kind.String()+" "+module)
}

// latestWhere is latest among the releases keep accepts (nil: all); what
// names them in the error.
func (c *Client) latestWhere(kind Kind, module string, channel Channel, keep func(*Release) bool, what string) (*Release, error) {
	if channel != ChannelStable && channel != ChannelBeta {
		return nil, fmt.Errorf("%w: channel %q", ErrInvalidRelease, channel)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.releases == nil {
		return nil, ErrNotRefreshed
	}
	var best *Release
	for _, rel := range c.releases {
		if rel.Kind != kind || rel.Module != module || rel.Revoked || (keep != nil && !keep(rel)) {
			continue
		}
		if rel.Channel != channel && !(channel == ChannelBeta && rel.Channel == ChannelStable) {
			continue
		}
		if best == nil {
			best = rel
			continue
		}
		// Releases never tie (build metadata is refused), but order them
		// fully anyway: the answer must not depend on map order.
		if c := compareSemver(rel.Version, best.Version); c > 0 || (c == 0 && rel.Path > best.Path) {
			best = rel
		}
	}
	if best == nil {
		return nil, fmt.Errorf("%w: no %s release of %s", ErrNotFound, channel, what)
	}
	cp := *best
	return &cp, nil
}

// Download fetches the artifact of module@version from TargetsURL and
// returns it only if its length and sha256 are the signed ones
// (ErrDigestMismatch otherwise). Revoked releases are refused. go-tuf also
// caches the verified bytes under Dir/targets.
func (c *Client) Download(ctx context.Context, module, version string) ([]byte, *Release, error) {
	rel, err := c.Release(module, version)
	if err != nil {
		return nil, nil, err
	}
	return c.download(ctx, rel)
}

// DownloadTheme is Download for the theme release theme@version.
func (c *Client) DownloadTheme(ctx context.Context, theme, version string) ([]byte, *Release, error) {
	rel, err := c.ThemeRelease(theme, version)
	if err != nil {
		return nil, nil, err
	}
	return c.download(ctx, rel)
}

// ReleasesOf lists the verified releases of kind, revoked ones included,
// sorted by target name (ErrNotRefreshed before a Refresh).
func (c *Client) ReleasesOf(kind Kind) ([]*Release, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.releases == nil {
		return nil, ErrNotRefreshed
	}
	var out []*Release
	for _, rel := range c.releases {
		if rel.Kind == kind {
			cp := *rel
			out = append(out, &cp)
		}
	}
	slices.SortFunc(out, func(a, b *Release) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func (c *Client) download(ctx context.Context, rel *Release) ([]byte, *Release, error) {
	c.fetch.mu.Lock()
	defer c.fetch.mu.Unlock()
	c.fetch.ctx = ctx
	c.mu.RLock()
	up := c.up
	c.mu.RUnlock()
	tf := metadata.TargetFile()
	tf.Path, tf.Length, tf.Hashes["sha256"] = rel.Path, rel.Length, rel.SHA256
	_, data, err := up.DownloadTarget(tf, "", "")
	if err != nil {
		return nil, nil, classify("download "+rel.String(), err)
	}
	return data, rel, nil
}

// classify wraps a go-tuf error with the matching sentinel of this package.
func classify(op string, err error) error {
	var sentinel error
	switch {
	case errors.Is(err, &metadata.ErrUnsignedMetadata{}):
		sentinel = ErrBadSignature
	case errors.Is(err, &metadata.ErrExpiredMetadata{}):
		sentinel = ErrExpired
	case errors.Is(err, &metadata.ErrBadVersionNumber{}):
		sentinel = ErrRollback
	case errors.Is(err, &metadata.ErrLengthOrHashMismatch{}), errors.Is(err, &metadata.ErrDownloadLengthMismatch{}):
		sentinel = ErrDigestMismatch
	}
	if sentinel == nil {
		return fmt.Errorf("tufrepo: %s: %w", op, err)
	}
	return fmt.Errorf("%w (%s): %w", sentinel, op, err)
}

// fetcher is go-tuf's Fetcher over an http.Client, bounded by the context
// of the call in progress (go-tuf's interface has none) and without
// retries: the caller retries on its own schedule.
type fetcher struct {
	hc  *http.Client
	mu  sync.Mutex // held for a whole Refresh or Download
	ctx context.Context
}

// DownloadFile implements go-tuf's fetcher.Fetcher.
func (f *fetcher) DownloadFile(u string, maxLength int64, _ time.Duration) ([]byte, error) {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := f.hc.Do(req)
	if err != nil {
		return nil, &metadata.ErrDownload{Msg: err.Error()}
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: res.StatusCode, URL: u}
	}
	if res.ContentLength > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s: length %d is larger than expected %d", u, res.ContentLength, maxLength)}
	}
	data, err := io.ReadAll(io.LimitReader(res.Body, maxLength+1))
	if err != nil {
		return nil, &metadata.ErrDownload{Msg: err.Error()}
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s: more than the expected %d bytes", u, maxLength)}
	}
	return data, nil
}

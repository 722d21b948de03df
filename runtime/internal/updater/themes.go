package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/pgnotify"
)

// The request queue's theme actions (Request.Module names the theme).
const (
	ActionThemeInstall   = "theme_install"   // Version ("" newest), Channel, Policy
	ActionThemeRollback  = "theme_rollback"  // back to the previous version, from disk
	ActionThemePolicy    = "theme_policy"    // Policy and/or Channel
	ActionThemeUninstall = "theme_uninstall" // refused while the theme is active
)

// ThemeFormat is the newest theme format (theme.json's theme_version) this
// runtime renders; a release of a newer one is refused, as a module of
// another ABI is.
const ThemeFormat = 1

// Theme errors.
var (
	// ErrThemeInvalid wraps a theme that its validator (Config.ValidateTheme)
	// refused: the installed version stays.
	ErrThemeInvalid = errors.New("updater: theme refused")
	// ErrThemeNotInstalled: no such theme installed.
	ErrThemeNotInstalled = errors.New("updater: theme not installed")
	// ErrThemeInUse: uninstalling the site's active theme.
	ErrThemeInUse = errors.New("updater: the theme is the site's active theme")
)

// InstalledTheme is a theme's installation record.
type InstalledTheme struct {
	Name, Version, Digest, Description string
	PreviousVersion, PreviousDigest    string
	Channel                            tufrepo.Channel
	Policy                             Policy
	// AvailableVersion is a newer release seen under PolicyNotify.
	AvailableVersion string
	UpdatedAt        time.Time
}

const themeCols = `name, version, digest, description, coalesce(previous_version, ''), coalesce(previous_digest, ''),
	channel, policy, coalesce(available_version, ''), updated_at`

func listThemes(ctx context.Context, q querier, where string, args ...any) ([]InstalledTheme, error) {
	rows, err := q.Query(ctx, `SELECT `+themeCols+` FROM websonic.theme_installs `+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, fmt.Errorf("updater: installed themes: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (InstalledTheme, error) {
		var t InstalledTheme
		return t, r.Scan(&t.Name, &t.Version, &t.Digest, &t.Description, &t.PreviousVersion, &t.PreviousDigest,
			&t.Channel, &t.Policy, &t.AvailableVersion, &t.UpdatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("updater: installed themes: %w", err)
	}
	return out, nil
}

// Themes returns the installed themes, by name.
func (u *Updater) Themes(ctx context.Context) ([]InstalledTheme, error) {
	return listThemes(ctx, u.cfg.Pool, "")
}

// ThemesFrom returns the themes installed according to a runtime database.
func ThemesFrom(ctx context.Context, pool *pgxpool.Pool) ([]InstalledTheme, error) {
	return listThemes(ctx, pool, "")
}

func (u *Updater) getTheme(ctx context.Context, name string) (*InstalledTheme, error) {
	ts, err := listThemes(ctx, u.cfg.Pool, "WHERE name = $1", name)
	if err != nil {
		return nil, err
	}
	if len(ts) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrThemeNotInstalled, name)
	}
	return &ts[0], nil
}

// ThemeReleases lists the theme releases the registry offers, as verified
// by the last metadata refresh (revoked ones included, marked).
func (u *Updater) ThemeReleases() ([]*tufrepo.Release, error) {
	rels, err := u.tuf.ReleasesOf(tufrepo.KindTheme)
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	return rels, nil
}

// ThemeFiles returns the files of the installed version of theme name:
// read from the package store and verified again (every blob's digest,
// the artifact's shape, theme.json naming that version) and passed by the
// validator, or, when the store lacks it (a new replica), downloaded
// through the signed metadata first. The result is cached per digest.
func (u *Updater) ThemeFiles(ctx context.Context, name string) (fs.FS, error) {
	in, err := u.getTheme(ctx, name)
	if err != nil {
		return nil, err
	}
	th, err := u.recordedTheme(ctx, in)
	if err != nil {
		return nil, err
	}
	return th.FS(), nil
}

// recordedTheme returns the theme an installation record names.
func (u *Updater) recordedTheme(ctx context.Context, in *InstalledTheme) (*ocipkg.Theme, error) {
	u.themeMu.Lock()
	th := u.themeCache[in.Digest]
	u.themeMu.Unlock()
	if th != nil {
		return th, nil
	}
	rel := &tufrepo.Release{Kind: tufrepo.KindTheme, Module: in.Name, Version: in.Version, ManifestDigest: in.Digest}
	l := u.store.lease()
	defer l.release()
	l.holdManifest(digest.Digest(in.Digest))
	th, err := u.loadStoredTheme(ctx, rel)
	if err != nil {
		// Not on disk (a new replica, a wiped data dir): download it
		// through the signed metadata.
		if rerr := u.refresh(ctx, background); rerr != nil {
			return nil, fmt.Errorf("%w (and the registry: %w)", err, rerr)
		}
		signed, rerr := u.themeRelease(in.Name, in.Version, in.Channel)
		if rerr != nil {
			return nil, rerr
		}
		if signed.ManifestDigest != in.Digest {
			return nil, fmt.Errorf("%w: %s is signed with digest %s, recorded %s", ErrVerify, signed, signed.ManifestDigest, in.Digest)
		}
		if th, err = u.fetchTheme(ctx, signed, background, l); err != nil {
			return nil, err
		}
	}
	if err := u.validateTheme(th); err != nil {
		return nil, err
	}
	u.themeMu.Lock()
	u.themeCache[in.Digest] = th
	u.themeMu.Unlock()
	return th, nil
}

// validateTheme runs the validator on a verified theme.
func (u *Updater) validateTheme(th *ocipkg.Theme) error {
	if th.Meta.ThemeVersion > ThemeFormat {
		return fmt.Errorf("%w: theme %s@%s is of format %d; this runtime renders formats up to %d", ErrThemeInvalid,
			th.Meta.Name, th.Meta.Version, th.Meta.ThemeVersion, ThemeFormat)
	}
	if u.cfg.ValidateTheme == nil {
		return fmt.Errorf("%w: this runtime has no theme validator", ErrThemeInvalid)
	}
	if err := u.cfg.ValidateTheme(th.FS()); err != nil {
		return fmt.Errorf("%w: theme %s@%s: %w", ErrThemeInvalid, th.Meta.Name, th.Meta.Version, err)
	}
	return nil
}

// loadStoredTheme reads a theme from the package store by digest, every
// blob verified, and checks it is rel: against the signed release when rel
// has one (Length set), else by name and version.
func (u *Updater) loadStoredTheme(ctx context.Context, rel *tufrepo.Release) (*ocipkg.Theme, error) {
	th, err := ocipkg.FetchThemeFrom(ctx, u.store, rel.ManifestDigest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrVerify, rel, err)
	}
	if rel.Length > 0 {
		if err := rel.MatchesTheme(th.Meta.Name, th.Meta.Version, th.Meta.ThemeVersion); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrVerify, err)
		}
	} else if th.Meta.Name != rel.Module || th.Meta.Version != rel.Version {
		return nil, fmt.Errorf("%w: %s: the stored theme is %s@%s", ErrVerify, rel, th.Meta.Name, th.Meta.Version)
	}
	return th, nil
}

// fetchTheme is fetch for a theme: from the store when it is there, else
// its OCI manifest downloaded as its TUF target (length and digest
// checked), checked before anything it names is downloaded, the blobs
// copied from themes/<name> into the store (digests checked) within the
// store's cap, and the whole read back and verified.
func (u *Updater) fetchTheme(ctx context.Context, rel *tufrepo.Release, p priority, l *lease) (*ocipkg.Theme, error) {
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(rel.ManifestDigest), Size: rel.Length}
	l.holdManifest(desc.Digest)
	have, err := u.store.Exists(ctx, desc)
	if err != nil {
		return nil, err
	}
	if !have {
		gctx, done, err := u.gate.acquire(ctx, p)
		if err != nil {
			return nil, fmt.Errorf("updater: %w", err)
		}
		raw, _, err := u.tuf.DownloadTheme(gctx, rel.Module, rel.Version)
		if errors.Is(context.Cause(gctx), ErrPreempted) {
			err = ErrPreempted
		}
		done()
		if err != nil {
			return nil, u.transferError(rel, err)
		}
		if err := ocipkg.CheckThemeManifest(raw); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrVerify, rel, err)
		}
		var im ocispec.Manifest
		if err := json.Unmarshal(raw, &im); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrVerify, rel, err)
		}
		if err := u.reserve(ctx, rel, l, append([]ocispec.Descriptor{desc, im.Config}, im.Layers...)); err != nil {
			return nil, err
		}
		repo, err := u.repositoryNamed(rel.Repository())
		if err != nil {
			return nil, err
		}
		if err := oras.CopyGraph(ctx, repo, u.store, desc, oras.DefaultCopyGraphOptions); err != nil {
			return nil, u.transferError(rel, err)
		}
	}
	return u.loadStoredTheme(ctx, rel)
}

// themeRelease finds a theme release in the trusted metadata: version ""
// means the newest on channel. Revoked releases and newer formats are
// refused.
func (u *Updater) themeRelease(name, version string, channel tufrepo.Channel) (*tufrepo.Release, error) {
	var rel *tufrepo.Release
	var err error
	if version == "" {
		rel, err = u.tuf.LatestTheme(name, channel)
	} else {
		rel, err = u.tuf.ThemeRelease(name, version)
	}
	if err != nil {
		if errors.Is(err, tufrepo.ErrRevoked) {
			return nil, fmt.Errorf("%w: %w", ErrVerify, err)
		}
		return nil, fmt.Errorf("updater: %w", err)
	}
	if rel.ThemeVersion > ThemeFormat {
		return nil, fmt.Errorf("%w: %s is of theme format %d; this runtime renders formats up to %d", ErrVerify, rel, rel.ThemeVersion, ThemeFormat)
	}
	return rel, nil
}

// themeChange is one theme installation change.
type themeChange struct {
	rel     *tufrepo.Release
	prev    *InstalledTheme // nil for a first install
	channel tufrepo.Channel
	policy  Policy
	outcome string // installed, updated, rolled_back
	reason  string
	by      priority
}

// applyTheme fetches, verifies and validates c.rel, then records it (and
// notifies every replica). Any failure leaves the installed version in
// place and, but for a change that went stale, was pre-empted or
// cancelled, is recorded in the update events.
func (u *Updater) applyTheme(ctx context.Context, c themeChange) error {
	from := ""
	if c.prev != nil {
		from = c.prev.Version
	}
	l := u.store.lease()
	defer func() {
		l.release()
		u.collect(ctx)
	}()
	err := u.swapTheme(ctx, c, l)
	switch {
	case err == nil:
		u.log.Info("theme "+strings.ReplaceAll(c.outcome, "_", " "), "theme", c.rel.Module, "from", from, "to", c.rel.Version)
		u.noteThemes(ctx)
	case errors.Is(err, errStale), errors.Is(err, ErrPreempted), ctx.Err() != nil:
		u.log.Debug("theme update postponed", "theme", c.rel.Module, "to", c.rel.Version, "reason", err)
	case errors.Is(err, ErrStoreFull):
	default:
		u.log.Error("theme update refused; the installed version stays", "theme", c.rel.Module, "from", from, "to", c.rel.Version, "error", err)
		u.themeEvent(ctx, c.rel.Module, from, c.rel.Version, "failed", err.Error())
	}
	return err
}

func (u *Updater) swapTheme(ctx context.Context, c themeChange, l *lease) error {
	th, err := u.fetchTheme(ctx, c.rel, c.by, l)
	if err != nil {
		return err
	}
	if err := u.validateTheme(th); err != nil {
		return err
	}
	if c.by == background {
		u.mu.Lock()
		defer u.mu.Unlock()
		cur, err := u.getTheme(ctx, c.rel.Module)
		if errors.Is(err, ErrThemeNotInstalled) || (err == nil && !sameTheme(cur, c.prev)) {
			return errStale
		}
		if err != nil {
			return err
		}
	}
	err = pgx.BeginFunc(ctx, u.cfg.Pool, func(tx pgx.Tx) error {
		var was *record
		if c.prev != nil {
			was = &record{c.prev.Version, c.prev.Digest, c.prev.PreviousVersion, c.prev.PreviousDigest}
		}
		if err := lockRecord(ctx, tx, "theme_installs", c.rel.Module, was); err != nil {
			return fmt.Errorf("theme: %w", err)
		}
		prevV, prevD := was.previous(c.rel.ManifestDigest)
		if _, err := tx.Exec(ctx, `INSERT INTO websonic.theme_installs
			(name, version, digest, description, previous_version, previous_digest, channel, policy)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (name) DO UPDATE SET version = $2, digest = $3, description = $4, previous_version = $5,
				previous_digest = $6, channel = $7, policy = $8,
				available_version = CASE WHEN theme_installs.available_version = $2 THEN NULL ELSE theme_installs.available_version END,
				updated_at = now()`,
			c.rel.Module, c.rel.Version, c.rel.ManifestDigest, th.Meta.Description, prevV, prevD, string(c.channel), string(c.policy)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO websonic.update_events (kind, module, from_version, to_version, outcome, reason)
			VALUES ('theme', $1, nullif($2, ''), $3, $4, $5)`, c.rel.Module, fromOf(c.prev), c.rel.Version, c.outcome, c.reason); err != nil {
			return err
		}
		return pgnotify.Notify(ctx, tx, u.channel)
	})
	if err != nil {
		return fmt.Errorf("updater: recording %s: %w", c.rel, err)
	}
	u.themeMu.Lock()
	u.themeCache[c.rel.ManifestDigest] = th
	u.themeMu.Unlock()
	return nil
}

func fromOf(prev *InstalledTheme) string {
	if prev == nil {
		return ""
	}
	return prev.Version
}

// sameTheme tells whether a theme record is still the one a background
// change was decided on.
func sameTheme(cur, prev *InstalledTheme) bool {
	return prev != nil && cur.Digest == prev.Digest && cur.Policy == prev.Policy && cur.Channel == prev.Channel &&
		cur.UpdatedAt.Equal(prev.UpdatedAt)
}

// InstallTheme installs theme name at version ("" for the newest release
// of channel) with policy (auto when ""), or moves an installed theme to
// that version: the site owner's explicit choice. A theme that fails
// verification or validation is refused (ErrVerify, ErrThemeInvalid) and
// the installed version stays.
func (u *Updater) InstallTheme(ctx context.Context, name, version string, channel tufrepo.Channel, policy Policy) (*tufrepo.Release, error) {
	return u.installTheme(ctx, name, version, "", channel, policy)
}

// installTheme is InstallTheme of exactly the release of digest ("": any),
// the one the owner confirmed (ErrChanged otherwise).
func (u *Updater) installTheme(ctx context.Context, name, version, digest string, channel tufrepo.Channel, policy Policy) (*tufrepo.Release, error) {
	policy, channel, err := chosen(policy, channel)
	if err != nil {
		return nil, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if err := u.refresh(ctx, owner); err != nil {
		return nil, err
	}
	rel, err := u.themeRelease(name, version, channel)
	if err != nil {
		return nil, err
	}
	if err := confirmed(rel, digest); err != nil {
		return nil, err
	}
	prev, err := u.getTheme(ctx, name)
	if err != nil && !errors.Is(err, ErrThemeNotInstalled) {
		return nil, err
	}
	outcome := "installed"
	if prev != nil {
		outcome = "updated"
		if tufrepo.CompareVersions(rel.Version, prev.Version) < 0 {
			outcome = "rolled_back"
		}
	}
	return rel, u.applyTheme(ctx, themeChange{rel: rel, prev: prev, channel: channel, policy: policy, outcome: outcome,
		reason: "installed by the site owner", by: owner})
}

// RollbackTheme returns a theme to its previous version, from disk
// (verified again, and checked against fresh metadata for a revocation
// when the registry answers), and pins it.
func (u *Updater) RollbackTheme(ctx context.Context, name string) (*tufrepo.Release, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	cur, err := u.getTheme(ctx, name)
	if err != nil {
		return nil, err
	}
	if cur.PreviousVersion == "" {
		return nil, fmt.Errorf("%w: theme %s", ErrNoPrevious, name)
	}
	if tufrepo.CompareVersions(cur.PreviousVersion, cur.Version) >= 0 {
		return nil, fmt.Errorf("%w: theme %s@%s is installed and the version on record before it, %s, is newer (rolled back from); `websonic theme install %s@%s` returns to it",
			ErrNothingOlder, name, cur.Version, cur.PreviousVersion, name, cur.PreviousVersion)
	}
	rel := &tufrepo.Release{Kind: tufrepo.KindTheme, Module: name, Version: cur.PreviousVersion, ManifestDigest: cur.PreviousDigest}
	if rerr := u.tryRefresh(ctx); rerr != nil {
		u.themeEvent(ctx, name, cur.Version, cur.PreviousVersion, "alert", "rolling back with the last trusted metadata (the registry's did not refresh): "+rerr.Error())
	}
	signed, err := u.tuf.ThemeRelease(name, cur.PreviousVersion)
	switch {
	case errors.Is(err, tufrepo.ErrRevoked):
		return nil, fmt.Errorf("%w: %w: install a newer version instead", ErrVerify, err)
	case err == nil && signed.ManifestDigest != cur.PreviousDigest:
		return nil, fmt.Errorf("%w: %s is signed with digest %s, but %s is on record", ErrVerify, signed, signed.ManifestDigest, cur.PreviousDigest)
	case err == nil:
		rel = signed
	case !errors.Is(err, tufrepo.ErrNotFound) && !errors.Is(err, tufrepo.ErrNotRefreshed):
		return nil, fmt.Errorf("updater: %w", err)
	}
	policy := cur.Policy
	if policy == PolicyAuto {
		policy = PolicyPinned // or the next check would update it again
	}
	return rel, u.applyTheme(ctx, themeChange{rel: rel, prev: cur, channel: cur.Channel, policy: policy, outcome: "rolled_back",
		reason: "rolled back by the site owner; pinned until the next install", by: owner})
}

// SetThemePolicy changes a theme's policy and channel ("" keeps them).
func (u *Updater) SetThemePolicy(ctx context.Context, name string, policy Policy, channel tufrepo.Channel) error {
	if err := checkChoice(policy, channel); err != nil {
		return err
	}
	tag, err := u.cfg.Pool.Exec(ctx, `UPDATE websonic.theme_installs SET policy = coalesce(nullif($2, ''), policy),
		channel = coalesce(nullif($3, ''), channel), updated_at = now() WHERE name = $1`, name, string(policy), string(channel))
	if err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrThemeNotInstalled, name)
	}
	return nil
}

// UninstallTheme removes a theme's record (every replica drops it, and its
// files leave the store), unless it is the site's active theme
// (Config.ThemeInUse).
func (u *Updater) UninstallTheme(ctx context.Context, name string) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.cfg.ThemeInUse != nil {
		inUse, err := u.cfg.ThemeInUse(ctx, name)
		if err != nil {
			return fmt.Errorf("updater: %w", err)
		}
		if inUse {
			return fmt.Errorf("%w: %s: choose another theme in the site settings first", ErrThemeInUse, name)
		}
	}
	err := pgx.BeginFunc(ctx, u.cfg.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM websonic.theme_installs WHERE name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s", ErrThemeNotInstalled, name)
		}
		return pgnotify.Notify(ctx, tx, u.channel)
	})
	if err != nil {
		if errors.Is(err, ErrThemeNotInstalled) {
			return err
		}
		return fmt.Errorf("updater: uninstall theme %s: %w", name, err)
	}
	u.log.Info("theme uninstalled", "theme", name)
	u.noteThemes(ctx)
	u.collect(ctx)
	return nil
}

// checkThemes applies each installed theme's policy, as check does a
// module's: off a revoked version, to a newer release under auto, a note
// under notify, nothing under pinned. A release the validator refused is
// not tried again until the process restarts (releases are immutable).
func (u *Updater) checkThemes(ctx context.Context) error {
	ts, err := u.Themes(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, in := range ts {
		if err := u.checkTheme(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (u *Updater) checkTheme(ctx context.Context, in InstalledTheme) error {
	_, err := u.tuf.ThemeRelease(in.Name, in.Version)
	revoked := errors.Is(err, tufrepo.ErrRevoked)
	if key := "theme " + in.Name + "@" + in.Version; revoked && !u.alerted[key] {
		u.alerted[key] = true
		u.themeEvent(ctx, in.Name, in.Version, "", "alert", fmt.Sprintf("%s was revoked by its publisher", key))
	}
	if in.Policy == PolicyPinned && !revoked {
		return nil
	}
	latest, err := u.themeRelease(in.Name, "", in.Channel)
	if errors.Is(err, tufrepo.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if tufrepo.CompareVersions(latest.Version, in.Version) <= 0 && !revoked {
		return nil
	}
	if u.refusedThemes[latest.ManifestDigest] {
		return nil // refused once already; recorded then
	}
	if in.Policy == PolicyNotify && !revoked {
		if latest.Version != in.AvailableVersion {
			if _, err := u.cfg.Pool.Exec(ctx, `UPDATE websonic.theme_installs SET available_version = $2 WHERE name = $1 AND digest = $3`,
				in.Name, latest.Version, in.Digest); err != nil {
				return fmt.Errorf("updater: %w", err)
			}
			u.themeEvent(ctx, in.Name, in.Version, latest.Version, "available", "")
		}
		return nil
	}
	outcome, reason := "updated", "automatic update"
	if revoked {
		reason = "the installed version was revoked"
		if tufrepo.CompareVersions(latest.Version, in.Version) < 0 {
			outcome = "rolled_back"
		}
	}
	err = u.applyTheme(ctx, themeChange{rel: latest, prev: &in, channel: in.Channel, policy: in.Policy, outcome: outcome, reason: reason, by: background})
	if errors.Is(err, ErrThemeInvalid) || errors.Is(err, ErrVerify) {
		u.refusedThemes[latest.ManifestDigest] = true
	}
	return err
}

// noteThemes calls Config.ThemesChanged when the set of installed themes
// (names and digests) differs from the one last noted: after a change made
// here, and on every wake of the request queue (a change another replica
// made NOTIFYs the site's module channel).
func (u *Updater) noteThemes(ctx context.Context) {
	ts, err := u.Themes(ctx)
	if err != nil {
		u.log.Error("reading installed themes", "error", err)
		return
	}
	keys := make([]string, 0, len(ts))
	live := map[string]bool{}
	for _, t := range ts {
		keys = append(keys, t.Name+"@"+t.Digest)
		live[t.Digest] = true
	}
	slices.Sort(keys)
	seen := strings.Join(keys, ",")
	u.themeMu.Lock()
	changed := seen != u.themeSeen
	u.themeSeen = seen
	for d := range u.themeCache {
		if !live[d] {
			delete(u.themeCache, d)
		}
	}
	u.themeMu.Unlock()
	if changed && u.cfg.ThemesChanged != nil {
		u.cfg.ThemesChanged()
	}
}

// themeReconciler notes theme changes each time the request queue wakes.
func (u *Updater) themeReconciler(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.themeWake:
		}
		u.noteThemes(ctx)
	}
}

// themeEvent records a theme outcome for the owner.
func (u *Updater) themeEvent(ctx context.Context, theme, from, to, outcome, reason string) {
	u.eventKind(ctx, "theme", theme, from, to, outcome, reason)
}

// ThemeEventsFrom returns a runtime database's newest theme update events
// first, at most limit.
func ThemeEventsFrom(ctx context.Context, pool *pgxpool.Pool, limit int) ([]Event, error) {
	return eventsOf(ctx, pool, "theme", limit)
}

// doTheme answers the queue's theme requests.
func (u *Updater) doTheme(ctx context.Context, r Request) (string, error) {
	if r.DryRun && r.Action == ActionThemeInstall {
		p, err := u.Preview(ctx, r)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(p)
		return string(b), err
	}
	switch r.Action {
	case ActionThemeInstall:
		rel, err := u.installTheme(ctx, r.Module, r.Version, r.Digest, tufrepo.Channel(r.Channel), Policy(r.Policy))
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s installed (%s)", rel, rel.ManifestDigest), nil
	case ActionThemeRollback:
		rel, err := u.RollbackTheme(ctx, r.Module)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("theme %s rolled back to %s (pinned: `websonic theme install %s` resumes updates)", r.Module, rel.Version, r.Module), nil
	case ActionThemePolicy:
		if err := u.SetThemePolicy(ctx, r.Module, Policy(r.Policy), tufrepo.Channel(r.Channel)); err != nil {
			return "", err
		}
		u.Kick()
		return fmt.Sprintf("theme %s: policy %s, channel %s", r.Module, r.Policy, r.Channel), nil
	case ActionThemeUninstall:
		if err := u.UninstallTheme(ctx, r.Module); err != nil {
			return "", err
		}
		return fmt.Sprintf("theme %s uninstalled", r.Module), nil
	}
	return "", fmt.Errorf("updater: unknown request %q", r.Action)
}

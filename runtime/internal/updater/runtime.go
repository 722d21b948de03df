package updater

// The runtime's self-update: the websonic binary follows its own signed
// releases (tufrepo.KindRuntime) through the same TUF client, transfer
// limits, request queue and update_events (kind 'runtime') as modules.
//
// A check (Run's timer and watch notices, or ActionRuntimeUpdate) finds
// the newest release for this OS/architecture on the site's channel. Only
// a version newer than the running one is ever installed: an older or
// equal one asked for is refused and recorded as an alert; a revoked one
// is never offered (tufrepo); a version that failed once is not tried
// again automatically (websonic.runtime_update.refused_versions) — failed
// for a reason the signed data gives (ErrVerify) or readiness, never for a
// transfer (ErrTransfer: recorded once, tried again). Under
// notify (or auto on a runtime that cannot restart itself) the newer
// version is recorded as available. Under auto (installRuntime):
//
//  1. the release's OCI manifest is downloaded as its TUF target (length
//     and sha256 signed), and must be a runtime manifest for exactly this
//     version and platform;
//  2. the binary is fetched from the registry's runtime/websonic by the
//     manifest's digest (ocipkg.FetchRuntimeFrom: size-capped, digest
//     verified) through the transfer limits, and its sha256 and size
//     must equal the signed binary_sha256 and binary_size;
//  3. it is written beside the executable as a temporary file, fsynced,
//     read back and hashed again (the bytes on disk are the verified ones),
//     and `<file> version` must report the release's version;
//  4. the running executable is kept as <executable>.previous (a hard
//     link), the new file renamed over the executable, the directory
//     fsynced, and websonic.runtime_update.pending_version set;
//  5. RuntimeConfig.Restart starts the new binary with the listeners
//     (steps 4 and 5, and the rollback, under the restarter's lock). If
//     it serves, this process drains and exits and the new one records
//     'updated' (RuntimeStarted). If it does not become ready, the previous
//     file is renamed back, the version is refused for good and
//     'rolled_back' recorded with the reason; this process serves on.
//
// Replicas: every runtime on the site's database checks for itself, each
// replacing its own binary; only one that runs under a restarter
// (internal/restart: Linux, an external PostgreSQL) and can write beside
// its executable installs; the others only record what is available. The
// row's policy and channel are the site's; its pending and current
// versions are those of the runtime that last updated itself.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
)

// ErrNotNewer: a runtime release that is not newer than the running
// binary (a replayed or mistaken older release) is never installed.
var ErrNotNewer = errors.New("updater: the runtime release is not newer than the running binary")

// ErrCannotRestart: this runtime cannot replace itself (see
// RuntimeConfig.Restart); the error says why.
var ErrCannotRestart = errors.New("updater: this runtime cannot replace itself")

// RuntimeState is the site's runtime update record.
type RuntimeState struct {
	// Policy is the owner's ("" : each runtime's --self-update).
	Policy  Policy
	Channel tufrepo.Channel
	// CurrentVersion and PreviousVersion are the last self-update's.
	CurrentVersion, PreviousVersion string
	// AvailableVersion is a newer release seen under notify.
	AvailableVersion string
	// PendingVersion is a self-update in progress (from PendingFrom).
	PendingVersion, PendingFrom string
	// Refused are versions never installed again automatically.
	Refused   []string
	UpdatedAt time.Time
}

// RuntimeStateFrom reads a runtime database's runtime update record.
func RuntimeStateFrom(ctx context.Context, pool *pgxpool.Pool) (*RuntimeState, error) {
	return runtimeState(ctx, pool)
}

func runtimeState(ctx context.Context, q querier) (*RuntimeState, error) {
	rows, err := q.Query(ctx, `SELECT coalesce(policy, ''), channel, coalesce(current_version, ''), coalesce(previous_version, ''),
		coalesce(available_version, ''), coalesce(pending_version, ''), coalesce(pending_from, ''), refused_versions, updated_at
		FROM websonic.runtime_update`)
	if err != nil {
		return nil, fmt.Errorf("updater: runtime state: %w", err)
	}
	st, err := pgx.CollectExactlyOneRow(rows, func(r pgx.CollectableRow) (RuntimeState, error) {
		var s RuntimeState
		return s, r.Scan(&s.Policy, &s.Channel, &s.CurrentVersion, &s.PreviousVersion, &s.AvailableVersion,
			&s.PendingVersion, &s.PendingFrom, &s.Refused, &s.UpdatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("updater: runtime state: %w", err)
	}
	return &st, nil
}

// RuntimeEventsFrom returns a runtime database's newest runtime update
// events first, at most limit.
func RuntimeEventsFrom(ctx context.Context, pool *pgxpool.Pool, limit int) ([]Event, error) {
	return eventsOf(ctx, pool, "runtime", limit)
}

// runtimePolicy is the policy in force here: the owner's unless this
// runtime is off.
func (u *Updater) runtimePolicy(st *RuntimeState) Policy {
	if !u.cfg.SelfUpdate.enabled() {
		return PolicyOff
	}
	if st.Policy != "" {
		return st.Policy
	}
	return u.cfg.SelfUpdate.Policy
}

// canRestart says whether this runtime can replace itself, and if not why.
func (u *Updater) canRestart() error {
	c := u.cfg.SelfUpdate
	if c.Restart == nil {
		why := c.CannotRestart
		if why == "" {
			why = "it does not run under a graceful restarter"
		}
		return fmt.Errorf("%w: %s", ErrCannotRestart, why)
	}
	if c.Executable == "" {
		return fmt.Errorf("%w: its executable is unknown", ErrCannotRestart)
	}
	f, err := os.CreateTemp(filepath.Dir(c.Executable), ".websonic-probe-*")
	if err != nil {
		return fmt.Errorf("%w: cannot write beside %s: %w", ErrCannotRestart, c.Executable, err)
	}
	f.Close()
	os.Remove(f.Name())
	return nil
}

func (u *Updater) runtimeEvent(ctx context.Context, from, to, outcome, reason string) {
	u.eventKind(ctx, "runtime", tufrepo.RuntimeName, from, to, outcome, reason)
}

// checkRuntime applies the runtime's policy after a refresh (Check).
func (u *Updater) checkRuntime(ctx context.Context) error {
	c := u.cfg.SelfUpdate
	if !c.enabled() {
		return nil
	}
	st, err := runtimeState(ctx, u.cfg.Pool)
	if err != nil {
		return err
	}
	policy := u.runtimePolicy(st)
	// The owner hears of a revoked runtime whatever the policy: telling
	// changes nothing.
	if _, err := u.tuf.RuntimeRelease(c.Version, c.OS, c.Arch); errors.Is(err, tufrepo.ErrRevoked) {
		if key := "runtime@" + c.Version; !u.alerted[key] {
			u.alerted[key] = true
			u.runtimeEvent(ctx, c.Version, "", "alert", fmt.Sprintf("the running runtime %s was revoked by its publisher: update it", c.Version))
		}
	}
	latest, err := u.tuf.LatestRuntime(c.OS, c.Arch, st.Channel)
	if errors.Is(err, tufrepo.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("updater: runtime: %w", err)
	}
	if tufrepo.CompareVersions(latest.Version, c.Version) <= 0 {
		return nil
	}
	// Said once per version and process: why a newer release stays out.
	skip := func(why string) {
		if key := "runtime-skip@" + latest.Version + why; !u.alerted[key] {
			u.alerted[key] = true
			u.log.Info("a newer runtime release is not installed", "running", c.Version, "release", latest.Version, "why", why)
		}
	}
	if policy == PolicyPinned {
		skip("the runtime policy is pinned")
		return nil
	}
	if slices.Contains(st.Refused, latest.Version) {
		skip("it failed before (websonic runtime update " + latest.Version + " tries it again)")
		return nil
	}
	if c.Version == DevVersion && !c.AllowDev {
		return nil // a development build moves only when asked to
	}
	restartErr := u.canRestart()
	if policy == PolicyNotify || restartErr != nil {
		if latest.Version != st.AvailableVersion {
			if _, err := u.cfg.Pool.Exec(ctx, `UPDATE websonic.runtime_update SET available_version = $1`, latest.Version); err != nil {
				return fmt.Errorf("updater: runtime: %w", err)
			}
			reason := ""
			if policy == PolicyAuto {
				reason = restartErr.Error()
			}
			u.runtimeEvent(ctx, c.Version, latest.Version, "available", reason)
		}
		return nil
	}
	_, err = u.installRuntime(ctx, latest, autoUpdate)
	return err
}

// UpdateRuntime installs runtime release version ("" the newest on the
// site's channel) here, as the owner asked (ActionRuntimeUpdate): even on
// a development build, even a version refused before; never one that is
// not newer than the running binary (ErrNotNewer, recorded as an alert).
// It returns once the new process serves (this one then exits), or with
// the error that kept the running one.
func (u *Updater) UpdateRuntime(ctx context.Context, version string) (*tufrepo.Release, error) {
	c := u.cfg.SelfUpdate
	if c.Version == "" {
		return nil, fmt.Errorf("%w: self-update is not configured", ErrCannotRestart)
	}
	if err := u.canRestart(); err != nil {
		return nil, err
	}
	if err := u.refresh(ctx, owner); err != nil {
		return nil, err
	}
	st, err := runtimeState(ctx, u.cfg.Pool)
	if err != nil {
		return nil, err
	}
	var rel *tufrepo.Release
	if version == "" {
		rel, err = u.tuf.LatestRuntime(c.OS, c.Arch, st.Channel)
	} else {
		rel, err = u.tuf.RuntimeRelease(version, c.OS, c.Arch)
	}
	if err != nil {
		if errors.Is(err, tufrepo.ErrRevoked) {
			return nil, fmt.Errorf("%w: %w", ErrVerify, err)
		}
		return nil, fmt.Errorf("updater: runtime: %w", err)
	}
	return u.installRuntime(ctx, rel, "asked by the owner")
}

// installRuntime verifies rel's binary, puts it in place of the
// executable and restarts into it (see the top of this file). Every
// outcome is recorded.
func (u *Updater) installRuntime(ctx context.Context, rel *tufrepo.Release, why string) (*tufrepo.Release, error) {
	c := u.cfg.SelfUpdate
	from := c.Version
	if tufrepo.CompareVersions(rel.Version, from) <= 0 {
		err := fmt.Errorf("%w: %s is not newer than %s", ErrNotNewer, rel.Version, from)
		u.runtimeEvent(ctx, from, rel.Version, "alert", err.Error())
		return nil, err
	}
	u.mu.Lock() // one change at a time, modules' included
	defer u.mu.Unlock()
	bin, err := u.fetchRuntime(ctx, rel)
	if err == nil {
		var tmp string
		if tmp, err = u.stageRuntime(ctx, rel, bin); err == nil {
			return u.swapRuntime(ctx, rel, tmp, why)
		}
	}
	u.runtimeFailed(ctx, rel, err, why != autoUpdate)
	return nil, err
}

// autoUpdate is installRuntime's why for a check's update.
const autoUpdate = "automatic update"

// runtimeFailed records why rel could not be installed. Only a refusal
// (ErrVerify: the signed release contradicts itself or its binary reports
// another version) puts the version on refused_versions for good; any
// other failure (a download cut short or changed in transit, a full disk)
// is recorded once per version and process, unless the owner asked, and
// the next check tries again.
func (u *Updater) runtimeFailed(ctx context.Context, rel *tufrepo.Release, err error, asked bool) {
	from := u.cfg.SelfUpdate.Version
	if errors.Is(err, ErrVerify) {
		u.refuseRuntime(ctx, rel.Version)
		u.runtimeEvent(ctx, from, rel.Version, "failed", err.Error())
		return
	}
	if errors.Is(err, ErrPreempted) || ctx.Err() != nil {
		return
	}
	if u.runtimeFailing[rel.Version] && !asked {
		u.log.Warn("the runtime update failed again; tried again at the next check", "to", rel.Version, "error", err)
		return
	}
	u.runtimeFailing[rel.Version] = true
	u.runtimeEvent(ctx, from, rel.Version, "failed", err.Error()+" (not refused: tried again at the next check)")
}

// swapRuntime puts the staged binary tmp in place of the executable and
// restarts into it; u.mu is held.
func (u *Updater) swapRuntime(ctx context.Context, rel *tufrepo.Release, tmp, why string) (*tufrepo.Release, error) {
	c := u.cfg.SelfUpdate
	from := c.Version
	exe, prev := c.Executable, c.Executable+".previous"
	// Under the restarter's lock, from the rename to the end of the
	// upgrade (and the rollback): a SIGHUP restart meanwhile waits, so it
	// cannot start the new binary behind the updater's back, nor this
	// rollback put the old file back while the new one serves.
	swapped := false
	swap := func() error {
		if err := replaceKeeping(tmp, exe, prev); err != nil {
			return err
		}
		if _, err := u.cfg.Pool.Exec(ctx, `UPDATE websonic.runtime_update SET pending_version = $1, pending_from = $2, updated_at = now()`,
			rel.Version, from); err != nil {
			return errors.Join(fmt.Errorf("updater: runtime: %w", err), restoreFile(prev, exe))
		}
		swapped = true
		u.log.Info("restarting into the new runtime", "from", from, "to", rel.Version, "why", why)
		return nil
	}
	undo := func() error { return restoreFile(prev, exe) }
	err := c.Restart(ctx, swap, undo)
	switch {
	case err == nil:
		return rel, nil
	case !swapped:
		os.Remove(tmp)
		u.runtimeEvent(ctx, from, rel.Version, "failed", err.Error())
		return nil, err
	}
	reason := fmt.Sprintf("the new runtime did not become ready: %v", err)
	u.refuseRuntime(ctx, rel.Version)
	u.runtimeEvent(ctx, from, rel.Version, "rolled_back", reason)
	return nil, fmt.Errorf("updater: runtime %s: %s", rel.Version, reason)
}

// stagedPatterns name the temporary files stageRuntime and canRestart
// leave beside the executable while they work.
var stagedPatterns = []string{".websonic-probe-*", ".websonic-*.*.*-*"}

// removeStaged removes what a staging left beside the executable (a
// crash between writing and renaming), unless a parent process may still
// be staging (RuntimeConfig.Upgraded).
func (u *Updater) removeStaged() {
	c := u.cfg.SelfUpdate
	if c.Executable == "" || c.Upgraded {
		return
	}
	dir := filepath.Dir(c.Executable)
	for _, p := range stagedPatterns {
		names, _ := filepath.Glob(filepath.Join(dir, p))
		for _, n := range names {
			if err := os.Remove(n); err != nil {
				u.log.Warn("removing a leftover of a self-update", "file", n, "error", err)
				continue
			}
			u.log.Info("removed a leftover of an interrupted self-update", "file", n)
		}
	}
}

// refuseRuntime records that version must not be installed again
// automatically, and clears a pending restart into it.
func (u *Updater) refuseRuntime(ctx context.Context, version string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := u.cfg.Pool.Exec(ctx, `UPDATE websonic.runtime_update SET
		refused_versions = CASE WHEN $1 = ANY (refused_versions) THEN refused_versions ELSE refused_versions || $1 END,
		pending_version = CASE WHEN pending_version = $1 THEN NULL ELSE pending_version END,
		pending_from = CASE WHEN pending_version = $1 THEN NULL ELSE pending_from END, updated_at = now()`, version); err != nil {
		u.log.Error("recording a refused runtime version", "version", version, "error", err)
	}
}

// fetchRuntime downloads rel's manifest as its TUF target and its binary
// from the registry, and checks both against the signed release.
func (u *Updater) fetchRuntime(ctx context.Context, rel *tufrepo.Release) ([]byte, error) {
	gctx, done, err := u.gate.acquire(ctx, background)
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	defer done() // the binary's download too: under the gate's limits
	raw, signed, err := u.tuf.DownloadRuntime(gctx, rel.Version, rel.OS, rel.Arch)
	if errors.Is(context.Cause(gctx), ErrPreempted) {
		err = ErrPreempted
	}
	if err != nil {
		return nil, u.transferError(rel, err)
	}
	if sum := sha256.Sum256(raw); "sha256:"+hex.EncodeToString(sum[:]) != rel.ManifestDigest {
		return nil, fmt.Errorf("%w: %s: its signed artifact is not the manifest %s", ErrVerify, rel, rel.ManifestDigest)
	}
	meta, _, err := ocipkg.CheckRuntimeManifest(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrVerify, rel, err)
	}
	if meta.Version != rel.Version || meta.OS != rel.OS || meta.Arch != rel.Arch || signed.BinarySHA256 != rel.BinarySHA256 {
		return nil, fmt.Errorf("%w: %s: the manifest describes %s %s/%s", ErrVerify, rel, meta.Version, meta.OS, meta.Arch)
	}
	repo, err := u.repositoryNamed(tufrepo.RuntimeRepository)
	if err != nil {
		return nil, err
	}
	bin, meta, err := ocipkg.FetchRuntimeFrom(gctx, repo, rel.ManifestDigest)
	if errors.Is(context.Cause(gctx), ErrPreempted) {
		err = ErrPreempted
	}
	if err != nil {
		return nil, u.transferError(rel, err)
	}
	if meta.Version != rel.Version || meta.OS != rel.OS || meta.Arch != rel.Arch {
		return nil, fmt.Errorf("%w: %s: the registry's manifest describes %s %s/%s", ErrVerify, rel, meta.Version, meta.OS, meta.Arch)
	}
	if err := checkBinary(bin, rel); err != nil {
		return nil, err
	}
	return bin, nil
}

// checkBinary compares b with the signed size and sha256 of rel.
func checkBinary(b []byte, rel *tufrepo.Release) error {
	sum := sha256.Sum256(b)
	return checkSum(sum[:], int64(len(b)), rel)
}

// checkSum compares the sha256 sum and size n of a binary with rel's.
func checkSum(sum []byte, n int64, rel *tufrepo.Release) error {
	want, err := hex.DecodeString(rel.BinarySHA256)
	if err != nil || n != rel.BinarySize || subtle.ConstantTimeCompare(sum, want) != 1 {
		return fmt.Errorf("%w: %s: the binary (%d bytes, sha256 %x) is not the signed one (%d bytes, sha256 %s)",
			ErrVerify, rel, n, sum, rel.BinarySize, rel.BinarySHA256)
	}
	return nil
}

// stageRuntime writes bin beside the executable, fsynced, checks the
// bytes on disk again and that the file runs and reports rel's version.
// It returns the file's path; on error nothing is left.
func (u *Updater) stageRuntime(ctx context.Context, rel *tufrepo.Release, bin []byte) (_ string, err error) {
	exe := u.cfg.SelfUpdate.Executable
	f, err := os.CreateTemp(filepath.Dir(exe), ".websonic-"+rel.Version+"-*")
	if err != nil {
		return "", fmt.Errorf("updater: runtime: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := f.Write(bin); err != nil {
		return "", fmt.Errorf("updater: runtime: writing %s: %w", f.Name(), err)
	}
	if err := f.Chmod(0o755); err != nil {
		return "", fmt.Errorf("updater: runtime: %w", err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("updater: runtime: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", fmt.Errorf("updater: runtime: %w", err)
	}
	h := sha256.New() // not a second copy of the binary in memory
	n, err := io.Copy(h, io.LimitReader(f, rel.BinarySize+1))
	if err != nil {
		return "", fmt.Errorf("updater: runtime: reading %s back: %w", f.Name(), err)
	}
	if err := checkSum(h.Sum(nil), n, rel); err != nil {
		// The verified bytes did not land on disk: this machine's
		// fault, not the release's; nothing is refused.
		return "", fmt.Errorf("updater: runtime: %s is not the verified binary as read back: %s", f.Name(), strings.TrimPrefix(err.Error(), ErrVerify.Error()+": "))
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("updater: runtime: %w", err)
	}
	if err := checkReports(ctx, f.Name(), rel.Version); err != nil {
		return "", fmt.Errorf("updater: runtime %s: %w", rel, err)
	}
	return f.Name(), nil
}

// checkReports runs `bin version` and checks the version it reports
// ("websonic VERSION OS/ARCH GO..." on its first line). An answer that is
// not the release's version wraps ErrVerify (the signed binary contradicts
// its release); a binary that does not run here does not (that may be
// this machine's doing: noexec, a full disk, a timeout).
func checkReports(ctx context.Context, bin, version string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "version")
	cmd.Stdout, cmd.Stderr, cmd.Env = &out, io.Discard, []string{}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("`websonic version` of the new binary: %w", err)
	}
	line, _, _ := strings.Cut(out.String(), "\n")
	f := strings.Fields(line)
	if len(f) < 2 || f[0] != "websonic" {
		return fmt.Errorf("%w: `websonic version` of the new binary printed %q", ErrVerify, line)
	}
	if f[1] != version {
		return fmt.Errorf("%w: the new binary reports version %s, not the release's %s", ErrVerify, f[1], version)
	}
	return nil
}

// replaceKeeping makes prev a hard link to exe (the running binary; a copy
// where links fail), then renames tmp over exe and syncs the directory.
func replaceKeeping(tmp, exe, prev string) error {
	if err := os.Remove(prev); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("updater: runtime: %w", err)
	}
	if err := os.Link(exe, prev); err != nil {
		if err := copyFile(exe, prev); err != nil {
			return fmt.Errorf("updater: runtime: keeping %s: %w", prev, err)
		}
	}
	if err := os.Rename(tmp, exe); err != nil {
		return fmt.Errorf("updater: runtime: %w", err)
	}
	return syncDir(filepath.Dir(exe))
}

// restoreFile renames prev back over exe: the binary that was serving.
func restoreFile(prev, exe string) error {
	if err := os.Rename(prev, exe); err != nil {
		return fmt.Errorf("updater: runtime: restoring %s: %w", exe, err)
	}
	return syncDir(filepath.Dir(exe))
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("updater: runtime: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("updater: runtime: %w", err)
	}
	return nil
}

// RuntimeStarted is called once this process serves: if it is the
// pending self-update's new binary, it records 'updated' (from → to) and
// the site's current and previous versions.
func (u *Updater) RuntimeStarted(ctx context.Context) {
	v := u.cfg.SelfUpdate.Version
	if v == "" {
		return
	}
	var from string
	err := u.cfg.Pool.QueryRow(ctx, `UPDATE websonic.runtime_update SET current_version = pending_version,
		previous_version = pending_from, pending_version = NULL, pending_from = NULL,
		available_version = CASE WHEN available_version = pending_version THEN NULL ELSE available_version END, updated_at = now()
		WHERE pending_version = $1 RETURNING previous_version`, v).Scan(&from)
	if errors.Is(err, pgx.ErrNoRows) {
		return
	}
	if err != nil {
		u.log.Error("recording the runtime's update", "error", err)
		return
	}
	u.log.Info("the runtime updated itself", "from", from, "to", v)
	u.runtimeEvent(ctx, from, v, "updated", "")
}

// SetRuntimePolicy records the owner's runtime policy ("" keeps it;
// "default" clears it: each runtime's --self-update) and channel ("" keeps
// it).
func (u *Updater) SetRuntimePolicy(ctx context.Context, policy Policy, channel tufrepo.Channel) error {
	return SetRuntimePolicyOn(ctx, u.cfg.Pool, policy, channel)
}

// SetRuntimePolicyOn is SetRuntimePolicy on a runtime database.
func SetRuntimePolicyOn(ctx context.Context, db DB, policy Policy, channel tufrepo.Channel) error {
	switch policy {
	case "", "default", PolicyAuto, PolicyNotify, PolicyPinned:
	default:
		return fmt.Errorf("updater: runtime policy %q (want auto, notify, pinned or default)", policy)
	}
	switch channel {
	case "", tufrepo.ChannelStable, tufrepo.ChannelBeta:
	default:
		return fmt.Errorf("updater: channel %q (want stable or beta)", channel)
	}
	if policy == "" && channel == "" {
		return errors.New("updater: runtime policy: give a policy, a channel or both")
	}
	_, err := db.Exec(ctx, `UPDATE websonic.runtime_update SET
		policy = CASE WHEN $1 = '' THEN policy WHEN $1 = 'default' THEN NULL ELSE $1 END,
		channel = CASE WHEN $2 = '' THEN channel ELSE $2 END, updated_at = now()`, string(policy), string(channel))
	if err != nil {
		return fmt.Errorf("updater: runtime policy: %w", err)
	}
	return nil
}

// doRuntime answers the queue's runtime requests.
func (u *Updater) doRuntime(ctx context.Context, r Request) (string, error) {
	switch r.Action {
	case ActionRuntimeUpdate:
		rel, err := u.UpdateRuntime(ctx, r.Version)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("runtime %s → %s: the new process serves", u.cfg.SelfUpdate.Version, rel.Version), nil
	case ActionRuntimePolicy:
		if err := u.SetRuntimePolicy(ctx, Policy(r.Policy), tufrepo.Channel(r.Channel)); err != nil {
			return "", err
		}
		u.Kick()
		st, err := runtimeState(ctx, u.cfg.Pool)
		if err != nil {
			return "", err
		}
		p := string(st.Policy)
		if p == "" {
			p = "each runtime's --self-update"
		}
		return fmt.Sprintf("runtime: policy %s, channel %s", p, st.Channel), nil
	}
	return "", fmt.Errorf("updater: unknown request %q", r.Action)
}

package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/internal/watch"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/sdk/manifest"
)

// Boot starts every installed module at its recorded version, from the
// local store (verified again) or, when it is missing there, from the
// registry. A module that fails to start is recorded and skipped: the
// others serve. It then clears the package store of what no installation
// needs (a crash's leftovers among it).
func (u *Updater) Boot(ctx context.Context) error {
	// Requests a stopped runtime was working on (another replica's, whose
	// listener session is alive, go on). Not under u.mu: startRecorded
	// takes it for each swap.
	if err := requestq.FailStale(ctx, u.cfg.Pool); err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	ins, err := u.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, in := range ins {
		l := u.store.lease()
		err := u.startRecorded(ctx, in, l)
		l.release()
		if err != nil {
			u.log.Error("an installed module could not start", "module", in.Name, "version", in.Version, "error", err)
			u.event(ctx, in.Name, "", in.Version, "failed", "start: "+err.Error())
			errs = append(errs, err)
		}
	}
	u.collect(ctx)
	u.noteThemes(ctx)
	return errors.Join(errs...)
}

// startRecorded starts an installation record unless it runs already: it
// prepares the package without the lock (it may have to download it),
// then starts it under the lock if the record still names it. l keeps
// what a download stores.
func (u *Updater) startRecorded(ctx context.Context, in Installed, l *lease) error {
	p, err := u.prepareRecorded(ctx, in, l)
	if err != nil {
		return err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	cur, err := u.get(ctx, in.Name)
	if errors.Is(err, ErrNotInstalled) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur.Digest != in.Digest {
		return nil // changed meanwhile: a reconcile starts the new record
	}
	if v, ok := u.cfg.Runtime.Running(cur.Name); ok && v == cur.Version {
		return nil
	}
	// Tolerate a schema a newer version migrated: the process may have
	// stopped after an update's migrations and before its commit.
	return u.cfg.Runtime.Swap(ctx, p, approval(p, cur.Approved), true, nil)
}

// prepareRecorded returns the package of an installation record, verified:
// from the local store or, when it is missing there, downloaded through the
// signed metadata (at background priority). l keeps what it stores.
func (u *Updater) prepareRecorded(ctx context.Context, in Installed, l *lease) (*modhost.Package, error) {
	rel := &tufrepo.Release{Module: in.Name, Version: in.Version, ManifestDigest: in.Digest}
	l.holdManifest(digest.Digest(in.Digest))
	p, err := u.loadStored(ctx, rel)
	if err != nil {
		// Not on disk (a new replica, a wiped data dir): download it
		// through the signed metadata.
		if rerr := u.refresh(ctx, background); rerr != nil {
			return nil, fmt.Errorf("%w (and the registry: %w)", err, rerr)
		}
		signed, rerr := u.release(in.Name, in.Version, in.Channel)
		if rerr != nil {
			return nil, rerr
		}
		if signed.ManifestDigest != in.Digest {
			return nil, fmt.Errorf("%w: %s is signed with digest %s, recorded %s", ErrVerify, signed, signed.ManifestDigest, in.Digest)
		}
		if p, err = u.fetch(ctx, signed, background, l); err != nil {
			return nil, err
		}
	}
	if rel, err := u.tuf.Release(in.Name, in.Version); errors.Is(err, tufrepo.ErrRevoked) {
		return nil, fmt.Errorf("%w: %s@%s was revoked by its publisher", ErrVerify, in.Name, in.Version)
	} else if err == nil && rel.ManifestDigest != in.Digest {
		return nil, fmt.Errorf("%w: %s@%s is signed with another digest than the one installed", ErrVerify, in.Name, in.Version)
	}
	return p, nil
}

// Check refreshes the trusted metadata and applies each module's policy
// (see the package doc). Failures are recorded and joined. It is background
// work (see Updater): it never holds up the owner's requests, and a change
// it finds stale or is pre-empted from comes back as an error wrapping
// ErrPreempted or errStale after a Kick, so that Run checks again.
func (u *Updater) Check(ctx context.Context) error {
	u.checkMu.Lock()
	defer u.checkMu.Unlock()
	err := u.checkAll(ctx)
	if errors.Is(err, ErrPreempted) || errors.Is(err, errStale) {
		u.Kick()
	}
	return err
}

func (u *Updater) checkAll(ctx context.Context) error {
	if err := u.refresh(ctx, background); err != nil {
		return err
	}
	ins, err := u.List(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, in := range ins {
		if err := u.check(ctx, in); err != nil {
			errs = append(errs, err)
		}
	}
	if err := u.checkThemes(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := u.checkRuntime(ctx); err != nil { // runtime.go
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (u *Updater) check(ctx context.Context, in Installed) error {
	_, err := u.tuf.Release(in.Name, in.Version)
	revoked := errors.Is(err, tufrepo.ErrRevoked)
	if key := in.Name + "@" + in.Version; revoked && !u.alerted[key] {
		u.alerted[key] = true
		u.event(ctx, in.Name, in.Version, "", "alert", fmt.Sprintf("%s was revoked by its publisher", key))
	}
	if in.Policy == PolicyPinned && !revoked {
		return nil
	}
	latest, err := u.release(in.Name, "", in.Channel)
	if errors.Is(err, tufrepo.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if tufrepo.CompareVersions(latest.Version, in.Version) <= 0 && !revoked {
		return nil // never "update" to an older version
	}
	if latest.Version == in.StagedVersion {
		return nil // waiting for the owner
	}
	var caps manifest.Capabilities
	if err := json.Unmarshal(latest.Capabilities, &caps); err != nil {
		return fmt.Errorf("%w: %s: capabilities: %w", ErrVerify, latest, err)
	}
	if in.Policy == PolicyNotify && !revoked {
		if latest.Version != in.StagedVersion {
			u.stage(ctx, in, latest, "available: the module is on notify-only updates")
			u.event(ctx, in.Name, in.Version, latest.Version, "available", "")
		}
		return nil
	}
	if grows := Grows(in.Approved, caps); len(grows) > 0 {
		reason := "asks for more than approved: " + strings.Join(grows, ", ")
		u.stage(ctx, in, latest, reason)
		u.event(ctx, in.Name, in.Version, latest.Version, "staged", reason)
		u.log.Warn("module update staged until the owner approves it", "module", in.Name, "version", latest.Version, "reason", reason)
		return nil
	}
	outcome, reason := "updated", "automatic update"
	if revoked {
		reason = "the installed version was revoked"
		if tufrepo.CompareVersions(latest.Version, in.Version) < 0 {
			outcome = "rolled_back"
		}
	}
	return u.apply(ctx, change{rel: latest, prev: &in, approved: in.Approved, channel: in.Channel, policy: in.Policy, outcome: outcome, reason: reason, by: background})
}

// stage records rel as waiting for the owner, unless the installation
// changed since in was read.
func (u *Updater) stage(ctx context.Context, in Installed, rel *tufrepo.Release, reason string) {
	if _, err := u.cfg.Pool.Exec(ctx, `UPDATE websonic.module_installs SET staged_version = $2, staged_reason = $3
		WHERE name = $1 AND digest = $4`, in.Name, rel.Version, reason, in.Digest); err != nil {
		u.log.Error("staging an update", "module", in.Name, "error", err)
	}
}

// Approve approves the capabilities of the update staged for a module
// and installs it.
func (u *Updater) Approve(ctx context.Context, name string) (*tufrepo.Release, error) {
	return u.approve(ctx, name, "")
}

// approve is Approve refusing any release but the one of digest ("" for
// any).
func (u *Updater) approve(ctx context.Context, name, digest string) (*tufrepo.Release, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	in, err := u.get(ctx, name)
	if err != nil {
		return nil, err
	}
	if in.StagedVersion == "" {
		return nil, fmt.Errorf("%w: %s", ErrNothingStaged, name)
	}
	if err := u.refresh(ctx, owner); err != nil {
		return nil, err
	}
	rel, err := u.release(name, in.StagedVersion, in.Channel)
	if err != nil {
		return nil, err
	}
	if err := confirmed(rel, digest); err != nil {
		return nil, err
	}
	var caps manifest.Capabilities
	if err := json.Unmarshal(rel.Capabilities, &caps); err != nil {
		return nil, fmt.Errorf("%w: %s: capabilities: %w", ErrVerify, rel, err)
	}
	return rel, u.apply(ctx, change{rel: rel, prev: in, approved: caps, channel: in.Channel, policy: in.Policy,
		outcome: "updated", reason: "approved by the site owner: " + in.StagedReason, by: owner})
}

// SetPolicy changes a module's policy and channel ("" keeps them).
func (u *Updater) SetPolicy(ctx context.Context, name string, policy Policy, channel tufrepo.Channel) error {
	if err := checkChoice(policy, channel); err != nil {
		return err
	}
	tag, err := u.cfg.Pool.Exec(ctx, `UPDATE websonic.module_installs SET policy = coalesce(nullif($2, ''), policy),
		channel = coalesce(nullif($3, ''), channel), updated_at = now() WHERE name = $1`, name, string(policy), string(channel))
	if err != nil {
		return fmt.Errorf("updater: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrNotInstalled, name)
	}
	return nil
}

// Kick asks Run for a check soon (a watch notice); it never blocks.
func (u *Updater) Kick() {
	select {
	case u.kick <- struct{}{}:
	default:
	}
}

// Run follows the registry until ctx ends: it checks for updates on each
// watch-stream notice and every Interval, answers module requests and
// reconciles with installation changes made by other runtimes. The three
// run apart, so that the owner's requests never wait for a check or a
// reconcile (see Updater).
func (u *Updater) Run(ctx context.Context) {
	go watch.Subscribe(ctx, watch.ClientConfig{
		URL: strings.TrimSuffix(u.cfg.Registry, "/") + "/v1/watch", HTTPClient: u.stream, Logger: u.log.Named("watch"),
	}, func(int64) { u.Kick() })
	go u.reconciler(ctx, u.recon)
	go u.themeReconciler(ctx)
	// With the server's Serve: served once (requestq.Queue.Run). Run
	// returns only once the queue has answered the request it was on, so
	// that a process leaving (a self-update's old one) answers first.
	queued := make(chan struct{})
	go func() { defer close(queued); u.queue.Run(ctx) }()
	defer func() { <-queued }()
	t := time.NewTicker(u.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-u.kick:
		}
		err := u.Check(ctx)
		switch {
		case err == nil, ctx.Err() != nil:
		case errors.Is(err, ErrPreempted), errors.Is(err, errStale):
			u.log.Debug("update check postponed", "reason", err)
		default:
			u.log.Warn("update check", "error", err)
		}
	}
}

// reconciler reconciles each time the request queue wakes it (a
// notification of the module channel, or its periodic round).
func (u *Updater) reconciler(ctx context.Context, wake <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-wake:
		}
		u.reconcile(ctx)
	}
}

// reconcile starts the recorded version of every module whose running
// version differs (another runtime installed or rolled it back). The
// record is read again under the lock, so an update finishing meanwhile
// is never undone; a module that fails to start is retried with backoff.
func (u *Updater) reconcile(ctx context.Context) {
	ins, err := u.List(ctx)
	if err != nil {
		u.log.Error("reconcile", "error", err)
		return
	}
	for _, in := range ins {
		if v, ok := u.cfg.Runtime.Running(in.Name); ok && v == in.Version {
			continue
		}
		if err := u.reconcileOne(ctx, in.Name); err != nil && ctx.Err() == nil {
			u.log.Error("reconcile", "module", in.Name, "error", err)
		}
	}
}

// reconcileOne starts a module's recorded version (see startRecorded).
func (u *Updater) reconcileOne(ctx context.Context, name string) error {
	in, err := u.get(ctx, name)
	if errors.Is(err, ErrNotInstalled) {
		return nil
	}
	if err != nil {
		return err
	}
	if v, ok := u.cfg.Runtime.Running(in.Name); ok && v == in.Version {
		return nil
	}
	key := in.Name + "@" + in.Digest
	u.memo.Lock()
	f, failing := u.failing[key]
	u.memo.Unlock()
	if failing && time.Now().Before(f.next) {
		return nil
	}
	l := u.store.lease()
	defer func() {
		l.release()
		u.collect(ctx)
	}()
	err = u.startRecorded(ctx, *in, l)
	if errors.Is(err, ErrPreempted) {
		return nil // the next pass
	}
	u.memo.Lock()
	defer u.memo.Unlock()
	if err != nil {
		f := u.failing[key]
		f.delay = min(max(2*f.delay, 5*time.Second), 10*time.Minute)
		f.next = time.Now().Add(f.delay)
		if u.failing[key].delay == 0 {
			u.event(ctx, in.Name, "", in.Version, "failed", "start: "+err.Error())
		}
		u.failing[key] = f
		return err
	}
	delete(u.failing, key)
	return nil
}

// Request is a module request from the CLI or the admin UI.
type Request = requestq.Request

// Enqueue records a request for the running runtimes and wakes them.
func Enqueue(ctx context.Context, db DB, r Request) (int64, error) {
	return requestq.Enqueue(ctx, db, r)
}

// register registers the updater's actions on the request queue, and
// wakes the reconciler on each of its rounds.
func (u *Updater) register(q *requestq.Queue) {
	for _, action := range []string{"install", "rollback", "approve", "policy", "available"} {
		q.Handle(action, u.do)
	}
	for _, action := range []string{ActionThemeInstall, ActionThemeRollback, ActionThemePolicy, ActionThemeUninstall} {
		q.Handle(action, u.doTheme)
	}
	for _, action := range []string{ActionRuntimeUpdate, ActionRuntimePolicy} {
		q.Handle(action, u.doRuntime)
	}
	q.OnWake(func() {
		select {
		case u.recon <- struct{}{}:
		default:
		}
		select {
		case u.themeWake <- struct{}{}:
		default:
		}
	})
}

func (u *Updater) do(ctx context.Context, r Request) (string, error) {
	if r.DryRun {
		p, err := u.Preview(ctx, r)
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(p)
		return string(b), err
	}
	switch r.Action {
	case "available":
		return u.available(ctx)
	case "install":
		rel, err := u.install(ctx, r.Module, r.Version, tufrepo.Channel(r.Channel), Policy(r.Policy), r.Digest)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s installed (%s)", rel, rel.ManifestDigest), nil
	case "rollback":
		rel, err := u.Rollback(ctx, r.Module)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s rolled back to %s (pinned: `websonic module install %s` resumes updates)", r.Module, rel.Version, r.Module), nil
	case "approve":
		rel, err := u.approve(ctx, r.Module, r.Digest)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s approved and installed", rel), nil
	case "policy":
		if err := u.SetPolicy(ctx, r.Module, Policy(r.Policy), tufrepo.Channel(r.Channel)); err != nil {
			return "", err
		}
		u.Kick()
		return fmt.Sprintf("%s: policy %s, channel %s", r.Module, r.Policy, r.Channel), nil
	}
	return "", fmt.Errorf("updater: unknown request %q", r.Action)
}

package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/internal/watch"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/pgnotify"
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
	if _, err := u.cfg.Pool.Exec(ctx, `UPDATE websonic.module_requests r SET status = 'failed', done_at = now(),
		result = 'the runtime stopped while working on it: send it again' WHERE status = 'running' AND NOT `+takerAlive,
		ListenerName); err != nil {
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
	if policy != "" && policy != PolicyAuto && policy != PolicyNotify && policy != PolicyPinned {
		return fmt.Errorf("updater: policy %q (want auto, notify or pinned)", policy)
	}
	if channel != "" && channel != tufrepo.ChannelStable && channel != tufrepo.ChannelBeta {
		return fmt.Errorf("updater: channel %q (want stable or beta)", channel)
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
	recon := make(chan struct{}, 1)
	go u.reconciler(ctx, recon)
	go u.listen(ctx, recon)
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

// listen answers requests when the site's module channel is notified
// (pgnotify: one round for any burst of notifications), and every few
// seconds in case a notification was missed, and wakes the reconciler.
//
// The listening session is named ListenerName: that tells the CLI that a
// runtime answers requests (Listeners) and, with its pid, which one took a
// request.
func (u *Updater) listen(ctx context.Context, recon chan<- struct{}) {
	var pid atomic.Uint32
	l := pgnotify.Listen(ctx, pgnotify.ListenConfig{
		Pool: u.cfg.Pool, Channel: u.channel, AppName: ListenerName, Logger: u.log.Named("notify"),
		OnListen: func(p uint32) {
			pid.Store(p)
			if p != 0 {
				u.log.Info("answering module requests", "session", p)
			}
		},
	})
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		if p := pid.Load(); p != 0 {
			u.serveRequests(ctx, p)
		}
		select {
		case recon <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			<-l.Done()
			return
		case <-l.C():
		case <-t.C:
		}
	}
}

// reconciler reconciles each time listen wakes it.
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
type Request struct {
	Action  string // install, rollback, approve, policy
	Module  string
	Version string
	Channel string
	Policy  string
	// DryRun asks what an install or approve would do (a Preview, as
	// JSON in the result) without doing it.
	DryRun bool
	// Digest, when set, binds an install or approve to the release the
	// owner saw (Preview.Digest): any other is refused.
	Digest string
}

// Enqueue records a request for the running runtime and wakes it.
func Enqueue(ctx context.Context, db DB, r Request) (int64, error) {
	var id int64
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `INSERT INTO websonic.module_requests (action, module, version, channel, policy, dry_run, digest)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, r.Action, r.Module, r.Version, r.Channel, r.Policy, r.DryRun, r.Digest).Scan(&id); err != nil {
			return err
		}
		channel, err := pgnotify.Channel(ctx, tx, NotifyPurpose)
		if err != nil {
			return err
		}
		return pgnotify.Notify(ctx, tx, channel)
	})
	if err != nil {
		return 0, fmt.Errorf("updater: request: %w", err)
	}
	return id, nil
}

// serveRequests answers pending requests, one at a time, each claimed by
// one runtime: the one whose request listener has backend pid listener.
func (u *Updater) serveRequests(ctx context.Context, listener uint32) {
	for ctx.Err() == nil {
		var r Request
		var id int64
		err := u.cfg.Pool.QueryRow(ctx, `UPDATE websonic.module_requests SET status = 'running', taken_by = $1, taken_at = now()
			WHERE id = (SELECT id FROM websonic.module_requests WHERE status = 'pending' ORDER BY id FOR UPDATE SKIP LOCKED LIMIT 1)
			RETURNING id, action, module, version, channel, policy, dry_run, digest`, int32(listener)).Scan(
			&id, &r.Action, &r.Module, &r.Version, &r.Channel, &r.Policy, &r.DryRun, &r.Digest)
		if errors.Is(err, pgx.ErrNoRows) {
			return
		}
		if err != nil {
			u.log.Error("module requests", "error", err)
			return
		}
		result, rerr := u.do(ctx, r)
		status := "done"
		if rerr != nil {
			status, result = "failed", rerr.Error()
		}
		if _, err := u.cfg.Pool.Exec(context.WithoutCancel(ctx), `UPDATE websonic.module_requests SET status = $2, result = $3, done_at = now() WHERE id = $1`,
			id, status, result); err != nil {
			u.log.Error("module requests", "error", err)
		}
	}
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

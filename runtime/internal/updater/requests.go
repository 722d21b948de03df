package updater

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/sdk/manifest"
)

// The request queue moved to package requestq, which every runtime
// serves; the updater registers its actions there (Register). These names
// stay for its callers.

// DB is what the request functions need of a pool.
type DB = requestq.DB

// ListenerName is the application_name of a runtime's request listener
// session (requestq.ListenerName).
const ListenerName = requestq.ListenerName

// Listeners counts the runtimes listening for module requests on db.
func Listeners(ctx context.Context, db DB) (int, error) { return requestq.Listeners(ctx, db) }

// Request statuses.
const (
	StatusPending   = requestq.StatusPending
	StatusRunning   = requestq.StatusRunning
	StatusDone      = requestq.StatusDone
	StatusFailed    = requestq.StatusFailed
	StatusCancelled = requestq.StatusCancelled
)

// RequestState is what became of a request so far.
type RequestState = requestq.RequestState

// RequestError is a request that did not succeed, and exactly why.
type RequestError = requestq.RequestError

// What a request that did not succeed became (see RequestError).
var (
	ErrNoRuntime    = requestq.ErrNoRuntime
	ErrNotTaken     = requestq.ErrNotTaken
	ErrStillRunning = requestq.ErrStillRunning
	ErrTakerGone    = requestq.ErrTakerGone
	ErrFailed       = requestq.ErrFailed
)

// Wait waits for request id to be answered (requestq.Wait).
func Wait(ctx context.Context, db DB, id int64, progress func(RequestState)) (string, error) {
	return requestq.Wait(ctx, db, id, progress)
}

// Preview is what an install or approve would do: the answer to a
// DryRun request.
type Preview struct {
	// Module, Version and Digest name the release it would install.
	Module, Version, Digest string
	// Installed is the version serving now ("" for none).
	Installed string `json:",omitempty"`
	// Capabilities are what the release asks for; the owner approves them
	// all by installing it.
	Capabilities manifest.Capabilities
	// New lists what it asks for beyond what the owner approved for the
	// installed version (Grows); empty for a first install.
	New []string `json:",omitempty"`
}

// Preview answers what the install or approve request r would do,
// without doing it. Its Digest, sent back as r.Digest, binds the real
// request to that release.
func (u *Updater) Preview(ctx context.Context, r Request) (*Preview, error) {
	channel := tufrepo.Channel(r.Channel)
	if channel == "" {
		channel = tufrepo.ChannelStable
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	in, err := u.get(ctx, r.Module)
	if err != nil && !errors.Is(err, ErrNotInstalled) {
		return nil, err
	}
	version := r.Version
	switch r.Action {
	case ActionThemeInstall:
		return u.previewTheme(ctx, r.Module, version, channel)
	case "install":
	case "approve":
		if in == nil {
			return nil, err
		}
		if in.StagedVersion == "" {
			return nil, fmt.Errorf("%w: %s", ErrNothingStaged, r.Module)
		}
		version, channel = in.StagedVersion, in.Channel
	default:
		return nil, fmt.Errorf("updater: a dry run of %q: only install, approve and theme_install have one", r.Action)
	}
	if err := u.refresh(ctx, owner); err != nil {
		return nil, err
	}
	rel, err := u.release(r.Module, version, channel)
	if err != nil {
		return nil, err
	}
	p := &Preview{Module: rel.Module, Version: rel.Version, Digest: rel.ManifestDigest}
	if err := json.Unmarshal(rel.Capabilities, &p.Capabilities); err != nil {
		return nil, fmt.Errorf("%w: %s: capabilities: %w", ErrVerify, rel, err)
	}
	if in != nil {
		p.Installed, p.New = in.Version, Grows(in.Approved, p.Capabilities)
	}
	return p, nil
}

// previewTheme is Preview of a theme install (the caller holds u.mu): the
// release the signed metadata names, refused when revoked or of a theme
// format this runtime does not render. Themes ask for no capabilities.
func (u *Updater) previewTheme(ctx context.Context, name, version string, channel tufrepo.Channel) (*Preview, error) {
	if err := u.refresh(ctx, owner); err != nil {
		return nil, err
	}
	rel, err := u.themeRelease(name, version, channel)
	if err != nil {
		return nil, err
	}
	p := &Preview{Module: rel.Module, Version: rel.Version, Digest: rel.ManifestDigest}
	if in, err := u.getTheme(ctx, name); err == nil {
		p.Installed = in.Version
	}
	return p, nil
}

// ErrChanged: the release an install or approve resolves to is not the
// one the owner confirmed.
var ErrChanged = errors.New("updater: the release changed since it was confirmed")

// confirmed checks that rel is the release of digest ("" accepts any).
func confirmed(rel *tufrepo.Release, digest string) error {
	if digest == "" || rel.ManifestDigest == digest {
		return nil
	}
	return fmt.Errorf("%w: %s is now %s, not the release shown (%s): send the request again to see what it asks for",
		ErrChanged, rel.Module, rel, digest)
}

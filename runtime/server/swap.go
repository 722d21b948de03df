package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/modhost"
)

// Stage names the step of a start or update that failed (SwapError.Stage).
type Stage = modhost.Stage

// The stages of a start or update, in order.
const (
	StageRoutes      = modhost.StageRoutes // checked first, and again before the switch
	StageConfig      = modhost.StageConfig
	StageProvision   = modhost.StageProvision
	StageMigrate     = modhost.StageMigrate
	StageCompile     = modhost.StageCompile
	StageInstantiate = modhost.StageInstantiate
	StageHealth      = modhost.StageHealth
	StageCommit      = modhost.StageCommit
)

// SwapOptions are Swap's choices. The zero value is an update.
type SwapOptions struct {
	// Rollback runs the package against a schema that a newer version has
	// migrated: the module's applied migrations may include ones the
	// package does not list, provided the package's migrations are a prefix
	// of the applied ones (same names and checksums, in order). Anything
	// else is refused at the migrate stage, as without Rollback.
	Rollback bool
	// Commit, when not nil, runs once the new version is migrated, warm and
	// healthy, just before it takes traffic (e.g. to record the install);
	// its error fails the swap at StageCommit like any other stage.
	Commit func(context.Context) error
	// DrainTimeout bounds the wait for the requests the previous version is
	// still serving once the new one has taken over (30s); past it, their
	// instances are closed as their calls return.
	DrainTimeout time.Duration
}

// SwapError is an update (or rollback) that failed at Stage. The version
// that was running, if any, keeps serving, unchanged.
type SwapError struct {
	Module   string
	From, To string // versions; From is "" when the module was not running
	Rollback bool
	Stage    Stage
	Err      error
}

func (e *SwapError) Error() string {
	verb := "update"
	if e.Rollback {
		verb = "roll back"
	}
	from := e.From
	if from == "" {
		from = "(not running)"
	}
	return fmt.Sprintf("server: %s %s from %s to %s: %s: %v", verb, e.Module, from, e.To, e.Stage, e.Err)
}

func (e *SwapError) Unwrap() error { return e.Err }

// Swap replaces the running version of module p.Manifest.Name by p, without
// failing a request (DESIGN decision 10); a module that is not running is
// started as by Start. ap is the site owner's approval for the new version.
//
// Everything happens off the request path while the running version keeps
// serving: the new version's routes are checked against the other modules',
// then it is provisioned and migrated (its migrations run while the old
// version serves: module authors keep each version's schema usable by the
// previous one, see the sdk package's documentation), compiled (from the
// compilation cache when the bytes are known), its pool warmed and its
// health entry point called. Only then do routes and module list switch, in
// one atomic store: requests from then on go to the new version, requests
// already inside the old one finish there, and the old version closes once
// they have (SwapOptions.DrainTimeout). Last, the module's database grants
// narrow to the new version's approval (both versions' views were granted
// while both ran).
//
// Any failure before the switch closes the new version and leaves the old
// one serving with its grants; the error is a *SwapError naming the stage.
// Updates and their failures go to the audit log (module.update,
// module.update_failed). Swaps, starts and Close are serialised.
func (s *Server) Swap(ctx context.Context, p *modhost.Package, ap modhost.Approval, opts SwapOptions) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	name, to := p.Manifest.Name, p.Manifest.Version
	old := s.Module(name)
	if old == nil {
		if stage, err := s.start(ctx, p, ap, opts.Rollback, opts.Commit); err != nil {
			return &SwapError{Module: name, To: to, Rollback: opts.Rollback, Stage: stage, Err: unwrapStart(err)}
		}
		return nil
	}
	from := old.Manifest().Version
	fail := func(stage Stage, err error) error {
		err = &SwapError{Module: name, From: from, To: to, Rollback: opts.Rollback, Stage: stage, Err: unwrapStart(err)}
		s.log.Error("module update failed; the running version keeps serving", "module", name, "from", from, "to", to,
			"stage", stage, "error", err)
		s.audit(ctx, "module.update_failed", name, map[string]any{
			"from": from, "to": to, "rollback": opts.Rollback, "stage": stage, "reason": err.Error(),
		})
		return err
	}
	start := time.Now()
	if _, err := s.state.Load().routes.without(name).with(p.Manifest, nil); err != nil {
		return fail(StageRoutes, err) // before any work
	}
	ap = s.withStoredConfig(ctx, p.Manifest, ap)
	next, err := s.host.Start(ctx, p, ap, modhost.StartOptions{Replaces: old, Rollback: opts.Rollback})
	if err != nil {
		var se *modhost.StartError
		if errors.As(err, &se) {
			return fail(se.Stage, err)
		}
		return fail(StageProvision, err)
	}
	undo := func(stage Stage, err error) error {
		next.Close(ctx)
		if serr := s.host.Settle(context.WithoutCancel(ctx), old); serr != nil {
			s.log.Error("could not restore the running version's database grants", "module", name, "error", serr)
		}
		return fail(stage, err)
	}
	cur := s.state.Load()
	routes, err := cur.routes.without(name).with(next.Manifest(), next)
	if err != nil { // cannot happen under s.mu, but never mount a conflict
		return undo(StageRoutes, err)
	}
	if opts.Commit != nil {
		if err := opts.Commit(ctx); err != nil {
			return undo(StageCommit, err)
		}
	}
	mods := slices.Clone(cur.modules)
	mods[slices.Index(mods, old)] = next
	s.state.Store(&serving{modules: mods, routes: routes, assets: assetsAfter(cur.assets, next, old)})
	switched := time.Since(start)

	// The new version serves. The old one finishes what it has, even if
	// ctx ends now: those are requests of the site's users.
	drain := opts.DrainTimeout
	if drain <= 0 {
		drain = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	if err := old.Close(dctx); err != nil {
		s.log.Error("closing the previous version", "module", name, "version", from, "error", err)
	}
	detail := map[string]any{"from": from, "to": to, "rollback": opts.Rollback, "core_data": ap.Views}
	if err := s.host.Settle(dctx, next); err != nil {
		// The update happened; the grants stay the union of both versions'
		// until the module's next start.
		s.log.Error("could not narrow the module's database grants to the new version's", "module", name, "error", err)
		detail["grants_error"] = err.Error()
	}
	s.log.Info("module updated", "module", name, "from", from, "to", to, "rollback", opts.Rollback,
		"switched_after", switched.Round(time.Millisecond), "took", time.Since(start).Round(time.Millisecond))
	s.audit(ctx, "module.update", name, detail)
	return nil
}

// unwrapStart drops modhost's StartError, whose module, version and stage
// a SwapError repeats.
func unwrapStart(err error) error {
	var se *modhost.StartError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}

// audit records an event of the system, logging (not returning) a failure
// to do so; it runs even if ctx has ended.
func (s *Server) audit(ctx context.Context, action, subject string, detail any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := coredb.Audit(ctx, s.db.Pool, 0, action, subject, detail); err != nil {
		s.log.Error("audit log", "error", err)
	}
}

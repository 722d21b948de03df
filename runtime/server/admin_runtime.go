package server

import (
	"context"
	"fmt"

	"github.com/websonic/websonic/internal/buildinfo"
	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/updater"
)

var _ admin.RuntimeUpdates = adminLifecycle{}

// RuntimeUpdate is the admin Updates page's "This runtime": this binary's
// version, the self-update policy in force here (the owner's, unless this
// runtime's --self-update is off) and the runtime's update events.
func (l adminLifecycle) RuntimeUpdate(ctx context.Context, events int) (*admin.RuntimeUpdate, error) {
	st, err := updater.RuntimeStateFrom(ctx, l.s.db.Pool)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	evs, err := updater.RuntimeEventsFrom(ctx, l.s.db.Pool, events)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	su := l.s.cfg.SelfUpdate
	policy, owner := su.Policy, false
	switch {
	case l.s.updater == nil || policy == "":
		policy = updater.PolicyOff
	case policy != updater.PolicyOff && st.Policy != "":
		policy, owner = st.Policy, true
	}
	ru := &admin.RuntimeUpdate{
		Version: buildinfo.Version(), Policy: string(policy), OwnerSet: owner, Channel: string(st.Channel),
		Available: st.AvailableVersion, Refused: st.Refused, Events: evs,
	}
	if su.Restart == nil {
		ru.CannotRestart = su.CannotRestart
	}
	return ru, nil
}

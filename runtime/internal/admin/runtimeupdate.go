package admin

import (
	"context"

	"github.com/websonic/websonic/runtime/internal/updater"
)

// RuntimeUpdates is what the Updates page shows of the runtime itself:
// its version and self-update (package updater's runtime.go). The
// server's Lifecycle implements it; a Lifecycle without it shows no such
// section.
type RuntimeUpdates interface {
	RuntimeUpdate(ctx context.Context, events int) (*RuntimeUpdate, error)
}

// RuntimeUpdate is the runtime's self-update as the owner sees it.
type RuntimeUpdate struct {
	// Version is the serving binary's.
	Version string
	// Policy is the policy in force here: auto, notify, pinned or off.
	Policy string
	// OwnerSet says the owner chose Policy (`websonic runtime policy`);
	// otherwise it is this runtime's --self-update.
	OwnerSet bool
	// CannotRestart says why this runtime cannot replace itself ("" when
	// it can): auto then acts as notify.
	CannotRestart string
	Channel       string
	// Available is a newer release seen under notify ("" none).
	Available string
	// Refused are versions never installed again automatically.
	Refused []string
	// Events are the newest runtime update events first.
	Events []updater.Event
}

// runtimeUpdate reads the section's data, nil when the Lifecycle has none.
func (a *Area) runtimeUpdate(ctx context.Context, lc Lifecycle) (*RuntimeUpdate, error) {
	ru, ok := lc.(RuntimeUpdates)
	if !ok {
		return nil, nil
	}
	return ru.RuntimeUpdate(ctx, 20)
}

package updater

import (
	"context"
	"fmt"
)

// PolicyOff is a runtime's --self-update off: no runtime release checks
// at all, whatever the owner's policy (a binary someone else manages: a
// container image, a distribution package).
const PolicyOff Policy = "off"

// The request queue's runtime actions (runtime.go).
const (
	ActionRuntimeUpdate = "runtime_update" // check now and install Version ("" the newest) here
	ActionRuntimePolicy = "runtime_policy" // the owner's Policy ("default": the runtimes' flag) and/or Channel
)

// RuntimeConfig configures the self-update of the runtime binary
// (runtime.go). The zero value checks nothing.
type RuntimeConfig struct {
	// Policy is this runtime's policy when the owner set none (`websonic
	// runtime policy`): auto, notify or pinned; "" or PolicyOff: no
	// runtime checks here at all, whatever the owner set.
	Policy Policy
	// Version is the running binary's version (buildinfo.Version()).
	Version string
	// OS and Arch are the running platform (runtime.GOOS, runtime.GOARCH).
	OS, Arch string
	// Executable is the file a self-update replaces: the running binary,
	// symbolic links resolved (restart.Restarter.Executable). The new
	// binary is written beside it and the replaced one kept as
	// Executable+".previous".
	Executable string
	// Restart runs swap (which replaces the executable), starts the
	// replaced executable and returns nil once the new process serves,
	// after which this one drains and exits; if the new process never
	// became ready it runs undo (which puts the old file back) and
	// returns an error, and this one serves on; an error of swap is
	// returned as it is. All of it under the lock that keeps a graceful
	// restart (SIGHUP) out meanwhile (restart.Restarter.UpgradeWith). nil:
	// this runtime cannot replace itself, and auto acts as notify.
	Restart func(ctx context.Context, swap, undo func() error) error
	// Upgraded: an upgrade started this process (its parent, which may be
	// staging a self-update, still runs). Otherwise New removes the
	// leftovers of a staging a crash interrupted beside Executable.
	Upgraded bool
	// CannotRestart says why Restart is nil, for the owner.
	CannotRestart string
	// AllowDev lets a development build (version "0.0.0-dev") update
	// itself like a release: tests only. Otherwise a development build
	// only installs what `websonic runtime update` asks for.
	AllowDev bool
}

// DevVersion is the version of a build not given one (buildinfo's).
const DevVersion = "0.0.0-dev"

func (c RuntimeConfig) enabled() bool { return c.Policy != "" && c.Policy != PolicyOff }

func (c RuntimeConfig) validate() error {
	switch c.Policy {
	case "", PolicyOff:
		return nil
	case PolicyAuto, PolicyNotify, PolicyPinned:
	default:
		return fmt.Errorf("updater: self-update policy %q (want auto, notify, pinned or off)", c.Policy)
	}
	if c.Version == "" || c.OS == "" || c.Arch == "" {
		return fmt.Errorf("updater: self-update needs Version, OS and Arch")
	}
	return nil
}

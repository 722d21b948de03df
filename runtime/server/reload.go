package server

import (
	"context"
	"time"
)

// reloadEvery is how often Serve looks at Config.ModulesDir for rebuilt
// modules. A change is swapped in once two looks in a row have seen the
// same files, so one to two intervals after the build wrote its last file.
const reloadEvery = time.Second

// watch scans the modules folder every reloadEvery until ctx ends or stop
// is called (stop waits for a scan in progress). Each folder whose files
// changed and settled is loaded and swapped in through Server.Swap: the
// running version serves until the new one is migrated, warm and healthy,
// and keeps serving if it fails (see localModules.load).
//
// Why polling and not file-system notifications (fsnotify): a build
// rewrites a package in several steps (module.wasm, module.json, the
// migrations), so a change must settle before it is loaded whatever tells
// us about it; a stat of a few files per module each second costs nothing
// next to that; it needs no new dependency; and it sees changes that
// notifications miss: folders linked in from elsewhere, network and
// container-mounted file systems, editors that replace files by renaming.
func (l *localModules) watch(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(reloadEvery)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				l.scan(ctx, true)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

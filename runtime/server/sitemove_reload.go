package server

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/requestq"
)

// handleSiteReload answers the queue's site_reload, which an import or a
// restore sends once it switched the site's data in, so that its command
// learns that a runtime took the site up and how (followSiteSwitch). The
// other replicas take it up on the module_state notification the switch
// sent.
func (s *Server) handleSiteReload(ctx context.Context, _ requestq.Request) (string, error) {
	if _, err := s.followSiteSwitch(ctx); err != nil {
		return "", err
	}
	// The switch's notification usually got here first: report how that
	// take-up went (a data key of another site, say), not just that it
	// ran.
	if err := s.mstate.tookUp(); err != nil {
		return "", err
	}
	return fmt.Sprintf("took up the switched-in site: %d modules serve", len(s.Modules())), nil
}

// siteIncarnation reads the site's incarnation (websonic.site_incarnation).
func siteIncarnation(ctx context.Context, db interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}) (string, error) {
	var id string
	err := db.QueryRow(ctx, `SELECT id::text FROM websonic.site_incarnation`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("server: site incarnation: %w", err)
	}
	return id, nil
}

// followSiteSwitch takes up the site when its incarnation is not the one
// this replica serves: a restore or an import switched a whole site in
// under it (siteLogins.keep gave it a new one). It runs on the
// module_state channel's notifications and timer on every replica, and for
// the site_reload request; a replica takes each switch up once. A reload
// that fails in part is not tried again: its errors are reported, and the
// site serves what did start.
func (s *Server) followSiteSwitch(ctx context.Context) (reloaded bool, err error) {
	st := s.mstate
	st.switchMu.Lock()
	defer st.switchMu.Unlock()
	id, err := siteIncarnation(ctx, s.db.Pool)
	if err != nil || id == st.incarnation {
		return false, err
	}
	s.log.Info("the site was switched under this runtime (a restore or an import): taking it up", "incarnation", id)
	st.incarnation = id
	st.tookUpErr = s.reloadSite(ctx)
	return true, st.tookUpErr
}

// tookUp returns how taking up the site's current incarnation went on
// this replica (nil: well, or no switch since it started).
func (st *moduleState) tookUp() error {
	st.switchMu.Lock()
	defer st.switchMu.Unlock()
	return st.tookUpErr
}

// reloadSite takes up a site whose data was switched in under this running
// runtime, as a restart would, without one:
//
//   - the data keys are read again as the whole ring (the imported site's
//     key file replaced this one's: privacy.Keyring.Reset);
//   - every running module stops, and the recorded ones start again from
//     the switched-in records (updater.Boot: the archive's versions, from
//     the package store or the registry, verified), on fresh pools, so
//     that no connection keeps a plan or a grant of the schema set aside,
//     and their roles and grants are ensured by the normal start path;
//     the module folder's modules (--modules-dir) start again too, once
//     approved in the imported records;
//   - the owner's module choices, the site settings and the active theme
//     are read again, and the modules' cached responses dropped.
//
// Sessions, users, blocks and everything else the site reads per request
// come from the switched-in schema already. A step that fails is reported
// and the others still run: the site serves what did start.
func (s *Server) reloadSite(ctx context.Context) error {
	var errs []error
	if err := s.keys.Reset(ctx); err != nil {
		errs = append(errs, fmt.Errorf("server: reload: data keys: %w", err))
	}
	stopped := s.stopModules(ctx)
	if err := s.reloadModuleState(ctx); err != nil {
		errs = append(errs, fmt.Errorf("server: reload: module state: %w", err))
	}
	if s.updater != nil {
		if err := s.updater.Boot(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server: reload: %w", err))
		}
	}
	if s.local != nil {
		s.local.restartAll(ctx)
	}
	for _, m := range s.Modules() {
		m.PurgeCache()
	}
	if s.look != nil && s.look.settings != nil {
		if err := s.look.settings.Replaced(ctx); err != nil {
			errs = append(errs, fmt.Errorf("server: reload: settings: %w", err))
		}
		s.look.installedChanged(ctx)
	}
	s.log.Info("took up an imported site", "stopped", stopped, "serving", len(s.Modules()), "problems", len(errs))
	return errors.Join(errs...)
}

// stopModules stops every running module: routes first (requests inside a
// module finish, for up to 30 s), and returns their names.
func (s *Server) stopModules(ctx context.Context) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.state.Load()
	if len(cur.modules) == 0 {
		return nil
	}
	s.state.Store(&serving{routes: &routeTable{}})
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var names []string
	for _, m := range cur.modules {
		names = append(names, m.Manifest().Name)
		if err := m.Close(dctx); err != nil {
			s.log.Error("closing a module for the reload", "module", m.Manifest().Name, "error", err)
		}
	}
	slices.Sort(names)
	return names
}

// restartAll forgets what every module folder started (the server stopped
// those modules) and loads them all again.
func (l *localModules) restartAll(ctx context.Context) {
	l.loadMu.Lock()
	for _, f := range l.folders {
		f.stamp, f.pending, f.module, f.digest = "", "", "", ""
	}
	clear(l.mine)
	l.loadMu.Unlock()
	l.scan(ctx, false)
}

package server

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Uninstall stops a module and deletes its data for good: its routes go
// at once (requests inside it finish first), then its database schema,
// records, grants and role are dropped (sandboxdb.Broker.Drop: nothing of
// the module's runs with the runtime's privileges on the way), and its
// install record, so no replica starts it again. It is the caller's job to
// offer the owner an export first. A module that is not running is only
// dropped. Uninstall is serialised with starts, swaps and Close.
func (s *Server) Uninstall(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m := s.Module(name); m != nil {
		cur := s.state.Load()
		mods := slices.Clone(cur.modules)
		mods = slices.Delete(mods, slices.Index(mods, m), slices.Index(mods, m)+1)
		s.state.Store(&serving{modules: mods, routes: cur.routes.without(name), assets: assetsWithout(cur.assets, name)})
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		err := m.Close(dctx)
		cancel()
		if err != nil {
			s.log.Error("closing the module", "module", name, "error", err)
		}
	}
	if _, err := s.db.Pool.Exec(ctx, `DELETE FROM websonic.module_installs WHERE name = $1`, name); err != nil {
		return fmt.Errorf("server: uninstall %s: %w", name, err)
	}
	if err := s.host.Drop(ctx, name); err != nil {
		return fmt.Errorf("server: uninstall %s: %w", name, err)
	}
	s.log.Info("module uninstalled: its data is gone", "module", name)
	return nil
}

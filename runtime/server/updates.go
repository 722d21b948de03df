package server

import (
	"context"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// Updater installs and updates modules from the registry; nil when the
// server has no Registry.
func (s *Server) Updater() *updater.Updater { return s.updater }

// Running returns the serving version of a module.
func (s *Server) Running(name string) (version string, ok bool) {
	if m := s.Module(name); m != nil {
		return m.Manifest().Version, true
	}
	return "", false
}

// swapper is the server as the updater's Runtime.
type swapper struct{ s *Server }

func (w swapper) Swap(ctx context.Context, p *modhost.Package, ap modhost.Approval, rollback bool, commit func(context.Context) error) error {
	return w.s.Swap(ctx, p, ap, SwapOptions{Rollback: rollback, Commit: commit})
}

func (w swapper) Running(name string) (string, bool) { return w.s.Running(name) }

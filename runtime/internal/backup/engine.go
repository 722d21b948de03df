package backup

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/websonic/websonic/runtime/internal/sitedump"
)

// SiteEngine is package sitedump's engine for the site cfg names.
type SiteEngine struct {
	Config sitedump.Config
}

var _ Engine = SiteEngine{}

// Dump is sitedump.Dump.
func (e SiteEngine) Dump(ctx context.Context, w io.Writer, opts sitedump.DumpOptions) (*sitedump.Manifest, error) {
	return sitedump.Dump(ctx, e.Config, w, opts)
}

// Verify is sitedump.Verify; its mismatch is this package's ErrMismatch
// too.
func (e SiteEngine) Verify(ctx context.Context, r io.Reader, progress func(sitedump.Progress)) (*sitedump.Report, error) {
	rep, err := sitedump.Verify(ctx, e.Config, r)
	if errors.Is(err, sitedump.ErrMismatch) {
		err = fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	return rep, err
}

// Check is sitedump.Check.
func (e SiteEngine) Check(ctx context.Context, r io.Reader, progress func(sitedump.Progress)) (*sitedump.Manifest, error) {
	return sitedump.Check(ctx, r, progress)
}

// Replace is sitedump.Replace; a dry run's files are read and checked,
// not installed.
func (e SiteEngine) Replace(ctx context.Context, r io.Reader, dryRun bool, install func(string, io.Reader) error, progress func(sitedump.Progress)) (*sitedump.Report, error) {
	rep, err := sitedump.Replace(ctx, e.Config, r, sitedump.ReplaceOptions{DryRun: dryRun, Files: install, Progress: progress})
	if errors.Is(err, sitedump.ErrMismatch) {
		err = fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	return rep, err
}

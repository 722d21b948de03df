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

// errNoEngine stands for the parts of package sitedump still to come.
var errNoEngine = errors.New("backup: the dump engine cannot restore yet")

// Verify is sitedump.Verify; its mismatch is this package's ErrMismatch
// too.
func (e SiteEngine) Verify(ctx context.Context, r io.Reader, progress func(sitedump.Progress)) (*sitedump.Report, error) {
	rep, err := sitedump.Verify(ctx, e.Config, r)
	if errors.Is(err, sitedump.ErrMismatch) {
		err = fmt.Errorf("%w: %w", ErrMismatch, err)
	}
	return rep, err
}

// Replace is sitedump.Replace.
func (e SiteEngine) Replace(ctx context.Context, r io.Reader, dryRun bool, install func(string, io.Reader) error, progress func(sitedump.Progress)) (*sitedump.Report, error) {
	return nil, errNoEngine
}

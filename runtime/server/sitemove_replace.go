package server

import (
	"context"
	"errors"
	"io"

	"github.com/websonic/websonic/runtime/internal/sitemove"
)

// replace loads the dump through sitedump.Replace (not merged yet).
func (m *moveSite) replace(ctx context.Context, dump io.Reader, dryRun bool, progress func(sitemove.Progress)) (*sitemove.DataReport, error) {
	return nil, errors.New("server: sitedump.Replace is not merged yet")
}

package sitedump

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Verify reads a dump stream from r, checks every archive's size and
// SHA-256 against the manifest (ErrFormat when one differs), restores it
// into a scratch database (cfg.Scratch; always dropped afterwards),
// exactly as Replace would restore it, and compares every table's rows
// and checksum, and every file's size and SHA-256, with the manifest. A
// difference returns the Report and an error wrapping ErrMismatch. The
// site must have every module of the dump installed (ErrModuleMissing):
// module schemas are restored as the modules' roles.
func Verify(ctx context.Context, cfg Config, r io.Reader) (*Report, error) {
	s, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(s.cfg.TempDir, "sitedump-")
	if err != nil {
		return nil, fmt.Errorf("sitedump: %w", err)
	}
	defer os.RemoveAll(tmp)
	sp, err := spool(ctx, r, tmp, false, nil)
	if err != nil {
		return nil, err
	}
	if err := s.checkModules(sp.m); err != nil {
		return nil, err
	}
	rep, _, err := s.verifyScratch(ctx, sp, tmp, nil)
	if err != nil {
		return nil, err
	}
	return rep, rep.err()
}

// verifyScratch restores sp into a scratch database and compares. With
// then, it runs then on the scratch database (if the comparison passed)
// before dropping it.
func (s *site) verifyScratch(ctx context.Context, sp *spooled, tmp string, then func(db string) error) (*Report, []archive, error) {
	db, drop, err := s.scratch(ctx, sp.m)
	if err != nil {
		return nil, nil, err
	}
	defer drop()
	archives := archivesOf(sp)
	if err := s.restoreInto(ctx, db, tmp, archives, "websonic", "websonic_api", nil); err != nil {
		return nil, nil, fmt.Errorf("sitedump: verify: %w", err)
	}
	if err := s.checkCoreCode(ctx, db); err != nil {
		return nil, nil, fmt.Errorf("sitedump: verify: %w", err)
	}
	sums, err := s.sumsIn(ctx, db, archives, func(schema string) string { return schema })
	if err != nil {
		return nil, nil, fmt.Errorf("sitedump: verify: %w", err)
	}
	rep := &Report{Files: sp.check}
	rep.compare(sp.m.Tables, sums)
	if rep.OK && then != nil {
		if err := then(db); err != nil {
			return nil, nil, err
		}
	}
	return rep, archives, nil
}

package updater

import (
	"context"
	"fmt"

	"github.com/websonic/websonic/internal/tufrepo"
)

// ThemeCatalogue refreshes the trusted metadata (as the owner's request)
// and lists the themes the registry offers, by name, newest version
// first: neither revoked releases nor those of a theme format newer than
// this runtime renders (ThemeFormat).
func (u *Updater) ThemeCatalogue(ctx context.Context) ([]Offer, error) {
	if err := u.refresh(ctx, owner); err != nil {
		return nil, err
	}
	rels, err := u.tuf.ReleasesOf(tufrepo.KindTheme)
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	return catalogue(rels, func(r *tufrepo.Release) bool { return r.ThemeVersion <= ThemeFormat }), nil
}

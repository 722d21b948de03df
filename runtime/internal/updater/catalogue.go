package updater

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/sdk/abi"
)

// Offer is a module the registry offers, as its trusted metadata says.
type Offer struct {
	Module string
	// Description is the newest release's (empty for releases signed
	// before descriptions were).
	Description string
	// Versions are the installable releases, newest first: neither
	// revoked nor for a host ABI this runtime does not speak.
	Versions []OfferVersion
}

// OfferVersion is one installable release of an Offer.
type OfferVersion struct {
	Version string
	Channel tufrepo.Channel
	Digest  string
}

// Catalogue refreshes the trusted metadata (as the owner's request) and
// lists what the registry offers, by module name.
func (u *Updater) Catalogue(ctx context.Context) ([]Offer, error) {
	if err := u.refresh(ctx, owner); err != nil {
		return nil, err
	}
	rels, err := u.tuf.Releases()
	if err != nil {
		return nil, fmt.Errorf("updater: %w", err)
	}
	return catalogue(rels, func(r *tufrepo.Release) bool { return abi.Speaks(r.ABIVersion) }), nil
}

// catalogue groups rels by module, newest version first, leaving out the
// releases no one may install: revoked ones and those ok refuses.
func catalogue(rels []*tufrepo.Release, ok func(*tufrepo.Release) bool) []Offer {
	by := map[string]*Offer{}
	newest := map[string]string{}
	var names []string
	for _, r := range rels {
		if r.Revoked || !ok(r) {
			continue
		}
		o := by[r.Module]
		if o == nil {
			o = &Offer{Module: r.Module}
			by[r.Module] = o
			names = append(names, r.Module)
		}
		o.Versions = append(o.Versions, OfferVersion{Version: r.Version, Channel: r.Channel, Digest: r.ManifestDigest})
		if v, ok := newest[r.Module]; !ok || tufrepo.CompareVersions(r.Version, v) > 0 {
			newest[r.Module], o.Description = r.Version, r.Description
		}
	}
	slices.Sort(names)
	out := make([]Offer, 0, len(names))
	for _, n := range names {
		o := by[n]
		slices.SortFunc(o.Versions, func(a, b OfferVersion) int { return tufrepo.CompareVersions(b.Version, a.Version) })
		o.Description = strings.TrimSpace(o.Description)
		out = append(out, *o)
	}
	return out
}

// available answers the "available" request: the catalogue as JSON.
func (u *Updater) available(ctx context.Context) (string, error) {
	offers, err := u.Catalogue(ctx)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(offers)
	return string(b), err
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/pgnotify"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// What a backup restore (backup.go) and a site import (sitemove*.go)
// share when they switch a whole site in: installing the module releases
// the site lacks from the registry before the data is loaded (the
// restore runs as each module's role, which the install makes), and
// keeping the live site's module logins and notification channels across
// the switch.

// releaseRequest sends a module request (an install, or with DryRun its
// preview) to what installs releases for the site, and returns the
// answer.
type releaseRequest func(ctx context.Context, r updater.Request) (string, error)

// releaseRequester installs through this runtime's own updater. An
// install with a Digest must resolve to exactly that release.
func (s *Server) releaseRequester() releaseRequest {
	return func(ctx context.Context, r updater.Request) (string, error) {
		if s.updater == nil {
			return "", errors.New("this runtime has no registry to install modules from")
		}
		if r.DryRun {
			p, err := s.updater.Preview(ctx, r)
			if err != nil {
				return "", err
			}
			b, err := json.Marshal(p)
			return string(b), err
		}
		if r.Action != "install" {
			return "", fmt.Errorf("server: unexpected module request %q", r.Action)
		}
		rel, err := s.updater.Install(ctx, r.Module, r.Version, tufrepo.Channel(r.Channel), updater.Policy(r.Policy))
		if err != nil {
			return "", err
		}
		if r.Digest != "" && rel.ManifestDigest != r.Digest {
			return "", fmt.Errorf("%w: %s is %s, the archive names %s", updater.ErrChanged, rel, rel.ManifestDigest, r.Digest)
		}
		return rel.String(), nil
	}
}

// releaseRequester installs through a runtime serving the site (the
// request queue), for actor; with none serving it says to start one.
func (c *Console) releaseRequester(actor string) releaseRequest {
	return func(ctx context.Context, r updater.Request) (string, error) {
		res, err := c.Request(ctx, r, RequestOptions{Wait: 10 * time.Minute, Actor: actor})
		if errors.Is(err, ErrNoRuntime) {
			return "", fmt.Errorf("no runtime serves this site to check and install the registry's releases: start `websonic serve` here first: %w", err)
		}
		return res, err
	}
}

// moduleRelease is a module release a site needs.
type moduleRelease struct {
	Name, Version string
	// Channel and Policy are the install's ("": stable, the default
	// policy); Digest, when known, binds it to exactly that release.
	Channel, Policy, Digest string
}

// installReleases installs each of rels through request, at exactly its
// version (and digest, when known): the runtime's updater verifies each
// against the registry's signed metadata as for any install, and refuses
// a revoked release. step, when not nil, sees each before it starts.
func installReleases(ctx context.Context, request releaseRequest, rels []moduleRelease, step func(string)) error {
	for _, r := range rels {
		if step != nil {
			step("install " + r.Name + " " + r.Version)
		}
		if _, err := request(ctx, updater.Request{Action: "install", Module: r.Name, Version: r.Version, Channel: r.Channel,
			Policy: r.Policy, Digest: r.Digest}); err != nil {
			return fmt.Errorf("installing module %s %s: %w", r.Name, r.Version, err)
		}
	}
	return nil
}

// siteLogins are the live site's notification channels and module role
// passwords, read before a switch and written back into the switched-in
// site (keep), so that the runtimes listening on those channels hear the
// reload and the running module pools keep logging in.
type siteLogins struct {
	channels, passwords map[string]string
}

// readSiteLogins reads the live site's logins.
func readSiteLogins(ctx context.Context, db *database) (siteLogins, error) {
	var l siteLogins
	var err error
	if l.channels, err = pairs(ctx, db, `SELECT purpose, name FROM websonic.channels`); err != nil {
		return l, err
	}
	l.passwords, err = pairs(ctx, db, `SELECT name, role_password FROM websonic.modules`)
	return l, err
}

// has says whether the live site had module's role.
func (l siteLogins) has(module string) bool {
	_, ok := l.passwords[module]
	return ok
}

// keep writes l into the switched-in site, in one transaction: each of
// modules named by this site's role (its role prefix) with the live
// password where the live site had the module, and the live channels. The
// same transaction gives the site a new incarnation and notifies the
// module_state channel: every replica takes the switched-in site up
// (followSiteSwitch).
func (l siteLogins) keep(ctx context.Context, db *database, modules []string) error {
	err := pgx.BeginFunc(ctx, db.Pool, func(tx pgx.Tx) error {
		for _, mod := range modules {
			if _, err := tx.Exec(ctx, `UPDATE websonic.modules SET role_name = $2, role_password = coalesce($3, role_password) WHERE name = $1`,
				mod, db.Roles.ModuleRole(mod), nilIfNone(l.passwords, mod)); err != nil {
				return err
			}
		}
		for p, n := range l.channels {
			if _, err := tx.Exec(ctx, `INSERT INTO websonic.channels (purpose, name) VALUES ($1, $2)
				ON CONFLICT (purpose) DO UPDATE SET name = excluded.name`, p, n); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO websonic.site_incarnation (singleton, id) VALUES (true, gen_random_uuid())
			ON CONFLICT (singleton) DO UPDATE SET id = excluded.id, switched_at = now()`); err != nil {
			return err
		}
		ch, err := pgnotify.Channel(ctx, tx, moduleStatePurpose)
		if err != nil {
			return err
		}
		return pgnotify.Notify(ctx, tx, ch)
	})
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	return nil
}

// pairs reads a two-column query into a map.
func pairs(ctx context.Context, db *database, q string) (map[string]string, error) {
	rows, err := db.Pool.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("server: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

func nilIfNone(m map[string]string, k string) *string {
	if v, ok := m[k]; ok {
		return &v
	}
	return nil
}

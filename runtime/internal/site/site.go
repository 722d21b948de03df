package site

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/locales"
	"github.com/websonic/websonic/runtime/internal/theme"
)

// Config configures a Site. New copies it; changing it afterwards has no effect.
type Config struct {
	Pool   *pgxpool.Pool // required; migrated by coredb.Migrate
	Logger hclog.Logger  // nil = null logger; the site logs to Logger.Named("site")
	// SecureCookies makes every session cookie Secure and __Host- prefixed,
	// even for a request that did not come over HTTPS as far as the site can
	// tell (false: only those that did, see clientaddr.HTTPS).
	SecureCookies bool
	SessionTTL    time.Duration // 0 = 14 days
	// Nav lists the links modules contribute, already filtered for u (nil
	// when anonymous), their labels in p's language (the page's); may be
	// nil.
	Nav      func(u *User, p *i18n.Printer) []NavLink
	SiteName string // "" = "Web Sonic"
	// Catalog holds the pages' messages (nil: the runtime's, package
	// locales).
	Catalog *i18n.Catalog
	// Look is how the site looks now: its theme and the owner's settings,
	// read for every page (nil: the built-in theme, SiteName, the
	// browser's language). It must be cheap: an atomic load.
	Look func() *Look
	// GenericLoginErrors answers an unknown username and a wrong password
	// with one message, "Wrong username or password." (false: distinct
	// messages, which the site's users asked for). Status and timing are
	// the same either way.
	GenericLoginErrors bool
	// ExportUser writes the zip archive of what the site keeps about user
	// id (the server's ExportUser, run with the signed-in user in ctx):
	// the account page's "Download my data" (nil: not offered). An error
	// with a non-empty archive is an incomplete export, sent anyway.
	ExportUser func(ctx context.Context, id int64, w io.Writer) error
	// Now is the clock of erasure requests (time.Now); tests move it.
	Now func() time.Time
}

// Look is how the site looks: the active theme and the owner's settings.
// A Look is never changed once made.
type Look struct {
	Theme *theme.Theme
	// Site is the site's name (never empty), logo URL and accent colour.
	Site theme.Site
	// Language is the owner's choice of language ("" or "auto": the
	// browser's, from Accept-Language).
	Language string
}

// look is the site's look now.
func (s *Site) look() *Look {
	if s.cfg.Look != nil {
		if l := s.cfg.Look(); l != nil && l.Theme != nil {
			if l.Site.Name == "" {
				c := *l
				c.Site.Name = s.cfg.SiteName
				return &c
			}
			return l
		}
	}
	return s.plain
}

// Printer is the printer of r's pages: the owner's choice of language,
// else the browser's; the active theme's messages first.
func (s *Site) Printer(r *http.Request) *i18n.Printer { return s.printerFor(r, s.look()) }

func (s *Site) printerFor(r *http.Request, l *Look) *i18n.Printer {
	choice := l.Language
	if choice == "auto" {
		choice = ""
	}
	return s.cfg.Catalog.Printer(s.cfg.Catalog.Negotiate(choice, r.Header.Get("Accept-Language"))).With(l.Theme.Catalog())
}

// NavLink is one link in the navigation bar.
type NavLink struct{ Label, Path string }

// defaultSessionTTL is the session lifetime when Config.SessionTTL is 0.
const defaultSessionTTL = 14 * 24 * time.Hour

// sweepEvery is how often expired sessions and forgotten login-guard entries are dropped.
const sweepEvery = 5 * time.Minute

// Site serves the core pages and the session middleware. It is safe for
// concurrent use; see the package doc.
type Site struct {
	cfg   Config
	log   hclog.Logger
	store *Store
	guard *loginGuard
	plain *Look // the look without Config.Look: the built-in theme

	stop      context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New builds a Site and starts its background sweeper; call Close to stop it.
func New(cfg Config) (*Site, error) {
	if cfg.Pool == nil {
		return nil, errors.New("site: Config.Pool is required")
	}
	if cfg.SessionTTL < 0 {
		return nil, errors.New("site: Config.SessionTTL must not be negative")
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = defaultSessionTTL
	}
	if cfg.SiteName == "" {
		cfg.SiteName = "Web Sonic"
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Catalog == nil {
		var err error
		if cfg.Catalog, err = locales.Catalog(); err != nil {
			return nil, fmt.Errorf("site: %w", err)
		}
	}
	if _, err := blocklist(); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &Site{
		cfg:   cfg,
		log:   cfg.Logger.Named("site"),
		store: NewStore(cfg.Pool),
		guard: newLoginGuard(defaultGuard),
		plain: &Look{Theme: theme.Builtin(), Site: theme.Site{Name: cfg.SiteName}},
		stop:  stop,
	}
	s.wg.Add(1)
	go s.sweep(ctx)
	return s, nil
}

// Store returns the site's user and session store.
func (s *Site) Store() *Store { return s.store }

// Close stops the background sweeper and waits for it. It does not close the
// pool. Calling it more than once is harmless.
func (s *Site) Close() {
	s.closeOnce.Do(func() {
		s.stop()
		s.wg.Wait()
	})
}

// sweep periodically drops expired sessions (reads ignore them anyway) and
// login-guard entries that are forgotten.
func (s *Site) sweep(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.guard.prune(now)
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			n, err := s.store.deleteExpiredSessions(sctx)
			cancel()
			switch {
			case err != nil && ctx.Err() == nil:
				s.log.Warn("sweeping expired sessions failed", "error", err)
			case n > 0:
				s.log.Debug("swept expired sessions", "count", n)
			}
		}
	}
}

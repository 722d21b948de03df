package server

import (
	"context"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/settings"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/theme"
)

// appearanceRoot is where the site serves its logo and its theme's assets:
// /static/site/logo/<hash>.<ext> and /static/site/themes/<name>/<key>/<path>.
const appearanceRoot = "/static/site/"

// logoRoot is the logo's URL prefix.
const logoRoot = appearanceRoot + "logo/"

// appearance is how the site looks: the owner's settings (package
// settings, kept in the database and followed on every replica) and the
// active theme, loaded from the theme sources (the bundled themes, and
// those installed from the registry). The site reads the current look
// with one atomic load per page (current); a change of the settings on
// any replica builds a new look here. A theme that fails to load is never
// made active: activation refuses it, and at start (or when an installed
// theme breaks) the site keeps the theme it had, or the built-in one.
type appearance struct {
	log      hclog.Logger
	settings *settings.Store
	source   atomic.Pointer[theme.Source] // setSource; read with src
	look     atomic.Pointer[site.Look]
	prev     atomic.Pointer[theme.Theme] // the theme active before: pages rendered with it may still load its assets
	revision int64                       // the settings' ThemeRevision the active theme was loaded at (under mu)
	stale    bool                        // the installed themes changed: load the active one again (under mu)
	mu       sync.Mutex                  // serialises apply
	previews previews                    // themes loaded for the admin area's previews (admin_themes.go)
	// languages are the site's languages; nav the modules' navigation.
	languages []string
	nav       func(*site.User, *i18n.Printer) []site.NavLink
	stop      context.CancelFunc
	done      chan struct{}
}

// openAppearance reads the settings, loads the active theme and follows
// changes until close.
func (s *Server) openAppearance(ctx context.Context) (*appearance, error) {
	a := &appearance{log: s.log.Named("appearance"), done: make(chan struct{}), languages: s.catalog.Languages(), nav: s.nav}
	// The bundled themes; the distribution puts the registry's installed
	// ones in front (setSource), so an installed update of a bundled theme wins.
	a.setSource(theme.Bundled())
	var err error
	a.settings, err = settings.Open(ctx, settings.Config{
		Pool: s.db.Pool, Languages: s.catalog.Languages(), Logger: s.log,
		OnChange: func(st *settings.Settings) { a.apply(context.Background(), st) },
	})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	a.apply(ctx, a.settings.Current())
	rctx, stop := context.WithCancel(context.Background())
	a.stop = stop
	go func() {
		defer close(a.done)
		a.settings.Run(rctx)
	}()
	return a, nil
}

// setSource sets where themes come from. The distribution puts the
// registry's installed themes in front of the bundled ones:
// setSource(theme.Combine(installed, theme.Bundled())).
func (a *appearance) setSource(src theme.Source) { a.source.Store(&src) }

// src is where themes come from.
func (a *appearance) src() theme.Source { return *a.source.Load() }

// close stops following changes.
func (a *appearance) close() {
	if a == nil || a.stop == nil {
		return
	}
	a.stop()
	<-a.done
}

// current is the site's look now (site.Config.Look).
func (a *appearance) current() *site.Look { return a.look.Load() }

// language is the owner's choice of language, "" for the browser's
// (admin.Config.Language).
func (a *appearance) language(context.Context) string {
	if l := a.settings.Current().Language; l != "auto" {
		return l
	}
	return ""
}

// apply builds the look of st. The theme is loaded again when its name
// changed, or when the installed themes changed (ThemeRevision).
func (a *appearance) apply(ctx context.Context, st *settings.Settings) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.look.Load()
	var th *theme.Theme
	if cur != nil {
		th = cur.Theme
	}
	if th == nil || th.Name() != st.Theme || st.ThemeRevision != a.revision || a.stale {
		a.revision, a.stale = st.ThemeRevision, false
		lctx, cancel := context.WithTimeout(ctx, time.Minute)
		next, err := a.load(lctx, st.Theme)
		cancel()
		switch {
		case err == nil:
			if th != nil && th != next {
				a.prev.Store(th)
			}
			th = next
		case th == nil:
			a.log.Error("the active theme cannot be loaded; the site uses the built-in theme", "theme", st.Theme, "error", err)
			th = theme.Builtin()
		default:
			a.log.Error("the active theme cannot be loaded; the site keeps the theme it had", "theme", st.Theme, "kept", th.Name(), "error", err)
		}
	}
	look := &site.Look{Theme: th, Site: theme.Site{Name: st.Name, Accent: st.Accent}, Language: st.Language}
	if st.Logo != nil {
		look.Site.Logo = logoRoot + st.LogoHash + st.LogoExt()
	}
	a.look.Store(look)
}

// load loads the named theme from the sources.
func (a *appearance) load(ctx context.Context, name string, opts ...theme.Option) (*theme.Theme, error) {
	if name == theme.BuiltinName && len(opts) == 0 {
		return theme.Builtin(), nil
	}
	fsys, err := a.src().Files(ctx, name)
	if err != nil {
		return nil, err
	}
	return theme.Load(fsys, opts...)
}

// installedChanged loads the active theme again on this replica, as
// installed now (the updater installed, updated or rolled back a theme,
// here or on another replica, which tells every replica): the theme it
// had stays if the new files do not load.
func (a *appearance) installedChanged(ctx context.Context) {
	a.mu.Lock()
	a.stale = true
	a.mu.Unlock()
	a.apply(ctx, a.settings.Current())
}

// hooks are the site's theme hooks for the distribution (themes.go): a
// theme from the registry is judged by the theme package, the active one
// cannot be uninstalled, and a change reloads the active theme.
func (a *appearance) hooks() ThemeHooks {
	return ThemeHooks{
		Validate: theme.Validate,
		Active:   func(context.Context) (string, error) { return a.settings.Current().Theme, nil },
		Changed:  func() { go a.installedChanged(context.Background()) },
	}
}

// installedThemes are the themes installed from the registry, as a
// theme.Source in front of the bundled ones.
type installedThemes struct{ s *Server }

func (i installedThemes) List(ctx context.Context) ([]theme.Info, error) {
	ins, err := i.s.InstalledThemes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]theme.Info, 0, len(ins))
	for _, t := range ins {
		out = append(out, theme.Info{Name: t.Name, Version: t.Version, Description: t.Description, Origin: theme.OriginRegistry})
	}
	return out, nil
}

func (i installedThemes) Files(ctx context.Context, name string) (fs.FS, error) {
	ins, err := i.s.InstalledThemes(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range ins {
		if t.Name == name {
			return i.s.ThemeFiles(ctx, name)
		}
	}
	return nil, fmt.Errorf("%w: %s is not installed from the registry", theme.ErrNotFound, name)
}

// themesChanged tells every replica that the installed themes' files
// changed (the distribution installed, updated or rolled one back): each
// loads its active theme again (and keeps the one it had if the new files
// do not load).
func (a *appearance) themesChanged(ctx context.Context) error {
	return a.settings.Update(ctx, 0, settings.Change{ThemesChanged: true})
}

// activate makes name the active theme on every replica, if it loads; a
// theme that does not load is refused and the active one stays.
func (a *appearance) activate(ctx context.Context, actor int64, name string) error {
	if _, err := a.load(ctx, name); err != nil {
		return fmt.Errorf("server: theme %s: %w", name, err)
	}
	return a.settings.Update(ctx, actor, settings.Change{Theme: &name})
}

// serveStatic serves the logo and the active theme's assets: immutable
// URLs (the logo's hash, the theme build's key), public and cookie-free.
func (a *appearance) serveStatic(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, logoRoot); ok {
		a.serveLogo(w, r, rest)
		return
	}
	name, key, p, ok := theme.SplitAssetPath(theme.AssetRoot, r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		return
	}
	for _, th := range []*theme.Theme{a.look.Load().Theme, a.prev.Load()} {
		if th != nil && th.Name() == name && th.Key() == key {
			th.ServeAsset(w, r, key, p)
			return
		}
	}
	http.NotFound(w, r)
}

// serveLogo serves the logo named <hash><ext>.
func (a *appearance) serveLogo(w http.ResponseWriter, r *http.Request, file string) {
	st := a.settings.Current()
	if st.Logo == nil || file != st.LogoHash+st.LogoExt() {
		http.NotFound(w, r)
		return
	}
	writeLogo(w, r, st, "public, max-age=31536000, immutable")
}

// writeLogo answers with st's logo: its type as checked when it was
// stored, never sniffed, and a policy under which it runs nothing.
func writeLogo(w http.ResponseWriter, r *http.Request, st *settings.Settings, cache string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", st.LogoType)
	h.Set("Content-Length", strconv.Itoa(len(st.Logo)))
	h.Set("Cache-Control", cache)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Content-Disposition", "inline")
	w.WriteHeader(http.StatusOK)
	w.Write(st.Logo) //nolint:errcheck // the client went away
}

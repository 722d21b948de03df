package bench

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
	coresite "github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/theme"
	"github.com/websonic/websonic/templates"
)

// BenchmarkThemedPage renders the site's public pages (home, login, a
// 404) through the site's handlers, signed out, in French, with a site
// name, logo and accent colour: with a bundled theme against the
// built-in layout, in paired rounds (each timed themed request
// alternates with an untimed built-in one, and the other way round).
// "ratio" is themed req/s over built-in req/s (issue 9's target: ≥ 0.9).
// No template is parsed per request: both themes were loaded once.
func BenchmarkThemedPage(b *testing.B) {
	pool := pgtest.NewDB(b).Pool(b, coredb.Migrate)
	handler := func(th *theme.Theme) http.Handler {
		look := &coresite.Look{Theme: th, Site: theme.Site{Name: "Boulangerie Dupont", Logo: "/static/site/logo/0123456789abcdef.png", Accent: "#0b5d7a"}, Language: "auto"}
		s, err := coresite.New(coresite.Config{Pool: pool, Logger: hclog.NewNullLogger(), Look: func() *coresite.Look { return look },
			Nav: func(*coresite.User) []coresite.NavLink {
				return []coresite.NavLink{{Label: "Guestbook", Path: "/guestbook"}, {Label: "Tickets", Path: "/tickets"}, {Label: "Chat", Path: "/chat"}}
			}})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(s.Close)
		r := chi.NewRouter()
		r.Use(s.BlockedAddresses, s.Sessions)
		s.Routes(r)
		r.NotFound(s.NotFound)
		return r
	}
	builtin := handler(theme.Builtin())
	for _, name := range templates.Names {
		sub, err := fs.Sub(templates.FS, name)
		if err != nil {
			b.Fatal(err)
		}
		th, err := theme.Load(sub)
		if err != nil {
			b.Fatal(err)
		}
		themed := handler(th)
		for _, path := range []string{"/", "/login", "/no-such-page"} {
			b.Run(name+path, func(b *testing.B) {
				serve := func(h http.Handler) {
					req := httptest.NewRequest("GET", path, nil)
					req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9,en;q=0.8")
					rec := httptest.NewRecorder()
					h.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK && rec.Code != http.StatusNotFound {
						b.Fatalf("%s: %d", path, rec.Code)
					}
				}
				var tThemed, tBuiltin time.Duration
				n := 0
				for b.Loop() {
					t0 := time.Now()
					serve(themed)
					t1 := time.Now()
					serve(builtin)
					t2 := time.Now()
					if n%2 == 1 { // the other order, so neither side always runs warm
						serve(builtin)
						t3 := time.Now()
						serve(themed)
						tBuiltin += t3.Sub(t2)
						tThemed += time.Since(t3)
					} else {
						tThemed += t1.Sub(t0)
						tBuiltin += t2.Sub(t1)
					}
					n++
				}
				themedRate, builtinRate := float64(n)/tThemed.Seconds(), float64(n)/tBuiltin.Seconds()
				b.ReportMetric(themedRate, "req/s")
				b.ReportMetric(builtinRate, "base-req/s")
				b.ReportMetric(themedRate/builtinRate, "ratio")
			})
		}
	}
}

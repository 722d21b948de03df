package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/runtime/internal/locales"
	"github.com/websonic/websonic/runtime/internal/logstore"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/telemetry"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// figuresLifecycle is a Lifecycle that lists one running module with set
// figures (the server's tests drive the real one); its other methods are
// not called here.
type figuresLifecycle struct {
	Lifecycle
}

func (figuresLifecycle) States(context.Context) ([]ModuleState, error) {
	return []ModuleState{{Name: "noticeboard", Version: "1.0.0", Running: true}}, nil
}

func (figuresLifecycle) Events(context.Context, int) ([]updater.Event, error) {
	return []updater.Event{{At: time.Date(2026, 11, 30, 14, 5, 0, 0, time.Local), Module: "noticeboard", To: "1.0.0",
		Outcome: "installed", Reason: "installed by the site owner"}}, nil
}

func (figuresLifecycle) ModuleFigures(string) (int64, int64, time.Duration, int64, bool) {
	return 12345, 2, 250 * time.Microsecond, 15 << 19, true
}

// l10nArea is an admin area over a real database with figuresLifecycle
// and a runtime of one module, and a request of an admin reading lang.
func l10nArea(t *testing.T) (*Area, func(lang string) *request) {
	t.Helper()
	cdb, _ := coredbtest.Open(t)
	st, err := site.New(site.Config{Pool: cdb.Pool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	cat, err := locales.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRuntime{names: []string{"noticeboard"}, logs: logstore.New(logstore.Config{}), calls: 60}
	reg := prometheus.NewRegistry()
	reg.MustRegister(f)
	if f.tel, err = telemetry.New(telemetry.Config{Gatherer: reg}); err != nil {
		t.Fatal(err)
	}
	if err := f.tel.Sample(time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Pool: cdb.Pool, Site: st, Modules: f, Catalog: cat, Runtime: f, Lifecycle: figuresLifecycle{}})
	if err != nil {
		t.Fatal(err)
	}
	return a, func(lang string) *request {
		return &request{session: &session{user: &site.User{ID: 1, Username: "root", Granted: []site.Role{site.RoleAdmin}}, token: []byte("t")},
			p: cat.Printer(lang)}
	}
}

// TestFiguresInTheOwnersLanguage: the modules list, a module's page and
// the updates page write figures, sizes, durations and dates as the
// page's language does, with plain column titles.
func TestFiguresInTheOwnersLanguage(t *testing.T) {
	a, q := l10nArea(t)
	type handler func(http.ResponseWriter, *http.Request, *request)
	withName := func(h handler) handler {
		return func(w http.ResponseWriter, r *http.Request, q *request) {
			rc := chiContext(r, "name", "noticeboard")
			h(w, rc, q)
		}
	}
	for _, tc := range []struct {
		name, lang string
		h          handler
		want, not  []string
	}{
		{"modules list", "fr", a.handleModules,
			[]string{"12\u202f345", "0,25\u00a0ms", "7,5\u00a0Mio", "Requêtes depuis le dernier démarrage du site", "Temps de réponse"},
			[]string{"12345", "µs", "MiB", "p95", "Calls"}},
		{"modules list", "en", a.handleModules,
			[]string{"12,345", "0.25\u00a0ms", "7.5\u00a0MiB", "Requests since the site last started", "Response time"},
			[]string{"p95 latency", "Calls"}},
		{"module page", "fr", withName(a.handleModule),
			[]string{"12\u202f345", "0,25\u00a0ms", "7,5\u00a0Mio", "30 nov. 2026 14:05", "installé par le propriétaire du site"},
			[]string{"2026-11-30", "installed by the site owner", "p95"}},
		{"updates", "fr", a.handleUpdates,
			[]string{"30 nov. 2026 14:05", "installé par le propriétaire du site"},
			[]string{"2026-11-30", "installed by the site owner", "(UTC)"}},
		{"updates", "en", a.handleUpdates, []string{"Nov 30, 2026 14:05", "installed by the site owner"}, nil},
		{"dashboard", "fr", a.handleDashboard, []string{"8\u00a0Mio"}, []string{"MB", "Mo<"}},
	} {
		t.Run(tc.name+"/"+tc.lang, func(t *testing.T) {
			w := httptest.NewRecorder()
			tc.h(w, httptest.NewRequest("GET", Prefix+"/modules", nil), q(tc.lang))
			page := w.Body.String()
			if w.Code != http.StatusOK {
				t.Fatalf("%d\n%s", w.Code, page)
			}
			for _, s := range tc.want {
				if !strings.Contains(page, s) {
					t.Errorf("no %q in\n%s", s, page)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(page, s) {
					t.Errorf("%q in\n%s", s, page)
				}
			}
		})
	}
}

// TestActionAnswers: a module action's result is a sentence in the
// owner's language naming the module and version, the runtime's English
// answer only as a small note; a failure says what failed and what to do,
// its technical reason folded away.
func TestActionAnswers(t *testing.T) {
	a, q := l10nArea(t)
	install := action{title: "Installed", done: "{module} {version} is installed.", failed: "{module} {version} could not be installed.",
		args: []any{"module", "noticeboard", "version", "1.0.0"}}
	raw := "noticeboard@1.0.0 installed (sha256:abcd)"
	for _, tc := range []struct {
		name, lang string
		err        error
		status     int
		message    string // the first paragraph of #message
		detail     string // in <details>, "" for none
	}{
		{"done", "fr", nil, 200, "noticeboard 1.0.0 est installé.", ""},
		{"done", "en", nil, 200, "noticeboard 1.0.0 is installed.", ""},
		{"no runtime", "fr", fmt.Errorf("install: %w", updater.ErrNoRuntime), http.StatusConflict,
			"noticeboard 1.0.0 n&#39;a pas pu être installé. Aucun exécutable du site ne tourne, donc rien n&#39;a été fait : démarrez le site, puis réessayez.",
			"install: " + updater.ErrNoRuntime.Error()},
		{"other", "en", fmt.Errorf("registry: signature does not verify"), http.StatusConflict,
			"noticeboard 1.0.0 could not be installed. The technical details below say why. Try again, or look at the system log for more.",
			"registry: signature does not verify"},
	} {
		t.Run(tc.name+"/"+tc.lang, func(t *testing.T) {
			w := httptest.NewRecorder()
			a.answer(w, httptest.NewRequest("POST", Prefix+"/modules/install", nil), q(tc.lang), tc.err, install, raw)
			page := w.Body.String()
			if w.Code != tc.status || !strings.Contains(page, `<div class="message" id="message"><p>`+tc.message+`</p>`) {
				t.Errorf("%d, want %d and %q in\n%s", w.Code, tc.status, tc.message, page)
			}
			if tc.err == nil && !strings.Contains(page, `<code>`+raw+`</code>`) {
				t.Errorf("the runtime's answer is not kept as a note:\n%s", page)
			}
			if tc.detail != "" && !strings.Contains(page, `<details id="detail"><summary>`) || !strings.Contains(page, tc.detail) {
				t.Errorf("the reason %q is not folded away:\n%s", tc.detail, page)
			}
		})
	}
}

// chiContext gives r the URL parameter key=value, as the router would.
func chiContext(r *http.Request, key, value string) *http.Request {
	rc := chi.NewRouteContext()
	rc.URLParams.Add(key, value)
	return r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rc))
}

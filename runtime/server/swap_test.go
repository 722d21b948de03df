package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/sandboxdb"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// versionedBase builds the versioned test module once per test binary;
// every version the tests use is this wasm with a manifest of its own.
var versionedBase = sync.OnceValues(func() (*modhost.Package, error) {
	out := filepath.Join(scratch, "versioned")
	if err := modbuild.Package(context.Background(), "../internal/testmodules/versioned", out); err != nil {
		return nil, err
	}
	return modhost.LoadDir(out)
})

// Migrations the versioned module's test packages may list.
var versionedSQL = map[string]string{
	"migrations/001_notes.sql":        `CREATE TABLE notes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body text NOT NULL);`,
	"migrations/002_notes_author.sql": `ALTER TABLE notes ADD COLUMN author text;`, // expand: nullable, the previous version ignores it
	"migrations/002_broken.sql":       `CREATE TABLE broken (;`,
}

const (
	migNotes  = "migrations/001_notes.sql"
	migAuthor = "migrations/002_notes_author.sql"
	migBroken = "migrations/002_broken.sql"
)

// variant changes a test package of the versioned module.
type variant func(p *modhost.Package)

// withConfig sets a config default (raw JSON).
func withConfig(key, raw string) variant {
	return func(p *modhost.Package) {
		item := p.Manifest.Capabilities.ConfigSchema[key]
		item.Default = json.RawMessage(raw)
		p.Manifest.Capabilities.ConfigSchema[key] = item
	}
}

// withMigrations lists migrations (from versionedSQL) in the manifest and
// the package.
func withMigrations(names ...string) variant {
	return func(p *modhost.Package) {
		p.Manifest.Migrations = names
		for _, n := range names {
			p.Migrations[n] = []byte(versionedSQL[n])
		}
	}
}

// withNotes is a version that reads table notes (needs migNotes).
var withNotes = withConfig("notes", "true")

// versioned returns the versioned module as version v: the common wasm and a
// manifest whose version, and whose config default "version", are v.
func versioned(t testing.TB, v string, variants ...variant) *modhost.Package {
	t.Helper()
	base, err := versionedBase()
	if err != nil {
		t.Fatal(err)
	}
	mf := *base.Manifest
	mf.Version = v
	mf.Capabilities.Routes = slices.Clone(mf.Capabilities.Routes)
	mf.Capabilities.ConfigSchema = maps.Clone(mf.Capabilities.ConfigSchema)
	p := &modhost.Package{Manifest: &mf, Wasm: base.Wasm, Migrations: map[string][]byte{}}
	withConfig("version", strconv.Quote(v))(p)
	for _, f := range variants {
		f(p)
	}
	if err := mf.Validate(); err != nil {
		t.Fatal(err)
	}
	return p
}

// get fetches path with c and returns the status and body.
func get(t testing.TB, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body(t, resp)
}

// wantServing checks that GET /versioned is answered by version v.
func (s *testSite) wantServing(t testing.TB, v string) {
	t.Helper()
	if status, b := get(t, http.DefaultClient, s.URL+"/versioned"); status != 200 || b != "versioned "+v {
		t.Fatalf("GET /versioned = %d %q, want version %s", status, b, v)
	}
	if m := s.srv.Module("versioned"); m == nil || m.Manifest().Version != v {
		t.Fatalf("running module: %v, want version %s", m, v)
	}
}

// auditEvents lists the audit log's actions about the versioned module with
// their detail.
func (s *testSite) auditEvents(t testing.TB) []string {
	t.Helper()
	rows, err := s.srv.db.Pool.Query(t.Context(), `SELECT action || ' ' || detail::text FROM websonic.audit_log WHERE subject = 'versioned' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

var approveUsers = modhost.Approval{Views: []string{manifest.CoreUsers}}

var errCommit = errors.New("could not record the install")

// TestHotSwapUnderLoad is the acceptance test of DESIGN decision 10:
// requests stream into the module from several keep-alive clients while it
// is updated ten times (v3 and v6 bring migrations, which run while the
// previous version serves) and rolled back once. No request may fail, every
// answer comes from a version that was serving at the time, and once a swap
// returns only its version answers.
func TestHotSwapUnderLoad(t *testing.T) {
	s := newSite(t)
	ctx := t.Context()
	var pkgs []*modhost.Package
	for i := 1; i <= 11; i++ {
		var vs []variant
		switch {
		case i >= 6:
			vs = []variant{withNotes, withMigrations(migNotes, migAuthor)}
		case i >= 3:
			vs = []variant{withNotes, withMigrations(migNotes)}
		}
		pkgs = append(pkgs, versioned(t, fmt.Sprintf("%d.0.0", i), vs...))
	}
	steps := append(slices.Clone(pkgs), pkgs[9]) // v1 … v11, then back to v10
	seq := make([]string, len(steps))
	for i, p := range steps {
		seq[i] = p.Manifest.Version
	}
	if err := s.srv.Swap(ctx, steps[0], approveUsers, SwapOptions{}); err != nil {
		t.Fatal(err)
	}

	var (
		done     atomic.Int64 // swaps completed: seq[done] serves
		stop     = make(chan struct{})
		wg       sync.WaitGroup
		okN      atomic.Int64
		mu       sync.Mutex
		failures []string
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(failures) < 20 {
			failures = append(failures, fmt.Sprintf(format, args...))
		}
	}
	const loaders = 4
	for range loaders {
		wg.Go(func() {
			tr := &http.Transport{MaxIdleConnsPerHost: 1}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			for {
				select {
				case <-stop:
					return
				default:
				}
				lo := done.Load()
				resp, err := c.Get(s.URL + "/versioned")
				if err != nil {
					fail("GET: %v", err)
					continue
				}
				b := body(t, resp)
				hi := done.Load()
				// Serving at some point: the version of the last finished
				// swap when the request left, up to the one of the swap in
				// progress when its answer came.
				allowed := seq[lo:min(hi+2, int64(len(seq)))]
				if resp.StatusCode != 200 || !slices.Contains(allowed, strings.TrimPrefix(b, "versioned ")) {
					fail("%d %.200q, want one of %v", resp.StatusCode, b, allowed)
					continue
				}
				okN.Add(1)
			}
		})
	}
	for i := 1; i < len(steps); i++ {
		old := s.srv.Module("versioned")
		rollback := i == len(steps)-1
		if err := s.srv.Swap(ctx, steps[i], approveUsers, SwapOptions{Rollback: rollback}); err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("swap to %s: %v", seq[i], err)
		}
		done.Store(int64(i))
		if st := old.Stats(); st.Live != 0 {
			t.Errorf("after the swap to %s, version %s still has %d instances", seq[i], old.Manifest().Version, st.Live)
		}
		s.wantServing(t, seq[i])
	}
	// The final version, and only it, keeps answering.
	for range 20 {
		s.wantServing(t, seq[len(seq)-1])
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests answered, failures:\n%s", okN.Load(), strings.Join(failures, "\n"))
	}
	if okN.Load() == 0 {
		t.Fatal("no request was made during the swaps")
	}
	t.Logf("%d requests during %d swaps", okN.Load(), len(steps)-1)
	if n := len(s.srv.Modules()); n != 3 {
		t.Errorf("%d modules running, want hello, hostile and versioned", n)
	}
	var recorded string
	if err := s.srv.db.Pool.QueryRow(ctx, `SELECT version FROM websonic.modules WHERE name = 'versioned'`).Scan(&recorded); err != nil || recorded != "10.0.0" {
		t.Errorf("recorded version %q (%v), want 10.0.0", recorded, err)
	}
	events := s.auditEvents(t)
	if len(events) != len(steps) || !strings.HasPrefix(events[0], "module.start ") ||
		!strings.Contains(events[1], `"to": "2.0.0"`) || !strings.Contains(events[1], `"from": "1.0.0"`) ||
		!strings.Contains(events[len(events)-1], `"rollback": true`) {
		t.Errorf("audit log:\n%s", strings.Join(events, "\n"))
	}
}

// TestSwapFailuresKeepTheOldVersion: an update that fails at any stage
// leaves the running version serving, untouched, and says where it failed.
func TestSwapFailuresKeepTheOldVersion(t *testing.T) {
	s := newSite(t)
	ctx := t.Context()
	// The running version has no core data; each failed version asks for
	// (and is approved) websonic_api.users.
	if err := s.srv.Swap(ctx, versioned(t, "1.0.0"), modhost.Approval{}, SwapOptions{}); err != nil {
		t.Fatal(err)
	}
	running := s.srv.Module("versioned")
	tests := []struct {
		name    string
		pkg     func() *modhost.Package
		ap      modhost.Approval
		stage   Stage
		wantErr string
		is      error
		opts    SwapOptions
	}{
		{"health check fails", func() *modhost.Package {
			return versioned(t, "2.0.0", withConfig("health", `"fail"`))
		}, approveUsers, StageHealth, "503 unhealthy by configuration", modhost.ErrUnhealthy, SwapOptions{}},
		{"health check panics", func() *modhost.Package {
			return versioned(t, "2.0.0", withConfig("health", `"panic"`))
		}, approveUsers, StageHealth, "", engine.ErrTrap, SwapOptions{}},
		{"migration with an SQL error", func() *modhost.Package {
			return versioned(t, "2.0.0", withMigrations(migBroken))
		}, approveUsers, StageMigrate, "syntax error", sandboxdb.ErrMigration, SwapOptions{}},
		{"wasm that is not wasm", func() *modhost.Package {
			p := versioned(t, "2.0.0")
			p.Wasm = []byte("\x00asm garbage")
			return p
		}, approveUsers, StageCompile, "compile versioned", nil, SwapOptions{}},
		{"manifest for another ABI", func() *modhost.Package {
			p := versioned(t, "2.0.0")
			p.Manifest.ABIVersion = abi.Version + 1
			return p
		}, approveUsers, StageCompile, fmt.Sprintf("declares ABI v%d", abi.Version+1), engine.ErrABI, SwapOptions{}},
		{"trap while an instance starts", func() *modhost.Package {
			return versioned(t, "2.0.0", withConfig("panic_init", "true"))
		}, approveUsers, StageInstantiate, "", engine.ErrTrap, SwapOptions{}},
		{"config the manifest does not know", func() *modhost.Package {
			return versioned(t, "2.0.0")
		}, modhost.Approval{Views: approveUsers.Views, Config: map[string]json.RawMessage{"colour": []byte(`"red"`)}}, StageConfig, "config.colour", manifest.ErrInvalid, SwapOptions{}},
		{"routes overlapping another module", func() *modhost.Package {
			p := versioned(t, "2.0.0")
			p.Manifest.Capabilities.Routes = append(p.Manifest.Capabilities.Routes, manifest.Route{Path: "/guestbook", Access: manifest.AccessPublic})
			return p
		}, approveUsers, StageRoutes, "overlaps /guestbook of module hello", nil, SwapOptions{}},
		{"commit hook fails", func() *modhost.Package {
			return versioned(t, "2.0.0")
		}, approveUsers, StageCommit, "could not record the install", errCommit, SwapOptions{
			Commit: func(context.Context) error { return errCommit },
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(s.auditEvents(t))
			err := s.srv.Swap(ctx, tt.pkg(), tt.ap, tt.opts)
			var se *SwapError
			if !errors.As(err, &se) || se.Stage != tt.stage || se.From != "1.0.0" || se.To != "2.0.0" || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want a SwapError at stage %s from 1.0.0 to 2.0.0 containing %q", err, tt.stage, tt.wantErr)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("err = %v, want it to wrap %v", err, tt.is)
			}
			s.wantServing(t, "1.0.0")
			if s.srv.Module("versioned") != running {
				t.Error("the running module was replaced")
			}
			// Its grants too: what was granted while the failed version was
			// prepared (both versions' views) is taken back.
			if status, b := get(t, http.DefaultClient, s.URL+"/versioned/users"); status != 500 || !strings.Contains(b, "permission denied") {
				t.Errorf("GET /versioned/users = %d %s: the running version kept the failed version's core data", status, b)
			}
			events := s.auditEvents(t)
			if len(events) != before+1 || !strings.HasPrefix(events[before], "module.update_failed ") ||
				!strings.Contains(events[before], fmt.Sprintf(`"stage": %q`, tt.stage)) {
				t.Errorf("audit log after the failure: %q", events[before:])
			}
		})
	}
	// After all that, an update still works, with its approval's grants.
	// Its commit hook runs before it takes traffic.
	commits := 0
	err := s.srv.Swap(ctx, versioned(t, "2.0.0"), approveUsers, SwapOptions{Commit: func(context.Context) error {
		commits++
		if v := s.srv.Module("versioned").Manifest().Version; v != "1.0.0" {
			t.Errorf("at commit, version %s serves, want 1.0.0", v)
		}
		return nil
	}})
	if err != nil || commits != 1 {
		t.Fatalf("swap: %v, %d commits", err, commits)
	}
	s.wantServing(t, "2.0.0")
	if status, b := get(t, http.DefaultClient, s.URL+"/versioned/users"); status != 200 {
		t.Errorf("GET /versioned/users after an update granting users = %d %s", status, b)
	}
	// And the next one, approved without core data, narrows the grants
	// once the previous version has stopped.
	if err := s.srv.Swap(ctx, versioned(t, "3.0.0"), modhost.Approval{}, SwapOptions{}); err != nil {
		t.Fatal(err)
	}
	if status, b := get(t, http.DefaultClient, s.URL+"/versioned/users"); status != 500 || !strings.Contains(b, "permission denied") {
		t.Errorf("GET /versioned/users after an update without core data = %d %s", status, b)
	}
}

// TestSwapStartsAModuleNotRunning: Swap of a module that is not running is
// a Start, and fails as one with a SwapError.
func TestSwapStartsAModuleNotRunning(t *testing.T) {
	s := newSite(t)
	ctx := t.Context()
	err := s.srv.Swap(ctx, versioned(t, "1.0.0", withConfig("health", `"fail"`)), approveUsers, SwapOptions{})
	var se *SwapError
	if !errors.As(err, &se) || se.Stage != StageHealth || se.From != "" || !strings.Contains(err.Error(), "from (not running)") {
		t.Fatalf("err = %v, want a SwapError at the health stage", err)
	}
	if m := s.srv.Module("versioned"); m != nil {
		t.Fatal("an unhealthy module is running")
	}
	if err := s.srv.Swap(ctx, versioned(t, "1.0.0", withNotes, withMigrations(migNotes)), approveUsers, SwapOptions{}); err != nil {
		t.Fatal(err)
	}
	s.wantServing(t, "1.0.0")
	// The SDK's health check, through the runtime: this version's check
	// reads its table.
	if err := s.srv.Module("versioned").Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	if err := s.srv.Start(ctx, versioned(t, "1.0.1"), approveUsers); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("Start of a running module: %v", err)
	}
}

// TestRollback: a rollback to the previous version runs against the schema
// the newer version migrated; a package whose migrations are not a prefix
// of the applied ones is refused even so.
func TestRollback(t *testing.T) {
	s := newSite(t)
	ctx := t.Context()
	v2 := versioned(t, "2.0.0")
	v3 := versioned(t, "3.0.0", withNotes, withMigrations(migNotes))
	for _, p := range []*modhost.Package{v2, v3} {
		if err := s.srv.Swap(ctx, p, approveUsers, SwapOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name     string
		pkg      *modhost.Package
		rollback bool
		wantErr  string // "" for success
		serving  string
	}{
		{"previous version without rollback", v2, false, "no longer lists it", "3.0.0"},
		{"not a prefix of the applied migrations", versioned(t, "2.1.0", withMigrations(migAuthor)), true, "not a prefix", "3.0.0"},
		{"previous version", v2, true, "", "2.0.0"},
		{"forward again", v3, false, "", "3.0.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.srv.Swap(ctx, tt.pkg, approveUsers, SwapOptions{Rollback: tt.rollback})
			var se *SwapError
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tt.wantErr != "" && (!errors.As(err, &se) || se.Stage != StageMigrate || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("err = %v, want a SwapError at the migrate stage containing %q", err, tt.wantErr)
			}
			s.wantServing(t, tt.serving)
		})
	}
}

package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/jobs"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/runtime/internal/site"
)

// cmdjobsModules builds the cmdjobs and hostile test modules and hello
// once per test binary, into their own folder.
var cmdjobsModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "cmdjobs-modules")
	for _, src := range []string{"../../examples/hello", "../internal/testmodules/hostile", "../internal/testmodules/cmdjobs"} {
		if err := modbuild.Package(context.Background(), src, filepath.Join(dir, filepath.Base(src))); err != nil {
			return "", err
		}
	}
	return dir, nil
})

// fakeClock is a clock tests move by hand.
type fakeClock struct{ ns atomic.Int64 }

func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.set(t)
	return c
}
func (c *fakeClock) now() time.Time  { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) set(t time.Time) { c.ns.Store(t.UnixNano()) }

// newCmdjobsSite starts a runtime without a registry on the cmdjobs
// modules, with the jobs clock clk (nil: the real one).
func newCmdjobsSite(t *testing.T, clk *fakeClock, options ...func(*Config)) *testSite {
	t.Helper()
	mods, err := cmdjobsModules()
	if err != nil {
		t.Fatal(err)
	}
	opts := append([]func(*Config){func(c *Config) {
		if clk != nil {
			c.JobClock = clk.now
		}
	}}, options...)
	return newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: testLog{t}}), opts...)
}

// serve runs the site's Serve on a listener of its own until the test
// ends: the request queue and the jobs run.
func (s *testSite) serve(t *testing.T) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	waitFor(t, func() bool {
		n, err := requestq.Listeners(context.Background(), s.srv.db.Pool)
		return err == nil && n > 0
	})
}

func (s *testSite) user(t *testing.T, name string, role site.Role) *site.User {
	t.Helper()
	u, err := s.srv.site.Store().CreateUser(context.Background(), site.NewUser{
		Username: name, Password: "correct-horse-battery-staple-42", Role: role,
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (s *testSite) console(t *testing.T) *Console {
	t.Helper()
	c, err := OpenConsole(context.Background(), Config{DataDir: t.TempDir(), DatabaseURL: s.db.URL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestExecFromTheTerminal: `websonic exec`'s path (Console.Exec through the
// request queue) against a running runtime without a registry: arguments
// of each type reach the module, tables come back, unknown modules,
// commands and arguments and bad types are refused before the module is
// called, naming what exists, and every run is audited with its
// arguments.
func TestExecFromTheTerminal(t *testing.T) {
	s := newCmdjobsSite(t, nil)
	s.serve(t)
	c := s.console(t)
	ctx := context.Background()
	opts := RequestOptions{Wait: time.Minute}

	for _, tc := range []struct {
		name    string
		module  string
		command string
		args    map[string]string
		want    string // the text, or the error's text
		err     error  // nil: success
	}{
		{"all types", "cmdjobs", "greet", map[string]string{"name": "Ada", "times": "3", "ratio": "0.25", "loud": "true"}, "HELLO ADA x3 ratio=0.25", nil},
		{"defaults", "cmdjobs", "greet", map[string]string{"name": "Bob"}, "hello Bob x1 ratio=0.5", nil},
		{"the terminal runs it", "cmdjobs", "whoami", nil, "actor=terminal (tester) user=none", nil},
		{"bad integer", "cmdjobs", "greet", map[string]string{"name": "Ada", "times": "three"}, "--times", ErrBadArguments},
		{"bad boolean", "cmdjobs", "greet", map[string]string{"name": "Ada", "loud": "maybe"}, `"maybe" is not true or false`, ErrBadArguments},
		{"missing required", "cmdjobs", "greet", nil, "--name: is required", ErrBadArguments},
		{"unknown argument", "cmdjobs", "greet", map[string]string{"name": "Ada", "colour": "red"}, "--colour: is not an argument of greet", ErrBadArguments},
		{"unknown command", "cmdjobs", "nope", nil, "its commands: greet, runs, whoami, fail, undeclared_in_code", ErrUnknownCommand},
		{"unknown module", "nosuch", "greet", nil, "running modules with commands: cmdjobs, hostile", ErrUnknownModule},
		{"undeclared command of another module", "hello", "greet", nil, "it declares none", ErrUnknownCommand},
		{"the command fails", "cmdjobs", "fail", nil, "this command always fails", ErrCommandFailed},
		{"declared, not served", "cmdjobs", "undeclared_in_code", nil, "does not serve it", ErrCommandFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Exec(ctx, tc.module, tc.command, tc.args, "terminal (tester)", opts)
			if tc.err == nil {
				if err != nil || res.IsTable() || res.Text != tc.want {
					t.Fatalf("Exec = %+v, %v; want %q", res, err, tc.want)
				}
				return
			}
			// The runtime's error comes back as the request's failure.
			if !errors.Is(err, requestq.ErrFailed) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.err.Error()) {
				t.Fatalf("Exec = %v, want a failure with %q and %q", err, tc.err, tc.want)
			}
		})
	}
	t.Run("usage lists the arguments", func(t *testing.T) {
		_, err := c.Exec(ctx, "cmdjobs", "greet", map[string]string{"times": "x"}, "t", opts)
		if err == nil || !strings.Contains(err.Error(), "--name string (required), --times integer (default 1), --ratio number (default 0.5), --loud boolean (default false)") {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("table", func(t *testing.T) {
		if _, err := s.srv.jobsCall(ctx, "cmdjobs", "tick", time.Date(2030, 1, 1, 0, 1, 0, 0, time.UTC)); err != nil {
			t.Fatal(err)
		}
		res, err := c.Exec(ctx, "cmdjobs", "runs", nil, "t", opts)
		if err != nil || !res.IsTable() || strings.Join(res.Columns, ",") != "job,tick,runs" || len(res.Rows) != 1 {
			t.Fatalf("Exec runs = %+v, %v", res, err)
		}
		if row := res.Rows[0]; row[0] != "tick" || row[1] != "2030-01-01T00:01:00Z" || row[2] != json.Number("1") {
			t.Fatalf("row = %#v", row)
		}
	})
	t.Run("list", func(t *testing.T) {
		forms, err := c.CommandsOf(ctx, "cmdjobs", opts)
		if err != nil || len(forms) != 5 || forms[0].Name != "greet" || len(forms[0].Args) != 4 || !forms[0].Args[0].Required ||
			forms[0].Args[1].Type != "integer" || string(forms[0].Args[1].Default) != "1" {
			t.Fatalf("CommandsOf = %+v, %v", forms, err)
		}
		if _, err := c.CommandsOf(ctx, "nosuch", opts); err == nil || !strings.Contains(err.Error(), "cmdjobs, hostile") {
			t.Fatalf("CommandsOf an unknown module = %v", err)
		}
	})
	t.Run("audited", func(t *testing.T) {
		var detail map[string]any
		var actor *int64
		if err := s.srv.db.Pool.QueryRow(ctx, `SELECT actor_id, detail FROM websonic.audit_log WHERE action = 'command.run'
			AND subject = 'cmdjobs greet' AND detail->>'outcome' = 'ok' ORDER BY id LIMIT 1`).Scan(&actor, &detail); err != nil {
			t.Fatal(err)
		}
		args, _ := detail["args"].(map[string]any)
		if actor != nil || detail["actor"] != "terminal (tester)" || args["name"] != "Ada" || args["times"] != float64(3) ||
			args["loud"] != true || detail["module"] != "cmdjobs" || detail["command"] != "greet" || detail["duration_ms"] == nil {
			t.Fatalf("audit row: actor %v, %v", actor, detail)
		}
		var failed int
		if err := s.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'command.run'
			AND subject = 'cmdjobs fail' AND detail->>'outcome' = 'error' AND detail->>'error' LIKE '%always fails%'`).Scan(&failed); err != nil || failed != 1 {
			t.Fatalf("%d audit rows of the failed run (%v)", failed, err)
		}
		// Refused before the module was called: nothing ran, nothing to audit.
		var refused int
		if err := s.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'command.run' AND subject LIKE '%nope%'`).Scan(&refused); err != nil || refused != 0 {
			t.Fatalf("%d audit rows of an unknown command (%v)", refused, err)
		}
	})
	t.Run("the updater's requests say there is no registry", func(t *testing.T) {
		_, err := c.Request(ctx, ModuleRequest{Action: "rollback", Module: "cmdjobs"}, opts)
		if !errors.Is(err, requestq.ErrFailed) || !strings.Contains(err.Error(), "without a registry") {
			t.Fatalf("rollback on a runtime without a registry = %v", err)
		}
	})
}

// jobsCall runs a job's call on the running module as the scheduler
// would, without recording it.
func (s *Server) jobsCall(ctx context.Context, module, job string, tick time.Time) (int, error) {
	body, _ := json.Marshal(jobs.Call{Job: job, Tick: tick})
	resp, err := s.Module(module).Call(ctx, "/_websonic/jobs/"+job, nil, body, "test")
	if err != nil {
		return 0, err
	}
	return resp.Status, nil
}

// TestRunCommandIsForAdmins: the admin UI's API refuses anyone but an
// admin, and hands the admin to the command as its user; the audit row
// names the admin.
func TestRunCommandIsForAdmins(t *testing.T) {
	s := newCmdjobsSite(t, nil)
	ctx := context.Background()
	admin := s.user(t, "root_admin", site.RoleAdmin)
	for _, u := range []*site.User{nil, s.user(t, "member", site.RoleMember), s.user(t, "staff", site.RoleStaff)} {
		if _, err := s.srv.RunCommand(ctx, u, "cmdjobs", "whoami", nil); !errors.Is(err, ErrNotAdmin) {
			t.Fatalf("RunCommand by %v = %v, want ErrNotAdmin", u, err)
		}
	}
	res, err := s.srv.RunCommand(ctx, admin, "cmdjobs", "whoami", nil)
	if err != nil || !strings.Contains(res.Text, "user=root_admin") || !strings.Contains(res.Text, "actor=admin root_admin") {
		t.Fatalf("RunCommand by an admin = %+v, %v", res, err)
	}
	res, err = s.srv.RunCommand(ctx, admin, "cmdjobs", "greet", map[string]json.RawMessage{"name": json.RawMessage(`"Ada"`), "times": json.RawMessage(`2`)})
	if err != nil || res.Text != "hello Ada x2 ratio=0.5" {
		t.Fatalf("RunCommand greet = %+v, %v", res, err)
	}
	if _, err := s.srv.RunCommand(ctx, admin, "cmdjobs", "greet", map[string]json.RawMessage{"name": json.RawMessage(`7`)}); !errors.Is(err, ErrBadArguments) {
		t.Fatalf("RunCommand with a number for a string = %v", err)
	}
	var n int
	if err := s.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'command.run' AND actor_id = $1`, admin.ID).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d audit rows by the admin (%v)", n, err)
	}
	forms := s.srv.Commands()
	if len(forms) != 12 || forms[0].Module != "cmdjobs" || forms[len(forms)-1].Module != "hostile" {
		t.Fatalf("Commands = %+v", forms)
	}
}

// TestHostileCommands: commands that loop, trap, answer giant or invalid
// results fail on their own, recorded as failures, and the neighbour
// modules keep answering.
func TestHostileCommands(t *testing.T) {
	s := newCmdjobsSite(t, nil, func(c *Config) { c.Pool = engine.PoolConfig{Size: 2, CallTimeout: 2 * time.Second} })
	ctx := context.Background()
	admin := s.user(t, "root_admin", site.RoleAdmin)
	for _, tc := range []struct{ command, want string }{
		{"loop", "did not answer within its deadline"},
		{"trap", "the command failed"},
		{"giant", "the command failed"},
		{"giant_error", "eeee"},
		{"ragged", "1 cells for 2 columns"},
		{"nested", "not a string, number, boolean or null"},
	} {
		t.Run(tc.command, func(t *testing.T) {
			res, err := s.srv.RunCommand(ctx, admin, "hostile", tc.command, nil)
			if !errors.Is(err, ErrCommandFailed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("hostile %s = %+v, %v; want %q", tc.command, res, err, tc.want)
			}
			if len(err.Error()) > 4000 {
				t.Fatalf("the error keeps %d bytes of the module's message", len(err.Error()))
			}
			resp, err := http.Get(s.URL + "/cmdjobs")
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("the neighbour after hostile %s: %v %v", tc.command, resp, err)
			}
			resp.Body.Close()
			if res, err := s.srv.RunCommand(ctx, admin, "cmdjobs", "whoami", nil); err != nil {
				t.Fatalf("the neighbour's command after hostile %s: %+v, %v", tc.command, res, err)
			}
		})
	}
	// The escape sequences come back as the module sent them (the CLI
	// makes them safe to print), and the run is audited as failed or not.
	if res, err := s.srv.RunCommand(ctx, admin, "hostile", "escape", nil); err != nil || !strings.Contains(res.Text, "\x1b") {
		t.Fatalf("escape = %+v, %v", res, err)
	}
	var failed int
	if err := s.srv.db.Pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'command.run'
		AND detail->>'module' = 'hostile' AND detail->>'outcome' = 'error'`).Scan(&failed); err != nil || failed != 6 {
		t.Fatalf("%d failed hostile runs audited (%v)", failed, err)
	}
}

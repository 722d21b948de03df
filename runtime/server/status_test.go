package server

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

// statusModules builds the status test module (user action "status") next
// to a copy of the hostile module (no user action), once per test binary.
var statusModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "status-modules")
	if err := modbuild.Package(context.Background(), "../internal/testmodules/status", filepath.Join(dir, "status")); err != nil {
		return "", err
	}
	mods, err := modulesDir()
	if err != nil {
		return "", err
	}
	return dir, os.CopyFS(filepath.Join(dir, "hostile"), os.DirFS(filepath.Join(mods, "hostile")))
})

// TestRuntimeStatus: the runtime.status host service over a real runtime.
// A module with the user action "status" reads this replica's figures
// (its own call shows as a busy instance; the sockets it counts are the
// ones open); one without it is denied, whatever the payload.
func TestRuntimeStatus(t *testing.T) {
	dir, err := statusModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, dir, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	status := func(t *testing.T) sdk.ServerStatus {
		t.Helper()
		resp, err := s.Client().Get(s.URL + "/status-test")
		if err != nil {
			t.Fatal(err)
		}
		b := body(t, resp)
		var st sdk.ServerStatus
		dec := json.NewDecoder(strings.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); resp.StatusCode != 200 || err != nil || st.Replica == "" {
			t.Fatalf("status: %d %s (%v)", resp.StatusCode, b, err)
		}
		return st
	}
	module := func(st sdk.ServerStatus, name string) sdk.ModuleStatus {
		for _, m := range st.Modules {
			if m.Name == name {
				return m
			}
		}
		t.Fatalf("no module %s in %+v", name, st.Modules)
		return sdk.ModuleStatus{}
	}

	t.Run("allowed with the action", func(t *testing.T) {
		before := time.Now()
		st := status(t)
		if !strings.HasSuffix(st.Replica, fmt.Sprintf("(pid %d)", os.Getpid())) {
			t.Errorf("replica %q", st.Replica)
		}
		if at, err := time.Parse(time.RFC3339, st.StartedAt); err != nil || at.After(before) {
			t.Errorf("started_at %q (%v)", st.StartedAt, err)
		}
		if st.Goroutines < 1 || st.Connections != 0 {
			t.Errorf("goroutines %d, connections %d", st.Goroutines, st.Connections)
		}
		if len(st.Modules) != 2 || st.Modules[0].Name != "hostile" || st.Modules[1].Name != "status" {
			t.Errorf("modules %+v", st.Modules)
		}
		// The call being served is the status module's own: at least one
		// of its instances is busy (the test pool has 2).
		me := module(st, "status")
		if me.Version != "1.0.0" || !me.Enabled || me.Instances < 1 || me.Busy < 1 || me.Busy > me.Instances || me.Max != 2 || me.Queued != 0 {
			t.Errorf("status module %+v", me)
		}
		if p := me.DBPool; p.Max < 1 || p.Total > p.Max || p.Acquired+p.Idle > p.Total {
			t.Errorf("the module's database pool %+v", p)
		}
		if p := st.DBPool; p.Max < 1 || p.Total < 1 || p.Total > p.Max || p.Acquired+p.Idle > p.Total {
			t.Errorf("the runtime's database pool %+v", p)
		}
	})

	t.Run("connections and modules follow", func(t *testing.T) {
		c, _ := signIn(t, s, "ada")
		a, b := dial(t, s.URL, c), dial(t, s.URL, nil)
		waitUntil(t, "two connections", func() bool { return status(t).Connections == 2 })
		a.ws.CloseNow()
		waitUntil(t, "one connection", func() bool { return status(t).Connections == 1 })
		b.ws.CloseNow()
		waitUntil(t, "no connection", func() bool { return status(t).Connections == 0 })

		if _, err := s.srv.SetModuleEnabled(t.Context(), nil, "hostile", false); err != nil {
			t.Fatal(err)
		}
		if h := module(status(t), "hostile"); h.Enabled || h.Version != "0.0.1" {
			t.Errorf("disabled hostile: %+v", h)
		}
		if _, err := s.srv.SetModuleEnabled(t.Context(), nil, "hostile", true); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("payloads", func(t *testing.T) {
		for _, tc := range []struct{ payload, want string }{
			{"", "ok"}, {"{}", "ok"}, {" {}\n", "ok"},
			{"null", abi.HostErrInvalid}, {"[]", abi.HostErrInvalid}, {"{", abi.HostErrInvalid},
			{`{"modules": true}`, abi.HostErrInvalid}, {"{} {}", abi.HostErrInvalid},
			{strings.Repeat("[", 10000), abi.HostErrInvalid}, {"{" + strings.Repeat(" ", 4096) + "}", abi.HostErrInvalid},
		} {
			st, b := s.post(t, "/status-test/raw", tc.payload)
			if got, _, _ := strings.Cut(b, " "); st != 200 || got != tc.want {
				t.Errorf("%.20q: %d %.200s, want %s", tc.payload, st, b, tc.want)
			}
		}
	})

	t.Run("denied without the action", func(t *testing.T) {
		if st, b := s.fetch(t, "/hostile/status"); st != 200 || b != "denied" {
			t.Errorf("sdk.RuntimeStatus: %d %s", st, b)
		}
		for _, payload := range []string{"", "{}", "null", "{", `{"user_id": 1}`, strings.Repeat("[", 10000)} {
			if st, b := s.post(t, "/hostile/users/raw?service=runtime.status", payload); st != 200 || b != abi.HostErrDenied {
				t.Errorf("%.20q: %d %s", payload, st, b)
			}
		}
		// The module that may still can.
		if st := status(t); len(st.Modules) != 2 {
			t.Errorf("after the attempts: %+v", st)
		}
	})
}

// fetch gets path and returns the answer's status and body.
func (s *testSite) fetch(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := s.Client().Get(s.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body(t, resp)
}

// waitUntil waits until cond holds (a minute at most: no timing is asserted).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

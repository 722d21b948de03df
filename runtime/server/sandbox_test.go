package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// watchHello requests the hello module's page in a loop until stop is
// called, and returns how many requests failed (with their errors).
func watchHello(t *testing.T, s *testSite) (stop func() (ok int, failures []string)) {
	ctx, cancel := context.WithCancel(context.Background())
	var (
		wg       sync.WaitGroup
		okN      atomic.Int64
		mu       sync.Mutex
		failures []string
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			resp, err := http.Get(s.URL + "/guestbook")
			if err != nil {
				mu.Lock()
				failures = append(failures, err.Error())
				mu.Unlock()
				continue
			}
			b := body(t, resp)
			if resp.StatusCode != 200 || !strings.Contains(b, "<h1>Guestbook</h1>") {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%d %.200s", resp.StatusCode, b))
				mu.Unlock()
				continue
			}
			okN.Add(1)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return func() (int, []string) {
		cancel()
		wg.Wait()
		return int(okN.Load()), failures
	}
}

type sqlOutcome struct {
	Error string `json:"error"`
	Rows  string `json:"rows"`
	User  string `json:"user"`
}

// TestSandboxDatabase runs escape attempts from the hostile module, each
// in its own request: each must fail with a clear database error while
// the connection stays the module's own role, and the hello module keeps
// serving correct answers during and after.
func TestSandboxDatabase(t *testing.T) {
	s := newSite(t)
	own := s.db.Prefix() + "mod_hostile"
	runtimeRole := s.db.Prefix() + "owner"
	tests := []struct {
		name    string
		sql     string
		wantErr string // substring of the error; "" means the statement may succeed
	}{
		{"another module's schema", "SELECT * FROM mod_hello.entries", "permission denied for schema mod_hello"},
		{"core users table", "SELECT * FROM websonic.users", "permission denied for schema websonic"},
		{"core password hashes", "SELECT password_hash FROM websonic.users", "permission denied"},
		{"core sessions", "SELECT * FROM websonic.sessions", "permission denied"},
		{"module role passwords", "SELECT role_password FROM websonic.modules", "permission denied"},
		{"no password hash in the granted view", "SELECT password_hash FROM websonic_api.users", `column "password_hash" does not exist`},
		{"SET ROLE to the runtime", "SET ROLE " + runtimeRole, "permission denied to set role"},
		{"SET ROLE to another module", "SET ROLE " + s.db.Prefix() + "mod_hello", "permission denied to set role"},
		{"SET SESSION AUTHORIZATION", "SET SESSION AUTHORIZATION " + runtimeRole, "permission denied to set session authorization"},
		{"set_config role", "SELECT set_config('role', '" + runtimeRole + "', false)", "permission denied to set role"},
		{"RESET ROLE stays the module", "RESET ROLE", ""},
		{"pg_read_file", "SELECT pg_read_file('/etc/passwd')", "permission denied for function pg_read_file"},
		{"COPY TO PROGRAM", "COPY (SELECT 1) TO PROGRAM 'id'", "pg_execute_server_program"},
		{"CREATE EXTENSION", "CREATE EXTENSION pgcrypto", "permission denied"},
		{"CREATE in public", "CREATE TABLE public.stolen (a int)", "permission denied for schema public"},
		{"temporary table", "CREATE TEMP TABLE t (a int)", "permission denied to create temporary tables"},
		{"grant itself superuser", "ALTER ROLE " + own + " SUPERUSER", "must be superuser"},
		{"create a role", "CREATE ROLE escape LOGIN", "permission denied"},
		{"pg_authid", "SELECT rolpassword FROM pg_authid", "permission denied"},
		{"pg_sleep past statement_timeout", "SELECT pg_sleep(10)", "statement timeout"},
		{"turn the timeout off in the same statement", "SELECT set_config('statement_timeout', '0', false), pg_sleep(10)", "statement timeout"},
		{"lo_import a server file", "SELECT lo_import('/etc/passwd')", "permission denied"},
		{"other sessions' queries", "SELECT query FROM pg_stat_activity WHERE usename <> current_user AND query NOT IN ('', '<insufficient privilege>')", ""},
	}
	stop := watchHello(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Post(s.URL+"/hostile/sql", "text/plain", strings.NewReader(tt.sql))
			if err != nil {
				t.Fatal(err)
			}
			b := body(t, resp)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			var out sqlOutcome
			if err := json.Unmarshal([]byte(b), &out); err != nil {
				t.Fatalf("%v: %s", err, b)
			}
			if tt.wantErr != "" && !strings.Contains(out.Error, tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", out.Error, tt.wantErr)
			}
			if want := own + "/" + own; out.User != want {
				t.Errorf("connection is %q afterwards, want %q", out.User, want)
			}
			if tt.name == "other sessions' queries" && out.Rows != "" {
				t.Errorf("the module sees other roles' queries: %q", out.Rows)
			}
		})
	}
	ok, failures := stop()
	if len(failures) > 0 || ok == 0 {
		t.Fatalf("hello during the attacks: %d ok, failures: %q", ok, failures)
	}
	assertHelloServes(t, s)
}

// TestSandboxGuest runs the non-database attacks: each fails its own
// request with the right status and the request id, and nothing else.
func TestSandboxGuest(t *testing.T) {
	s := newSite(t)
	tests := []struct {
		name string
		path string
		want int
	}{
		{"infinite loop", "/hostile/loop", http.StatusGatewayTimeout},
		{"memory past the limit", "/hostile/alloc?mb=256", http.StatusInternalServerError}, // 4x MemoryLimitPages
		{"panic", "/hostile/panic", http.StatusInternalServerError},
		{"huge response", "/hostile/huge?mb=9", http.StatusBadGateway},
		{"bad pointer to log", "/hostile/badptr?fn=log", http.StatusInternalServerError},
		{"bad length to log", "/hostile/badptr?fn=log-len", http.StatusInternalServerError},
		{"bad pointer to db", "/hostile/badptr?fn=db", http.StatusInternalServerError},
		{"bad output buffer to db", "/hostile/badptr?fn=db-out", http.StatusInternalServerError},
		{"bad pointer to config", "/hostile/badptr?fn=config", http.StatusInternalServerError},
		{"bad pointer to take", "/hostile/badptr?fn=take", http.StatusInternalServerError},
		{"take with nothing pending", "/hostile/badptr?fn=take-nothing", http.StatusInternalServerError},
		{"bad pointer to host", "/hostile/badptr?fn=host", http.StatusInternalServerError},
		{"bad length to host", "/hostile/badptr?fn=host-len", http.StatusInternalServerError},
		{"bad output buffer to host", "/hostile/badptr?fn=host-out", http.StatusInternalServerError},
	}
	stop := watchHello(t, s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(s.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			b := body(t, resp)
			id := resp.Header.Get("X-Request-Id")
			if resp.StatusCode != tt.want || id == "" || !strings.Contains(b, "request id "+id) {
				t.Fatalf("%s = %d %q, want %d naming request id %q", tt.path, resp.StatusCode, b, tt.want, id)
			}
			resp, err = http.Get(s.URL + "/hostile/ok")
			if err != nil || resp.StatusCode != 200 || body(t, resp) != "ok" {
				t.Fatalf("the hostile module itself does not recover: %v", err)
			}
		})
	}
	ok, failures := stop()
	if len(failures) > 0 || ok == 0 {
		t.Fatalf("hello during the attacks: %d ok, failures: %q", ok, failures)
	}
	assertHelloServes(t, s)
}

func TestSessionCookieNeverReachesModules(t *testing.T) {
	s := newSite(t)
	c := s.client(t)
	resp := postForm(t, c, s.URL+"/register", url.Values{"username": {"grace"}, "password": {"compiler-pioneer-1952"}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("register: %d", resp.StatusCode)
	}
	assertModuleSeesNoSession(t, c, s.URL)
}

// TestSDKDatabaseDriver checks every supported type in both directions and
// transaction handling through the real driver in a real module.
func TestSDKDatabaseDriver(t *testing.T) {
	s := newSite(t)
	resp, err := http.Get(s.URL + "/hostile/types")
	if err != nil {
		t.Fatal(err)
	}
	b := body(t, resp)
	var got map[string]string
	if err := json.Unmarshal([]byte(b), &got); err != nil {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	want := map[string]string{
		"int2": "42", "int4": "7", "int8": "9007199254740993", "float4": "1.5", "float8": "2.25", "bool": "true",
		"text": "text", "varchar": "vc", "bytea": "deadbeef", "timestamptz": "2024-02-29T12:34:56.789123Z",
		"date": "2024-02-29", "numeric": "-12345.6789", "json": `{"a": [1, 2]}`, "jsonb": `{"b": true}`,
		"null": "false", "uuid": "0e5c0a76-8e2a-4a0e-9e4c-5b3f8e9f7a11",
		"args": "-5|héllo|0001fe|2024-02-29 12:34:56.789123|t|0.125|3.14|y|t",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}

	for _, tt := range []struct {
		mode string
		want string // rows in loot seen by the module after the call's own statement
		kept int    // rows that survive the call
	}{
		{"commit", "1", 1},
		{"rollback", "0", 1},
		{"leave", "1", 1}, // visible inside its own open transaction, rolled back after the call
	} {
		resp, err := http.Post(s.URL+"/hostile/tx?mode="+tt.mode, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		if b := body(t, resp); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", tt.mode, resp.StatusCode, b)
		}
		var n int
		if err := s.srv.Module("hostile").DB().Pool().QueryRow(t.Context(), `SELECT count(*) FROM mod_hostile.loot`).Scan(&n); err != nil || n != tt.kept {
			t.Errorf("%s: %d rows kept (%v), want %d", tt.mode, n, err, tt.kept)
		}
	}
}

func assertHelloServes(t *testing.T, s *testSite) {
	t.Helper()
	resp, err := http.Get(s.URL + "/guestbook")
	if err != nil {
		t.Fatal(err)
	}
	if b := body(t, resp); resp.StatusCode != 200 || !strings.Contains(b, "<h1>Guestbook</h1>") {
		t.Fatalf("hello after the attacks: %d %s", resp.StatusCode, b)
	}
}

// TestWASIClockAndRandomness checks that a module reads the real time and
// real randomness through WASI.
func TestWASIClockAndRandomness(t *testing.T) {
	s := newSite(t)
	seen := map[string]bool{}
	for range 2 {
		before := time.Now().UnixNano()
		resp, err := http.Get(s.URL + "/hostile/env")
		if err != nil {
			t.Fatal(err)
		}
		var nanos int64
		var random string
		if _, err := fmt.Sscanf(body(t, resp), "%d %s", &nanos, &random); err != nil {
			t.Fatal(err)
		}
		if nanos < before || nanos > time.Now().UnixNano() {
			t.Errorf("guest time %d outside [%d, now]", nanos, before)
		}
		if len(random) != 32 || seen[random] {
			t.Errorf("guest randomness %q (seen before: %v)", random, seen[random])
		}
		seen[random] = true
	}
}

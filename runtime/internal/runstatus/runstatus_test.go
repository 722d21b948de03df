package runstatus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

func caller(actions ...string) *modhost.Caller {
	m := &manifest.Manifest{Name: "m"}
	m.Capabilities.UserActions = actions
	return &modhost.Caller{Module: "m", Manifest: m}
}

func code(err error) string {
	if he, ok := errors.AsType[*abi.HostError](err); ok {
		return he.Code
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return ""
}

// TestDenied: without the user action "status" the answer is denied,
// whatever the payload (it is not even read), and other actions do not
// stand in for it.
func TestDenied(t *testing.T) {
	svc := New(Config{})
	for _, c := range []*modhost.Caller{caller(), caller(manifest.UserConnections, manifest.UserBan), {Module: "m"}} {
		for _, payload := range []string{"", "{}", "{", "null", strings.Repeat("[", 10000)} {
			if _, err := svc.Serve(context.Background(), c, []byte(payload)); code(err) != abi.HostErrDenied {
				t.Errorf("%v %.20q: %v", c.Manifest, payload, err)
			}
		}
	}
}

func TestDecode(t *testing.T) {
	tests := []struct {
		payload string
		ok      bool
	}{
		{"", true},
		{"{}", true},
		{" { } \n", true},
		{"null", false},
		{"[]", false},
		{`""`, false},
		{"{", false},
		{`{"verbose": true}`, false},
		{"{} {}", false},
		{"{}x", false},
		{"{" + strings.Repeat(" ", maxPayload) + "}", false},
		{strings.Repeat("[", 10000), false},
	}
	for _, tt := range tests {
		if err := Decode([]byte(tt.payload)); (err == nil) != tt.ok {
			t.Errorf("%.30q: %v", tt.payload, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"", "{}", `{"a":1}`, "{} {}", "null", " {}\t"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		if Decode(payload) != nil {
			return
		}
		// What is accepted is nothing, or one empty object.
		if t := bytes.TrimSpace(payload); len(t) != 0 && !bytes.Equal(bytes.Join(bytes.Fields(t), nil), []byte("{}")) {
			panic("accepted " + string(payload))
		}
	})
}

// TestAnswer: with the action, the answer carries the figures the
// sources give, modules sorted by name, and decodes strictly into the
// SDK's sdk.ServerStatus (the two sides agree on every field).
func TestAnswer(t *testing.T) {
	started := time.Date(2030, 1, 2, 3, 4, 5, 0, time.FixedZone("x", 3600))
	svc := New(Config{
		Replica:     "web-1 (pid 42)",
		StartedAt:   started,
		Connections: func() int { return 7 },
		Modules: func() []Module {
			return []Module{
				{Name: "chat", Version: "1.0.1", Enabled: true, Instances: 3, Busy: 2, Queued: 1, Max: 4, DBPool: DBPool{Max: 4, Total: 2, Acquired: 1, Idle: 1}},
				{Name: "blog", Version: "2.0.0", Instances: 1, Max: 4},
			}
		},
		DBPool: func() DBPool { return DBPool{Max: 20, Total: 5, Acquired: 2, Idle: 3} },
	})
	for _, payload := range []string{"", "{}"} {
		out, err := svc.Serve(context.Background(), caller(manifest.UserStatus), []byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		var st sdk.ServerStatus
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		want := sdk.ServerStatus{
			Replica: "web-1 (pid 42)", StartedAt: "2030-01-02T02:04:05Z", Goroutines: st.Goroutines, Connections: 7,
			Modules: []sdk.ModuleStatus{
				{Name: "blog", Version: "2.0.0", Instances: 1, Max: 4},
				{Name: "chat", Version: "1.0.1", Enabled: true, Instances: 3, Busy: 2, Queued: 1, Max: 4, DBPool: sdk.DBPoolStatus{Max: 4, Total: 2, Acquired: 1, Idle: 1}},
			},
			DBPool: sdk.DBPoolStatus{Max: 20, Total: 5, Acquired: 2, Idle: 3},
		}
		if a, b := mustJSON(t, st), mustJSON(t, want); a != b || st.Goroutines < 1 {
			t.Fatalf("answer\n%s\nwant\n%s", a, b)
		}
	}
	if _, err := svc.Serve(context.Background(), caller(manifest.UserStatus), []byte(`{"x":1}`)); code(err) != abi.HostErrInvalid {
		t.Fatalf("a payload with a member: %v", err)
	}
}

// TestDefaults: with no sources the answer is zeros, an empty module
// list (never null) and this process's name.
func TestDefaults(t *testing.T) {
	out, err := New(Config{}).Serve(context.Background(), caller(manifest.UserStatus), nil)
	if err != nil {
		t.Fatal(err)
	}
	var st map[string]any
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatal(err)
	}
	if mods, ok := st["modules"].([]any); !ok || len(mods) != 0 {
		t.Errorf("modules: %v", st["modules"])
	}
	if r, _ := st["replica"].(string); r != Replica() || !strings.Contains(r, "(pid ") {
		t.Errorf("replica %q, want %q", r, Replica())
	}
	if _, err := time.Parse(time.RFC3339, st["started_at"].(string)); err != nil {
		t.Error(err)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

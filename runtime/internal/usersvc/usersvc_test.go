package usersvc

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// TestDenied: without the user action in its manifest a module is denied
// before anything else is looked at (the store is never reached: nil).
func TestDenied(t *testing.T) {
	m := map[string]modhost.Service{}
	Register(m, nil, nil)
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, Names()) || len(got) != 8 {
		t.Fatalf("registered %v", got)
	}
	others := &manifest.Manifest{Name: "m"}
	others.Capabilities.UserActions = []string{manifest.UserConnections, manifest.UserStatus}
	others.Capabilities.Seal = true
	for _, name := range Names() {
		_, err := m[name].Serve(context.Background(), &modhost.Caller{Module: "m", Manifest: others}, []byte(`{"user_id": 1}`))
		if he, ok := errors.AsType[*abi.HostError](err); !ok || he.Code != abi.HostErrDenied {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		service, payload string
		ok               bool
	}{
		{Ban, `{"user_id": 3, "reason": "spam"}`, true},
		{Ban, `{"user_id": 3, "role": "staff"}`, false},
		{Ban, `{"user_id": 0}`, false},
		{Ban, `{"user_id": -3}`, false},
		{Ban, `{"user_id": "3"}`, false},
		{Ban, `{"user_id": 3} {"user_id": 4}`, false},
		{Ban, `{"user_id": 3, "x": 1}`, false},
		{Ban, `[]`, false},
		{Suspend, `{"user_id": 3, "seconds": 60}`, true},
		{BlockIP, `{"prefix": "192.0.2.0/24", "until": "2030-01-01T00:00:00Z"}`, true},
		{BlockIP, `{"prefix": "192.0.2.0/24", "user_id": 1}`, false},
		{SetPassword, `{"user_id": 3, "password": "x"}`, true},
		{GrantRole, `{"user_id": 3, "role": "staff"}`, true},
		{GrantRole, `{"user_id": 3, "role": "staff", "password": "x"}`, false},
	}
	for _, tt := range tests {
		_, err := parse(tt.service, services[tt.service], []byte(tt.payload))
		if (err == nil) != tt.ok {
			t.Errorf("%s %s: %v", tt.service, tt.payload, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Ban, []byte(`{"user_id": 3, "reason": "spam"}`))
	f.Add(BlockIP, []byte(`{"prefix": "2001:db8::/48", "until": "2030-01-01T00:00:00Z", "reason": ""}`))
	f.Add(SetPassword, []byte(`{"user_id": 1, "password": "a long passphrase here"}`))
	f.Add(GrantRole, []byte(`{"user_id": 1, "role": "staff"}`))
	f.Fuzz(func(t *testing.T, name string, payload []byte) {
		svc, ok := services[name]
		if !ok {
			return
		}
		r, err := parse(name, svc, payload)
		if err != nil {
			if he, ok := errors.AsType[*abi.HostError](err); !ok || he.Code != abi.HostErrInvalid {
				t.Fatalf("%s: %v", name, err)
			}
			return
		}
		// What parses takes only the service's fields, and re-parses.
		b, _ := json.Marshal(r)
		if _, err := parse(name, svc, b); err != nil {
			t.Fatalf("%s: %s parsed, its re-encoding %s did not: %v", name, payload, b, err)
		}
		if slices.Contains(svc.fields, "user_id") && r.UserID <= 0 {
			t.Fatalf("%s: user id %d", name, r.UserID)
		}
	})
}

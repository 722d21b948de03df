package site

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// TestModuleCannotBlockPrivilegedAddresses: a module may not block a
// network an admin, staff or auditor used (it would lock the owner out of
// the site and the admin area, what a module may never do); a network no
// one privileged used stays its to block.
func TestModuleCannotBlockPrivilegedAddresses(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	st := e.site.Store()
	e.user("boss", goodPassword, RoleAdmin)
	e.user("sam", goodPassword, RoleStaff)
	e.user("mia", goodPassword, RoleMember)
	for _, l := range []struct{ ip, user string }{
		{"198.51.100.20", "boss"}, {"2001:db8:5:6::9", "sam"}, {"203.0.113.5", "mia"},
	} {
		if res := e.loginFrom(e.client(), l.ip, l.user, goodPassword); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("login %s: %d", l.user, res.StatusCode)
		}
	}
	mod := Actor{Module: "chat"}
	week := time.Now().Add(7 * 24 * time.Hour)
	tests := []struct {
		prefix string
		want   error
	}{
		{"198.51.100.0/24", ErrProtected},
		{"198.51.100.20", ErrProtected},
		{"::ffff:198.51.100.20", ErrProtected},
		{"2001:db8:5::/48", ErrProtected},
		{"2001:db8:5:6::9", ErrProtected},
		{"203.0.113.0/24", nil},
		{"198.51.101.0/24", nil},
	}
	for _, tt := range tests {
		p, err := ParsePrefix(tt.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.BlockIP(ctx, mod, p, week, ""); !errors.Is(err, tt.want) {
			t.Errorf("a module blocking %s: %v, want %v", tt.prefix, err, tt.want)
		}
	}
	// The owner may.
	if err := st.BlockIP(ctx, Actor{}, netip.MustParsePrefix("198.51.100.0/24"), week, ""); err != nil {
		t.Errorf("the owner blocking an admin's network: %v", err)
	}
}

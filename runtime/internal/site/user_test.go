package site

import (
	"context"
	"slices"
	"testing"
	"time"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		role  Role
		roles []string
	}{
		{RoleAdmin, []string{"admin", "staff", "member"}},
		{RoleStaff, []string{"staff", "member"}},
		{RoleMember, []string{"member"}},
		{"bogus", nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.role), func(t *testing.T) {
			u := &User{Role: tt.role}
			if got := u.Roles(); !slices.Equal(got, tt.roles) {
				t.Errorf("Roles() = %v, want %v", got, tt.roles)
			}
			for _, r := range allRoles {
				if want := slices.Contains(tt.roles, string(r)); u.Has(r) != want {
					t.Errorf("Has(%s) = %v, want %v", r, !want, want)
				}
			}
			if u.Has("bogus") {
				t.Error("Has(bogus) is true")
			}
		})
	}
	var anon *User
	if anon.Has(RoleMember) || anon.Roles() != nil {
		t.Error("a nil user has roles")
	}
	if UserFrom(context.Background()) != nil {
		t.Error("UserFrom(empty ctx) != nil")
	}
	u := &User{ID: 1}
	if UserFrom(WithUser(context.Background(), u)) != u {
		t.Error("UserFrom(WithUser(u)) != u")
	}
}

func TestKeyLimiter(t *testing.T) {
	now := time.Unix(1e9, 0)
	l := newKeyLimiter(5, 5, 3)
	for i := range 5 {
		if !l.allow("a", now) {
			t.Fatalf("attempt %d refused", i+1)
		}
	}
	if l.allow("a", now) {
		t.Fatal("6th attempt allowed")
	}
	l.allow("b", now)
	l.allow("c", now)
	// Full: a new key is refused while all buckets are in use.
	if l.allow("d", now.Add(time.Second)) {
		t.Fatal("new key allowed past maxKeys")
	}
	if !l.allow("a", now.Add(12*time.Second)) {
		t.Fatal("no token back after 12 s")
	}
	// Once buckets have refilled, their keys go and new keys fit again.
	later := now.Add(2 * time.Minute)
	if !l.allow("d", later) {
		t.Fatal("new key refused after the others went idle")
	}
	l.prune(later.Add(time.Minute))
	if n := l.len(); n != 0 {
		t.Errorf("%d keys after prune, want 0", n)
	}
}

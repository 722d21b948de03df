package site

import (
	"context"
	"slices"
	"testing"
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

package site

import (
	"context"
	"slices"
	"testing"
)

func TestRoles(t *testing.T) {
	tests := []struct {
		name    string
		granted []Role
		roles   []string
	}{
		{"admin", []Role{RoleAdmin}, []string{"admin", "staff", "member"}},
		{"staff", []Role{RoleStaff}, []string{"staff", "member"}},
		{"member", nil, []string{"member"}},
		{"auditor", []Role{RoleAuditor}, []string{"auditor", "member"}},
		{"staff auditor", []Role{RoleAuditor, RoleStaff}, []string{"staff", "auditor", "member"}},
		{"admin auditor", []Role{RoleAdmin, RoleAuditor}, []string{"admin", "staff", "auditor", "member"}},
		{"bogus", []Role{"bogus"}, []string{"member"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := &User{Granted: tt.granted}
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

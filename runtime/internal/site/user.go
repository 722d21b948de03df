package site

import (
	"context"
	"slices"
)

// Role is a role a user may hold. Every user is a member; admin, staff and
// auditor are granted on top (websonic.user_roles), any number of them.
// Admin implies staff (admin ⊃ staff ⊃ member); auditor implies nothing
// but membership: it reads the audit log (GET /account/audit) and nothing
// more (see RATIONALE.md, "Several roles").
type Role string

// The roles, most powerful first.
const (
	RoleAdmin   Role = "admin"
	RoleStaff   Role = "staff"
	RoleAuditor Role = "auditor"
	RoleMember  Role = "member"
)

// allRoles lists the roles, most powerful first: the order of User.Roles.
var allRoles = [...]Role{RoleAdmin, RoleStaff, RoleAuditor, RoleMember}

// valid reports whether r is a role.
func (r Role) valid() bool { return slices.Contains(allRoles[:], r) }

// grantable reports whether r is stored in websonic.user_roles (member is
// everyone's and is not).
func (r Role) grantable() bool { return r.valid() && r != RoleMember }

// User is a registered user as the site sees it. It is a value snapshot read
// at the start of a request: changing it changes nothing in the database.
type User struct {
	ID          int64
	Username    string
	DisplayName string
	Email       string // "" when the user gave none
	// Granted are the roles granted on top of member (admin, staff,
	// auditor), as stored: an admin's need not list staff. Use Has and
	// Roles, which add what they imply.
	Granted []Role
	// ErasePending: the user asked to delete their account. Until they
	// cancel, a session of theirs reaches only their privacy page and
	// sign-out (Sessions), and none of the admin area.
	ErasePending bool
}

// Roles returns the roles u holds, those granted and those they imply,
// most powerful first: an admin has [admin staff member], an auditor
// [auditor member], a staff auditor [staff auditor member]. It returns nil
// for a nil user. Modules see this list (abi.User.Roles).
func (u *User) Roles() []string {
	if u == nil {
		return nil
	}
	var out []string
	for _, r := range allRoles {
		if u.Has(r) {
			out = append(out, string(r))
		}
	}
	return out
}

// Has reports whether u holds role r, granted or implied. A nil user
// (anonymous) has no role, so UserFrom(ctx).Has(r) is safe.
func (u *User) Has(r Role) bool {
	if u == nil {
		return false
	}
	switch r {
	case RoleMember:
		return true
	case RoleStaff:
		return slices.Contains(u.Granted, RoleStaff) || slices.Contains(u.Granted, RoleAdmin)
	case RoleAdmin, RoleAuditor:
		return slices.Contains(u.Granted, r)
	}
	return false
}

// userKey is the context key of the signed-in user.
type userKey struct{}

// UserFrom returns the signed-in user that Site.Sessions put in ctx, or nil
// when the request is anonymous.
func UserFrom(ctx context.Context) *User {
	u, _ := ctx.Value(userKey{}).(*User)
	return u
}

// WithUser returns a copy of ctx carrying u as the signed-in user. Site.Sessions
// uses it; other code should need it only in tests.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// toRoles converts the roles read from the database, dropping any this
// version does not know.
func toRoles(names []string) []Role {
	out := make([]Role, 0, len(names))
	for _, n := range names {
		if r := Role(n); r.grantable() {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Role) int { return slices.Index(allRoles[:], a) - slices.Index(allRoles[:], b) })
	return out
}

package site

import "context"

// Role is a user's role. The roles form a hierarchy: admin ⊃ staff ⊃ member.
type Role string

// The roles, from most to least powerful.
const (
	RoleAdmin  Role = "admin"
	RoleStaff  Role = "staff"
	RoleMember Role = "member"
)

// rank orders the roles; 0 means not a role.
func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 3
	case RoleStaff:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// allRoles lists the roles, most powerful first.
var allRoles = [...]Role{RoleAdmin, RoleStaff, RoleMember}

// User is a registered user as the site sees it. It is a value snapshot read
// at the start of a request: changing it changes nothing in the database.
type User struct {
	ID          int64
	Username    string
	DisplayName string
	Email       string // "" when the user gave none
	Role        Role
}

// Roles returns the roles u holds, the stored one and those it implies, most
// powerful first: an admin has [admin staff member]. It returns nil for a nil
// user.
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

// Has reports whether u holds role r, directly or through the hierarchy.
// A nil user (anonymous) has no role, so UserFrom(ctx).Has(r) is safe.
func (u *User) Has(r Role) bool {
	return u != nil && r.rank() > 0 && u.Role.rank() >= r.rank()
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

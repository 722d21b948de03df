package sdk

import (
	"context"
	"time"
)

// The core user services (ABI v2, sdk/ABI.md section 16). Each needs the
// matching user action in the module's manifest (capabilities.user_actions:
// "ban", "suspend", "block_ip", "set_password", "roles"), approved by the
// site owner; without it the call fails with ErrDenied. Whatever the
// manifest says, a module never acts on an admin, never bans, suspends or
// sets the password of staff or an auditor, grants or removes only the
// staff role, and lifts only the bans and blocks it placed itself. Every
// call is recorded in the site's audit log, naming the module and the user
// whose request it serves.

// userRequest is the payload of the users.* services.
type userRequest struct {
	UserID   int64  `json:"user_id,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Seconds  int64  `json:"seconds,omitempty"`
	Prefix   string `json:"prefix,omitempty"`
	Until    string `json:"until,omitempty"`
	Password string `json:"password,omitempty"`
	Role     string `json:"role,omitempty"`
}

// BanUser bans the user: their account is disabled until UnbanUser, their
// sessions and realtime connections end at once, and the addresses they
// used cannot sign in or register while the ban lasts. reason (at most 500
// characters) goes into the audit log. Needs user action "ban".
func BanUser(ctx context.Context, userID int64, reason string) error {
	return callHost(ctx, "users.ban", userRequest{UserID: userID, Reason: reason}, nil)
}

// UnbanUser lifts a ban this module placed. Needs user action "ban".
func UnbanUser(ctx context.Context, userID int64) error {
	return callHost(ctx, "users.unban", userRequest{UserID: userID}, nil)
}

// SuspendUser keeps the user from signing in or using a session for d
// (rounded up to a whole second, at most a year); it lifts itself. Needs
// user action "suspend".
func SuspendUser(ctx context.Context, userID int64, d time.Duration, reason string) error {
	secs := int64((d + time.Second - 1) / time.Second)
	return callHost(ctx, "users.suspend", userRequest{UserID: userID, Seconds: secs, Reason: reason}, nil)
}

// BlockIP refuses every request from prefix, an address ("203.0.113.7",
// "2001:db8::1") or a network ("203.0.113.0/24", "2001:db8::/48"; at most
// a /24 or /48), until until (within 90 days). Needs user action
// "block_ip".
func BlockIP(ctx context.Context, prefix string, until time.Time, reason string) error {
	return callHost(ctx, "users.block_ip", userRequest{Prefix: prefix, Until: until.UTC().Format(time.RFC3339), Reason: reason}, nil)
}

// UnblockIP lifts a block this module placed on exactly prefix. Needs
// user action "block_ip".
func UnblockIP(ctx context.Context, prefix string) error {
	return callHost(ctx, "users.unblock_ip", userRequest{Prefix: prefix}, nil)
}

// SetUserPassword gives the user a new password, which must pass the
// site's password policy (15 to 1024 characters, not common, not
// containing the username); all the user's sessions end. Needs user action
// "set_password".
func SetUserPassword(ctx context.Context, userID int64, password string) error {
	return callHost(ctx, "users.set_password", userRequest{UserID: userID, Password: password}, nil)
}

// GrantRole grants the user a role; modules may grant "staff" only. Needs
// user action "roles".
func GrantRole(ctx context.Context, userID int64, role string) error {
	return callHost(ctx, "users.grant_role", userRequest{UserID: userID, Role: role}, nil)
}

// RevokeRole removes a role from the user; modules may remove "staff"
// only. Needs user action "roles".
func RevokeRole(ctx context.Context, userID int64, role string) error {
	return callHost(ctx, "users.revoke_role", userRequest{UserID: userID, Role: role}, nil)
}

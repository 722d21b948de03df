// Package usersvc serves the core user services to modules (ABI v2 host
// services users.ban, users.unban, users.suspend, users.block_ip,
// users.unblock_ip, users.set_password, users.grant_role and
// users.revoke_role; sdk.BanUser and the others). Each is allowed only
// when the calling module's approved manifest lists the matching user
// action (manifest.UserBan, UserSuspend, UserBlockIP, UserSetPassword,
// UserRoles) and acts through site.Store with the module as actor, which
// holds it to the limits no capability lifts (see site.Actor and
// RATIONALE.md, "What modules may never do to users"): no module acts on an
// admin, bans, suspends or sets the password of staff or an auditor,
// grants or removes any role but staff, lifts a ban or block it did not
// place, suspends for more than a year, or blocks more than a /24 (IPv4) or
// /48 (IPv6) or for more than 90 days. Payloads are JSON objects decoded
// strictly (unknown fields, trailing data and oversized payloads are
// invalid); sdk/ABI.md section 16 documents them.
package usersvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// The services' names.
const (
	Ban         = "users.ban"
	Unban       = "users.unban"
	Suspend     = "users.suspend"
	BlockIP     = "users.block_ip"
	UnblockIP   = "users.unblock_ip"
	SetPassword = "users.set_password"
	GrantRole   = "users.grant_role"
	RevokeRole  = "users.revoke_role"
)

// maxPayload bounds a request (the longest field is a 1024-character
// password).
const maxPayload = 8 << 10

// Request is every service's payload; each reads the fields it names in
// sdk/ABI.md and refuses the others.
type Request struct {
	UserID   int64  `json:"user_id,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Seconds  int64  `json:"seconds,omitempty"`
	Prefix   string `json:"prefix,omitempty"`
	Until    string `json:"until,omitempty"` // RFC 3339
	Password string `json:"password,omitempty"`
	Role     string `json:"role,omitempty"`
}

// service is one of the user services: the action the manifest must list,
// the fields it takes, and what it does.
type service struct {
	action string
	fields []string
	run    func(ctx context.Context, st *site.Store, a site.Actor, r *Request) error
}

var services = map[string]service{
	Ban: {manifest.UserBan, []string{"user_id", "reason"}, func(ctx context.Context, st *site.Store, a site.Actor, r *Request) error {
		return st.Ban(ctx, a, r.UserID, r.Reason)
	}},
	Unban: {manifest.UserBan, []string{"user_id"}, func(ctx context.Context, st *site.Store, a site.Actor, r *Request) error {
		return st.Unban(ctx, a, r.UserID)
	}},
	Suspend: {manifest.UserSuspend, []string{"user_id", "seconds", "reason"}, func(ctx context.Context, st *site.Store, a site.Actor, r *Request) error {
		if r.Seconds <= 0 || r.Seconds > int64(site.MaxSuspension/time.Second) {
			return modhost.Invalid("%s: seconds must be 1 to %d", Suspend, int64(site.MaxSuspension/time.Second))
		}
		return st.Suspend(ctx, a, r.UserID, time.Now().Add(time.Duration(r.Seconds)*time.Second), r.Reason)
	}},
	BlockIP: {manifest.UserBlockIP, []string{"prefix", "until", "reason"}, func(ctx context.Context, st *site.Store, a site.Actor, r *Request) error {
		p, err := site.ParsePrefix(r.Prefix)
		if err != nil {
			return err
		}
		until, err := time.Parse(time.RFC3339, r.Until)
		if err != nil {
			return modhost.Invalid("%s: until must be an RFC 3339 time within %s", BlockIP, site.MaxModuleBlock)
		}
		return st.BlockIP(ctx, a, p, until, r.Reason)
	}},
	UnblockIP: {manifest.UserBlockIP, []string{"prefix"}, func(ctx context.Context, st *site.Store, a site.Actor, r *Request) error {
		p, err := site.ParsePrefix(r.Prefix)
		if err != nil {
			return err
		}
		return st.UnblockIP(ctx, a, p)
	}},
	SetPassword: {manifest.UserSetPassword, []string{"user_id", "password"}, func(ctx context.Context, st *site.Store, a site.Actor, r *Request) error {
		return st.SetPassword(ctx, a, r.UserID, r.Password)
	}},
	GrantRole: {manifest.UserRoles, []string{"user_id", "role"}, func(ctx context.Context, st *site.Store, a site.Actor, r *Request) error {
		return st.GrantRole(ctx, a, r.UserID, site.Role(r.Role))
	}},
	RevokeRole: {manifest.UserRoles, []string{"user_id", "role"}, func(ctx context.Context, st *site.Store, a site.Actor, r *Request) error {
		return st.RevokeRole(ctx, a, r.UserID, site.Role(r.Role))
	}},
}

// Names lists the services, sorted.
func Names() []string {
	var names []string
	for n := range services {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Register adds the user services to m, acting through st; failures that
// are not the module's doing go to log (nil: none).
func Register(m map[string]modhost.Service, st *site.Store, log hclog.Logger) {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	for name, svc := range services {
		m[name] = modhost.ServiceFunc(func(ctx context.Context, c *modhost.Caller, payload []byte) ([]byte, error) {
			out, err := serve(ctx, st, name, svc, c, payload)
			if he, ok := errors.AsType[*abi.HostError](err); ok && he.Code == abi.HostErrFailed {
				log.Error("user service failed", "service", name, "module", c.Module, "error", errors.Unwrap(err))
			}
			return out, err
		})
	}
}

func serve(ctx context.Context, st *site.Store, name string, svc service, c *modhost.Caller, payload []byte) ([]byte, error) {
	if !slices.Contains(c.Manifest.Capabilities.UserActions, svc.action) {
		return nil, modhost.Denied("%s: the module's manifest does not list user action %q", name, svc.action)
	}
	r, err := parse(name, svc, payload)
	if err != nil {
		return nil, err
	}
	a := site.Actor{Module: c.Module}
	if c.User != nil {
		a.UserID = c.User.ID
	}
	if err := svc.run(ctx, st, a, r); err != nil {
		return nil, hostError(name, err)
	}
	return []byte("{}"), nil
}

// parse decodes and checks a service's payload.
func parse(name string, svc service, payload []byte) (*Request, error) {
	var r Request
	if err := privacy.DecodeStrict(payload, &r, maxPayload); err != nil {
		return nil, modhost.Invalid("%s: %v", name, err)
	}
	if err := checkFields(&r, svc.fields); err != nil {
		return nil, modhost.Invalid("%s: %v", name, err)
	}
	if slices.Contains(svc.fields, "user_id") && r.UserID <= 0 {
		return nil, modhost.Invalid("%s: user_id must be a user's id", name)
	}
	return &r, nil
}

// checkFields refuses fields the service does not take.
func checkFields(r *Request, fields []string) error {
	set := map[string]bool{
		"user_id": r.UserID != 0, "reason": r.Reason != "", "seconds": r.Seconds != 0, "prefix": r.Prefix != "",
		"until": r.Until != "", "password": r.Password != "", "role": r.Role != "",
	}
	for f, on := range set {
		if on && !slices.Contains(fields, f) {
			return fmt.Errorf("field %q does not belong to this service", f)
		}
	}
	return nil
}

// hostError maps the site's errors to the ABI's codes.
func hostError(name string, err error) error {
	if he, ok := errors.AsType[*abi.HostError](err); ok {
		return he
	}
	code := abi.HostErrFailed
	msg := err.Error()
	switch {
	case errors.Is(err, site.ErrUnknownUser), errors.Is(err, site.ErrNoBlock):
		code = abi.HostErrNotFound
	case errors.Is(err, site.ErrProtected), errors.Is(err, site.ErrNotYours), errors.Is(err, site.ErrLastAdmin),
		errors.Is(err, site.ErrTooManyBlocks):
		code = abi.HostErrDenied
	case errors.Is(err, site.ErrWeakPassword), errors.Is(err, site.ErrInvalidRole), errors.Is(err, site.ErrInvalidReason),
		errors.Is(err, site.ErrInvalidPrefix), errors.Is(err, site.ErrInvalidUntil):
		code = abi.HostErrInvalid
	default:
		// The details stay in the runtime's log.
		return &failed{abi.HostError{Code: code, Message: name + ": the runtime could not do it; try again later"}, err}
	}
	return &abi.HostError{Code: code, Message: name + ": " + msg}
}

// failed is a failure of the runtime's: the module sees HostError, the log
// the cause.
type failed struct {
	abi.HostError
	cause error
}

func (f *failed) Unwrap() error { return f.cause }

// As lets errors.As find the *abi.HostError the module sees.
func (f *failed) As(target any) bool {
	if p, ok := target.(**abi.HostError); ok {
		*p = &f.HostError
		return true
	}
	return false
}

package server

import (
	"context"

	"github.com/websonic/websonic/runtime/internal/site"
)

// The owner's commands that match the admin area's Users and Audit log
// pages (websonic user list|sessions|end-session, websonic admin audit):
// like the other user commands they act on the site's database directly,
// as "terminal".

// UserQuery selects a page of the user list (see site.UserQuery).
type UserQuery = site.UserQuery

// UserSort and UserState are the user list's orders and state filters.
type (
	UserSort  = site.UserSort
	UserState = site.UserState
)

// The states of an account (see site.UserState).
const (
	StateActive    = site.StateActive
	StateBanned    = site.StateBanned
	StateSuspended = site.StateSuspended
)

// UserListing is an account of the user list.
type UserListing = site.UserListing

// SessionInfo is a live session of a user.
type SessionInfo = site.SessionInfo

// AddressSeen is an address a user came from.
type AddressSeen = site.AddressSeen

// AuditQuery selects a page of the audit log (see site.AuditQuery).
type AuditQuery = site.AuditQuery

// AuditEntry is an entry of the audit log.
type AuditEntry = site.AuditEntry

// ListUsers returns a page of the site's accounts and how many match q.
func (c *Console) ListUsers(ctx context.Context, q UserQuery) ([]UserListing, int, error) {
	return c.store().ListUsers(ctx, q)
}

// Sessions lists the live sessions of the user named username, and the
// addresses they came from.
func (c *Console) Sessions(ctx context.Context, username string) ([]SessionInfo, []AddressSeen, error) {
	id, err := c.userID(ctx, username)
	if err != nil {
		return nil, nil, err
	}
	st := c.store()
	sessions, err := st.UserSessions(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	addrs, err := st.UserAddresses(ctx, id)
	return sessions, addrs, err
}

// EndSession ends one session (a SessionInfo.ID) of the user.
func (c *Console) EndSession(ctx context.Context, username, sessionID string) error {
	return c.byName(ctx, username, func(st *site.Store, id int64) error { return st.EndSession(ctx, terminal, id, sessionID) })
}

// EndSessions ends every session of the user and says how many ended.
func (c *Console) EndSessions(ctx context.Context, username string) (n int, err error) {
	err = c.byName(ctx, username, func(st *site.Store, id int64) error {
		n, err = st.EndSessions(ctx, terminal, id)
		return err
	})
	return n, err
}

// AuditLog returns a page of the audit log, newest first.
func (c *Console) AuditLog(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	return c.store().AuditLog(ctx, q)
}

package server

import (
	"context"
	"fmt"
	"time"

	"github.com/websonic/websonic/runtime/internal/privacy"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The owner's user commands (websonic admin ban, suspend, block-ip,
// password, role…) act directly on the site's database as "terminal" (the
// audit log's actor); the user events they record make every running
// replica end the user's sessions and sockets at once, and IP blocks apply
// on every replica within seconds.

// UserStatus is a user's account as the owner's commands show it.
type UserStatus = site.UserStatus

// IPBlock is a blocked address or network.
type IPBlock = site.IPBlock

// Role is a role a user may hold (admin, staff, auditor; member is
// everyone's).
type Role = site.Role

// terminal is the actor of the owner's commands.
var terminal = site.Actor{}

func (c *Console) store() *site.Store { return site.NewStore(c.db.Pool) }

// userID resolves a username.
func (c *Console) userID(ctx context.Context, username string) (int64, error) {
	st, err := c.store().LookupUser(ctx, username, 0)
	if err != nil {
		return 0, fmt.Errorf("user %q: %w", username, err)
	}
	return st.ID, nil
}

// User returns the account named username (site.ErrUnknownUser if none).
func (c *Console) User(ctx context.Context, username string) (*UserStatus, error) {
	return c.store().LookupUser(ctx, username, 0)
}

// byName runs f on the user named username.
func (c *Console) byName(ctx context.Context, username string, f func(st *site.Store, id int64) error) error {
	id, err := c.userID(ctx, username)
	if err != nil {
		return err
	}
	return f(c.store(), id)
}

// Ban bans the user (see site.Store.Ban).
func (c *Console) Ban(ctx context.Context, username, reason string) error {
	return c.byName(ctx, username, func(st *site.Store, id int64) error { return st.Ban(ctx, terminal, id, reason) })
}

// Unban lifts the user's ban.
func (c *Console) Unban(ctx context.Context, username string) error {
	return c.byName(ctx, username, func(st *site.Store, id int64) error { return st.Unban(ctx, terminal, id) })
}

// Suspend suspends the user until until (see site.Store.Suspend).
func (c *Console) Suspend(ctx context.Context, username string, until time.Time, reason string) error {
	return c.byName(ctx, username, func(st *site.Store, id int64) error { return st.Suspend(ctx, terminal, id, until, reason) })
}

// Unsuspend lifts the user's suspension.
func (c *Console) Unsuspend(ctx context.Context, username string) error {
	return c.byName(ctx, username, func(st *site.Store, id int64) error { return st.Unsuspend(ctx, terminal, id) })
}

// SetPassword gives the user a new password (the password policy applies;
// every session ends).
func (c *Console) SetPassword(ctx context.Context, username, password string) error {
	return c.byName(ctx, username, func(st *site.Store, id int64) error { return st.SetPassword(ctx, terminal, id, password) })
}

// GrantRole grants the user role r.
func (c *Console) GrantRole(ctx context.Context, username string, r Role) error {
	return c.byName(ctx, username, func(st *site.Store, id int64) error { return st.GrantRole(ctx, terminal, id, r) })
}

// RevokeRole removes role r from the user (never the last admin's admin).
func (c *Console) RevokeRole(ctx context.Context, username string, r Role) error {
	return c.byName(ctx, username, func(st *site.Store, id int64) error { return st.RevokeRole(ctx, terminal, id, r) })
}

// BlockIP blocks an address or CIDR prefix until until (zero: until
// unblocked); see site.ParsePrefix and site.Store.BlockIP.
func (c *Console) BlockIP(ctx context.Context, prefix string, until time.Time, reason string) error {
	p, err := site.ParsePrefix(prefix)
	if err != nil {
		return fmt.Errorf("%q: %w", prefix, err)
	}
	return c.store().BlockIP(ctx, terminal, p, until, reason)
}

// UnblockIP lifts the block of exactly prefix.
func (c *Console) UnblockIP(ctx context.Context, prefix string) error {
	p, err := site.ParsePrefix(prefix)
	if err != nil {
		return fmt.Errorf("%q: %w", prefix, err)
	}
	return c.store().UnblockIP(ctx, terminal, p)
}

// IPBlocks lists the blocks in force.
func (c *Console) IPBlocks(ctx context.Context) ([]IPBlock, error) { return c.store().IPBlocks(ctx) }

// RotateDataKey adds a data key to the site in cfg (its DataDir's key
// file; cfg.SiteKey set: refused, see privacy.Rotate) and returns its id.
func RotateDataKey(ctx context.Context, cfg Config) (uint32, error) {
	c, err := OpenConsole(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	if cfg.DataDir == "" {
		cfg.DataDir = "data"
	}
	return privacy.Rotate(ctx, cfg.DataDir, cfg.SiteKey, c.db.Pool)
}

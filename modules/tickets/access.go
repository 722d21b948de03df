package main

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// access is what a user may do with a ticket.
type access int

const (
	// noAccess: the ticket does not exist for the user (answered 404,
	// never 403, so ticket numbers tell nothing).
	noAccess access = iota
	// customer: the opener or a participant. They read and write the
	// public conversation only.
	customer
	// agent: staff who may work the ticket's panel (every staff member
	// when the panel has no group, else the group's members) and the
	// site's admins. Agents read notes and act on the ticket.
	agent
)

// errNoTicket is the answer for a ticket that is not there for the user.
var errNoTicket = jsonapi.NotFound("There is no such ticket, or it is not yours.")

// ticketAccess decides what u may do with ticket id. A staff member who
// may not work the ticket's panel but opened the ticket is its customer.
func ticketAccess(ctx context.Context, u *sdk.User, id int64) (access, error) {
	if u == nil || id <= 0 {
		return noAccess, nil
	}
	var party, worker bool
	err := sdk.DB().QueryRowContext(ctx, `
		SELECT t.opener_id IS NOT DISTINCT FROM $2
		       OR EXISTS (SELECT 1 FROM participants x WHERE x.ticket_id = t.id AND x.user_id = $2),
		       p.group_name IS NULL
		       OR EXISTS (SELECT 1 FROM group_members g WHERE g.group_name = p.group_name AND g.user_id = $2)
		FROM tickets t JOIN panels p ON p.id = t.panel_id WHERE t.id = $1`, id, u.ID).Scan(&party, &worker)
	if errors.Is(err, sql.ErrNoRows) {
		return noAccess, nil
	}
	if err != nil {
		return noAccess, err
	}
	switch {
	case isAdmin(u), isStaff(u) && worker:
		return agent, nil
	case party:
		return customer, nil
	}
	return noAccess, nil
}

// need answers errNoTicket unless u has at least access want to ticket id,
// and returns the access u has.
func need(ctx context.Context, u *sdk.User, id int64, want access) (access, error) {
	a, err := ticketAccess(ctx, u, id)
	if err != nil {
		return noAccess, err
	}
	if a < want {
		return noAccess, errNoTicket
	}
	return a, nil
}

// workablePanels are the ids of the panels u works as staff, as a
// PostgreSQL array literal for "panel_id = ANY($n::bigint[])" (the SDK
// passes no arrays): every panel for admins, else the panels without a
// group and those of u's groups. Not staff: none.
func workablePanels(ctx context.Context, u *sdk.User) (string, error) {
	if !isStaff(u) {
		return "{}", nil
	}
	rows, err := sdk.DB().QueryContext(ctx, `
		SELECT p.id FROM panels p
		WHERE $2 OR p.group_name IS NULL
		   OR EXISTS (SELECT 1 FROM group_members g WHERE g.group_name = p.group_name AND g.user_id = $1)
		ORDER BY p.id`, u.ID, isAdmin(u))
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var b strings.Builder
	b.WriteByte('{')
	for n := 0; rows.Next(); n++ {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return "", err
		}
		if n > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteByte('}')
	return b.String(), rows.Err()
}

// canWork reports whether the user userID, holding roles (as
// websonic_api.users lists them), works panel panelID as staff: admins
// every panel, staff the panels without a group and those of their
// groups. It is workablePanels' rule for someone other than the caller
// (an assignee, an agent to list).
func canWork(ctx context.Context, userID int64, roles []string, panelID int64) (bool, error) {
	if slices.Contains(roles, "admin") {
		return true, nil
	}
	if !slices.Contains(roles, "staff") {
		return false, nil
	}
	var ok bool
	err := sdk.DB().QueryRowContext(ctx, `SELECT p.group_name IS NULL
		OR EXISTS (SELECT 1 FROM group_members g WHERE g.group_name = p.group_name AND g.user_id = $2)
		FROM panels p WHERE p.id = $1`, panelID, userID).Scan(&ok)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return ok, err
}

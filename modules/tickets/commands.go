package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// The admin commands (module.json's admin_commands; `websonic exec tickets
// close 12 "spam"`, and the admin area): close, assign and reopen run the
// staff routes' own functions (staff.go: setStatus, assignTicket), so the
// status machine, the mail, the events and the desk's audit are the same.
// The admin running one is the actor; from the server's terminal there is
// none, and the desk itself acts. The runtime audits every run too.
// (stats is the reports' command, admin.go.)

func init() {
	sdk.Command("close", cmdClose)
	sdk.Command("assign", cmdAssign)
	sdk.Command("reopen", cmdReopen)
}

// commandActor is who runs a command: the admin, or the desk (nil user)
// from the terminal; either acts as an agent.
func commandActor(args sdk.Args) actor { return actor{User: args.User(), Agent: true} }

// onTicket runs f on ticket id in a transaction holding its row, then
// publishes what it announces. Commands reach every ticket (they are an
// admin's).
func onTicket(ctx context.Context, id int64, f func(tx *sql.Tx, l *locked, n *news) error) error {
	if id <= 0 {
		return errors.New("a ticket number is above 0")
	}
	var n news
	err := inTx(ctx, func(tx *sql.Tx) error {
		l, err := lockTicket(ctx, tx, id)
		if errors.Is(err, errNoTicket) {
			return fmt.Errorf("there is no ticket #%d", id)
		}
		if err != nil {
			return err
		}
		return f(tx, l, &n)
	})
	if err != nil {
		var e *jsonapi.Error
		if errors.As(err, &e) { // a sentence for the admin
			return errors.New(e.Msg)
		}
		return err
	}
	n.publish(ctx)
	sendSoon(ctx)
	return nil
}

// cmdClose closes a ticket; the reason, if any, is kept as an internal
// note (the customer sees that it closed, not why an admin closed it).
func cmdClose(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	id := args.Int("ticket")
	reason, err := jsonapi.CheckText(args.String("reason"), maxBody, true)
	if err != nil {
		return sdk.Result{}, fmt.Errorf("the reason: %w", err)
	}
	already := false
	err = onTicket(ctx, id, func(tx *sql.Tx, l *locked, n *news) error {
		a := commandActor(args)
		if l.Status == statusClosed {
			already = true
			return nil
		}
		if reason != "" {
			if _, err := addNote(ctx, tx, l, a, "Closed: "+reason, nil, n); err != nil {
				return err
			}
		}
		return setStatus(ctx, tx, l, a, statusClosed, n)
	})
	if err != nil {
		return sdk.Result{}, err
	}
	if already {
		return sdk.Text(fmt.Sprintf("Ticket #%d was already closed.", id)), nil
	}
	return sdk.Text(fmt.Sprintf("Ticket #%d is closed.", id)), nil
}

// cmdAssign assigns a ticket to a staff member who works its panel.
func cmdAssign(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	id, user := args.Int("ticket"), args.String("user")
	if user == "" {
		return sdk.Result{}, errors.New("name the staff member (their username)")
	}
	err := onTicket(ctx, id, func(tx *sql.Tx, l *locked, n *news) error {
		return assignTicket(ctx, tx, l, commandActor(args), user, n)
	})
	if err != nil {
		return sdk.Result{}, err
	}
	return sdk.Text(fmt.Sprintf("Ticket #%d is assigned to %s.", id, user)), nil
}

// cmdReopen reopens a solved or closed ticket (never a merged one),
// whenever it was solved or closed.
func cmdReopen(ctx context.Context, args sdk.Args) (sdk.Result, error) {
	id := args.Int("ticket")
	err := onTicket(ctx, id, func(tx *sql.Tx, l *locked, n *news) error {
		if l.MergedInto.Valid {
			return refuseClosed(l)
		}
		if !done(l.Status) {
			return fmt.Errorf("ticket #%d is %s, not solved or closed", id, statusLabel(l.Status))
		}
		return setStatus(ctx, tx, l, commandActor(args), statusOpen, n)
	})
	if err != nil {
		return sdk.Result{}, err
	}
	return sdk.Text(fmt.Sprintf("Ticket #%d is open again.", id)), nil
}

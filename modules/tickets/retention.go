package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/websonic/websonic/sdk"
)

// The desk's housekeeping jobs (module.json's schedules):
//
//   - retention, nightly: deletes the tickets closed more than
//     retention_days ago with everything in them (0: keep them forever)
//     and the desk's audit entries as old; drafts nobody sent within a
//     day; mails sent (or given up) more than 30 days ago.
//   - autoclose, hourly: closes the tickets solved more than
//     autoclose_days ago (0: never), each through lockTicket and moveTo
//     like a person's close, telling the opener by mail.
//
// Both work in bounded batches, each its own short statement or
// transaction, and stop after jobBudget so a run ends well before the
// call's deadline (10 s); what is left waits for the next run.

func init() {
	sdk.Job("retention", retention)
	sdk.Job("autoclose", autoclose)
}

const (
	// jobBatch is how many rows one statement deletes, or how many
	// tickets autoclose reads at once.
	jobBatch = 500
	// jobBudget is how long a run keeps starting new batches.
	jobBudget = 5 * time.Second
	// draftDays and mailDays are how long unsent drafts and sent mails
	// stay.
	draftDays = 1
	mailDays  = 30
)

func retention(ctx context.Context) error {
	s := readSettings()
	start := time.Now()
	deleted := map[string]int64{}
	// Each step's query deletes a batch: $1 the days, $2 the batch.
	type step struct {
		what, query string
		days        int64
	}
	steps := []step{
		{"drafts", `DELETE FROM attachments WHERE id IN (SELECT id FROM attachments
			WHERE message_id IS NULL AND note_id IS NULL AND created_at < now() - make_interval(days => $1::integer)
			ORDER BY id LIMIT $2)`, draftDays},
		{"mails", `DELETE FROM outbox WHERE id IN (SELECT id FROM outbox
			WHERE (sent_at IS NOT NULL OR attempts >= 10) AND created_at < now() - make_interval(days => $1::integer)
			ORDER BY id LIMIT $2)`, mailDays},
	}
	if s.RetentionDays > 0 {
		days := min(s.RetentionDays, 1_000_000)
		steps = append(steps,
			step{"tickets", `DELETE FROM tickets WHERE id IN (SELECT id FROM tickets
				WHERE closed_at < now() - make_interval(days => $1::integer) AND status = 'closed'
				ORDER BY closed_at LIMIT $2)`, days},
			step{"audit", `DELETE FROM audit WHERE id IN (SELECT id FROM audit
				WHERE at < now() - make_interval(days => $1::integer) ORDER BY id LIMIT $2)`, days})
	}
	for _, st := range steps {
		for {
			res, err := sdk.DB().ExecContext(ctx, st.query, st.days, jobBatch)
			if err != nil {
				return fmt.Errorf("retention: %s: %w (deleted so far: %v)", st.what, err, deleted)
			}
			n, _ := res.RowsAffected()
			deleted[st.what] += n
			if n < jobBatch {
				break
			}
			if time.Since(start) > jobBudget {
				sdk.Logger().Info("retention: the rest waits for the next run", "deleted", deleted)
				return nil
			}
		}
	}
	sdk.Logger().Info("retention", "deleted", deleted, "tick", sdk.JobTick(ctx))
	return nil
}

func autoclose(ctx context.Context) error {
	days := readSettings().AutocloseDays
	if days <= 0 {
		return nil
	}
	days = min(days, 1_000_000)
	start := time.Now()
	rows, err := sdk.DB().QueryContext(ctx, `SELECT id FROM tickets
		WHERE status = 'solved' AND solved_at < now() - make_interval(days => $1::integer)
		ORDER BY solved_at, id LIMIT $2`, days, jobBatch)
	if err != nil {
		return fmt.Errorf("autoclose: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("autoclose: %w", err)
	}
	closed := 0
	for _, id := range ids {
		if time.Since(start) > jobBudget {
			break
		}
		ok, err := autocloseOne(ctx, id, days)
		if err != nil {
			return fmt.Errorf("autoclose: ticket %d: %w (%d closed)", id, err, closed)
		}
		if ok {
			closed++
		}
	}
	// The closing mails go now, a batch of them (within the job's
	// deadline); the mail job sends the rest within a minute.
	if closed > 0 {
		sendSoon(ctx)
	}
	sdk.Logger().Info("autoclose", "closed", closed, "tick", sdk.JobTick(ctx))
	return nil
}

// autocloseOne closes ticket id if it is still solved for more than days
// (a customer may have reopened it since the list was read).
func autocloseOne(ctx context.Context, id, days int64) (bool, error) {
	desk := actor{Agent: true}
	var (
		panel  int64
		opener sql.NullInt64
	)
	err := inTx(ctx, func(tx *sql.Tx) error {
		l, err := lockTicket(ctx, tx, id)
		if err != nil {
			return err
		}
		var due bool
		if err := tx.QueryRowContext(ctx, `SELECT status = 'solved' AND solved_at < now() - make_interval(days => $2::integer)
			FROM tickets WHERE id = $1`, id, days).Scan(&due); err != nil {
			return err
		}
		if !due {
			return errNotDue
		}
		if _, err := l.moveTo(ctx, tx, desk, statusClosed); err != nil {
			return err
		}
		if _, err := queueMail(ctx, tx, l, mailClosed, "", ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit (action, ticket_id, detail) VALUES ('autoclose', $1, jsonb_build_object('days', $2::integer))`, id, days); err != nil {
			return err
		}
		panel, opener = l.PanelID, l.OpenerID
		return nil
	})
	if errors.Is(err, errNotDue) || errors.Is(err, errNoTicket) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	publish(ctx, ticketTopic(id), event{Type: "ticket", Ticket: id})
	publish(ctx, panelTopic(panel), event{Type: "ticket", Ticket: id, Panel: panel})
	if opener.Valid {
		publish(ctx, userTopic(opener.Int64), event{Type: "ticket", Ticket: id})
	}
	return true, nil
}

// errNotDue: the ticket changed since autoclose listed it.
var errNotDue = errors.New("not due any more")

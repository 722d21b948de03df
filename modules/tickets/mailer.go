package main

import (
	"context"
	"database/sql"
	"time"

	"github.com/websonic/websonic/sdk"
)

// Sending the outbox (notify.go writes it): sendNow sends the mails that
// are due, right after the change that queued them and from the "mail"
// job every minute. Each mail is claimed before it is sent (attempts+1,
// next_try moved on by the backoff, the row locked with SKIP LOCKED so
// two replicas never take the same one), then marked sent or given the
// relay's error: a crash between the two sends it again at its next try,
// so a mail may arrive twice but is never lost. After maxAttempts the
// desk gives up on it (the row stays, for the owner to see).

func init() {
	sdk.Job("mail", func(ctx context.Context) error {
		for range mailBatchesPerRun {
			n, err := sendNow(ctx)
			if err != nil || n < mailBatch {
				return err
			}
		}
		return nil
	})
}

const (
	// mailBatch is how many mails one sendNow sends at most.
	mailBatch = 5
	// mailBatchesPerRun bounds a run of the job, well within its call
	// deadline even with a slow relay.
	mailBatchesPerRun = 10
	// maxAttempts is how many times a mail is tried (the outbox_due
	// index's bound).
	maxAttempts = 10
	// The wait after a try: a minute after the first, doubling, at most
	// mailBackoffCap.
	mailBackoff    = time.Minute
	mailBackoffCap = 6 * time.Hour
)

// deliver sends one mail through the runtime's mail relay (sdk.SendMail,
// the owner's relay) and returns its message id.
func deliver(ctx context.Context, to, subject, body string) (messageID string, err error) {
	return sdk.SendMail(ctx, sdk.Mail{To: []string{to}, Subject: subject, Text: body, FromName: "Support desk"})
}

// outgoing is a claimed mail.
type outgoing struct {
	id                int64
	to, subject, body string
}

// sendNow sends up to mailBatch due mails, oldest first, and returns how
// many it tried. A relay's refusal is recorded on the mail (last_error),
// not returned: the error is the database's.
func sendNow(ctx context.Context) (int, error) {
	var batch []outgoing
	err := inTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id, to_addr, subject, body FROM outbox
			WHERE sent_at IS NULL AND attempts < $1 AND next_try <= now()
			ORDER BY next_try, id LIMIT $2 FOR UPDATE SKIP LOCKED`, maxAttempts, mailBatch)
		if err != nil {
			return err
		}
		for rows.Next() {
			var m outgoing
			if err := rows.Scan(&m.id, &m.to, &m.subject, &m.body); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, m := range batch {
			// The claim: the next try is the backoff's, whether this one
			// fails or never reports.
			if _, err := tx.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1,
				next_try = now() + make_interval(secs => least($2::double precision * power(2, least(attempts, 20)), $3::double precision))
				WHERE id = $1`, m.id, mailBackoff.Seconds(), mailBackoffCap.Seconds()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, m := range batch {
		id, err := deliver(ctx, m.to, m.subject, m.body)
		if err != nil {
			sdk.Logger().Warn("mail not sent", "outbox", m.id, "error", err)
			_, err = sdk.DB().ExecContext(ctx, `UPDATE outbox SET last_error = left($2, 500) WHERE id = $1`, m.id, err.Error())
		} else {
			_, err = sdk.DB().ExecContext(ctx, `UPDATE outbox SET sent_at = now(), message_id = $2, last_error = NULL
				WHERE id = $1`, m.id, id)
		}
		if err != nil {
			return len(batch), err
		}
	}
	return len(batch), nil
}

// sendSoon sends the mails a change just queued, after its commit; a
// failure is logged and left to the job.
func sendSoon(ctx context.Context) {
	if _, err := sendNow(ctx); err != nil {
		sdk.Logger().Warn("send mail", "error", err)
	}
}

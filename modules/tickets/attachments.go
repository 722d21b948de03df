package main

import (
	"context"
	"database/sql"
	"fmt"
)

// maxAttachmentsPerMessage bounds the files one reply or note carries.
const maxAttachmentsPerMessage = 5

// claimDrafts attaches the uploader's draft attachments ids (uploaded to
// ticket, not yet sent) to the message or the note just written in tx
// (exactly one of message, note is above 0). An id that is not such a
// draft answers 400 and the caller's transaction rolls back.
func claimDrafts(ctx context.Context, tx *sql.Tx, ticket int64, uploader any, ids []int64, message, note int64) error {
	if len(ids) == 0 {
		return nil
	}
	if uploader == nil { // guests attach nothing: nothing ties an upload to them
		return badRequest("Only signed-in people attach files.")
	}
	if len(ids) > maxAttachmentsPerMessage {
		return badRequest(fmt.Sprintf("A message carries at most %d attachments.", maxAttachmentsPerMessage))
	}
	var msg, nt any
	if message > 0 {
		msg = message
	} else {
		nt = note
	}
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] {
			return badRequest("An attachment is listed twice.")
		}
		seen[id] = true
		res, err := tx.ExecContext(ctx, `UPDATE attachments SET message_id = $4, note_id = $5
			WHERE id = $1 AND ticket_id = $2 AND uploader_id IS NOT DISTINCT FROM $3
			  AND message_id IS NULL AND note_id IS NULL`, id, ticket, uploader, msg, nt)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return badRequest(fmt.Sprintf("Attachment %d is not one you uploaded to this ticket, or it was already sent.", id))
		}
	}
	return nil
}

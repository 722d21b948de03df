package main

import (
	"context"
	"time"

	"github.com/websonic/websonic/sdk"
)

// exportedEntry is one guestbook entry in a user's data export.
type exportedEntry struct {
	ID      int64     `json:"id"`
	Message string    `json:"message"`
	At      time.Time `json:"created_at"`
}

// exportBatch is how many entries one read brings: the runtime caps a
// query's result at 4 MiB, and an entry is at most 500 characters.
const exportBatch = 1000

// exportEntries is what the guestbook keeps about userID: the entries they
// wrote. The runtime puts it into the user's export archive as
// modules/hello.json.
func exportEntries(ctx context.Context, userID int64) (any, error) {
	entries := []exportedEntry{}
	for after := int64(0); ; {
		n, err := func() (int, error) {
			rows, err := sdk.DB().QueryContext(ctx, `SELECT id, message, created_at FROM entries
				WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3`, userID, after, exportBatch)
			if err != nil {
				return 0, err
			}
			defer rows.Close()
			n := 0
			for ; rows.Next(); n++ {
				var e exportedEntry
				if err := rows.Scan(&e.ID, &e.Message, &e.At); err != nil {
					return 0, err
				}
				e.At, after = e.At.UTC(), e.ID
				entries = append(entries, e)
			}
			return n, rows.Err()
		}()
		if err != nil {
			return nil, err
		}
		if n < exportBatch {
			return map[string]any{"entries": entries}, nil
		}
	}
}

// eraseEntries deletes the entries userID wrote when their account is
// erased: an entry is its author's words under their name, which no one
// else needs. Deleting what is already gone does nothing, so the runtime
// may call it again (it does when another module's erasure failed).
func eraseEntries(ctx context.Context, userID int64) error {
	_, err := sdk.DB().ExecContext(ctx, `DELETE FROM entries WHERE user_id = $1`, userID)
	return err
}

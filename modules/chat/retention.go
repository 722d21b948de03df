package main

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"time"

	"github.com/websonic/websonic/sdk"
)

// Retention: the nightly job (module.json, schedules "retention") deletes
// the messages older than their room's retention_days, in batches, each
// its own short transaction, so a huge room never holds one long
// transaction (nor locks the room's newest rows: the batches take the
// oldest first). A run stopped by the call's deadline leaves the rest to
// the next night.

func init() {
	sdk.Job("retention", retention)
}

// retentionBatch is how many messages one statement deletes.
const retentionBatch = 2000

func retention(ctx context.Context) error {
	rows, err := sdk.DB().QueryContext(ctx, `SELECT id, retention_days FROM rooms WHERE retention_days IS NOT NULL ORDER BY id`)
	if err != nil {
		return fmt.Errorf("retention: rooms: %w", err)
	}
	type room struct{ id, days int64 }
	var rooms []room
	for rows.Next() {
		var r room
		if err := rows.Scan(&r.id, &r.days); err != nil {
			rows.Close()
			return err
		}
		rooms = append(rooms, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var total int64
	for _, r := range rooms {
		n, err := expireRoom(ctx, r.id, r.days)
		total += n
		if err != nil {
			return fmt.Errorf("retention: room %d: %w (%d messages deleted)", r.id, err, total)
		}
	}
	sdk.Logger().Info("retention", "rooms", len(rooms), "deleted", total, "tick", sdk.JobTick(ctx))
	return nil
}

// expireRoom deletes room's messages older than days, oldest first, a
// batch at a time (their mentions and reactions go with them). Ids grow
// with time, so the first message young enough to stay bounds the walk:
// the job reads the old messages and one more, however large the room.
func expireRoom(ctx context.Context, room, days int64) (int64, error) {
	var (
		cutoff time.Time
		bound  sql.NullInt64
	)
	err := sdk.DB().QueryRowContext(ctx, `SELECT c, (SELECT id FROM messages WHERE room_id = $1 AND created_at >= c ORDER BY id LIMIT 1)
		FROM (SELECT now() - make_interval(days => $2::integer) AS c) t`, room, days).Scan(&cutoff, &bound)
	if err != nil {
		return 0, err
	}
	if !bound.Valid {
		bound.Int64 = math.MaxInt64
	}
	var total int64
	for {
		res, err := sdk.DB().ExecContext(ctx, `DELETE FROM messages WHERE id IN (
			SELECT id FROM messages WHERE room_id = $1 AND id < $2 AND created_at < $3 ORDER BY id LIMIT $4)`,
			room, bound.Int64, cutoff, retentionBatch)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
		if n < retentionBatch {
			return total, nil
		}
	}
}

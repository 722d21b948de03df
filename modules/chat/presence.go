package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/websonic/websonic/sdk"
)

// Presence (API.md, "Presence and profiles"). presence.status is what the
// user chose; presence.last_seen is refreshed by their pages' heartbeats
// (every 30 s on chat.presence) and by choosing a status. The effective
// status is "offline" when they chose it or when nothing of theirs was
// seen for 90 s, else what they chose. presence.announced is the last
// effective status published on chat.presence: a heartbeat or a choice
// that changes it publishes the change (one statement decides, so that two
// pages of the same user never announce it twice), and the job "presence"
// (every minute) publishes the users whose heartbeats stopped.

// Statuses a user may choose.
var presenceStatuses = []string{"online", "away", "dnd", "offline"}

// presenceStale is how long a user stays present without a heartbeat.
const presenceStale = "90 seconds"

// effectivePresence is the SQL of a presence row p's effective status.
const effectivePresence = `CASE WHEN p.status = 'offline' OR p.last_seen < now() - interval '` + presenceStale + `' THEN 'offline' ELSE p.status END`

// maxPresenceAnnounced bounds the offline transitions one job run
// publishes (the next run does the rest).
const maxPresenceAnnounced = 1000

func init() {
	mux.HandleFunc("PUT /chat/api/presence", api(putPresence))
	sdk.Job("presence", presenceJob)
}

func validStatus(s string) bool {
	for _, v := range presenceStatuses {
		if s == v {
			return true
		}
	}
	return false
}

func putPresence(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	var body struct {
		Status string `json:"status"`
	}
	if err := readJSON(r, &body); err != nil {
		return nil, err
	}
	if !validStatus(body.Status) {
		return nil, badRequest("A status is online, away, dnd or offline.")
	}
	return nil, touchPresence(r.Context(), u.ID, body.Status)
}

// presenceMessage receives a page's frame on chat.presence: the
// heartbeat, {"type": "heartbeat"}.
func presenceMessage(ctx context.Context, u *sdk.User, data json.RawMessage) error {
	if err := parsePresenceFrame(data); err != nil {
		return err
	}
	return touchPresence(ctx, u.ID, "")
}

// parsePresenceFrame checks a client's frame on chat.presence.
func parsePresenceFrame(data []byte) error {
	var f struct {
		Type string `json:"type"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil || dec.More() {
		return errors.New(`send {"type": "heartbeat"} on chat.presence`)
	}
	if f.Type != "heartbeat" {
		return errors.New(`send {"type": "heartbeat"} on chat.presence`)
	}
	return nil
}

// touchPresence records that the user is here (and their choice of status,
// unless status is ""), and publishes their effective status when it is
// not the one last announced.
func touchPresence(ctx context.Context, userID int64, status string) error {
	db := sdk.DB()
	var chosen, announced string
	err := db.QueryRowContext(ctx, `
		INSERT INTO presence AS p (user_id, status, last_seen) VALUES ($1, coalesce(nullif($2, ''), 'online'), now())
		ON CONFLICT (user_id) DO UPDATE SET status = coalesce(nullif($2, ''), p.status), last_seen = now()
		RETURNING p.status, p.announced`, userID, status).Scan(&chosen, &announced)
	if err != nil {
		return fmt.Errorf("presence of %d: %w", userID, err)
	}
	if chosen == announced {
		return nil
	}
	// Announce it unless another request did meanwhile, or changed the
	// choice (then that request announces its own).
	res, err := db.ExecContext(ctx, `UPDATE presence SET announced = $2 WHERE user_id = $1 AND announced <> $2 AND status = $2`, userID, chosen)
	if err != nil {
		return fmt.Errorf("presence of %d: %w", userID, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		publishPresence(ctx, userID, chosen)
	}
	return nil
}

func publishPresence(ctx context.Context, userID int64, status string) {
	publish(ctx, topicPresence, map[string]any{"kind": "presence", "user_id": userID, "status": status})
}

// presenceJob publishes the users whose heartbeats stopped: their
// effective status became offline since it was last announced.
func presenceJob(ctx context.Context) error {
	rows, err := sdk.DB().QueryContext(ctx, `
		UPDATE presence SET announced = 'offline'
		WHERE user_id IN (SELECT p.user_id FROM presence p WHERE p.announced <> 'offline' AND `+effectivePresence+` = 'offline'
			LIMIT `+strconv.Itoa(maxPresenceAnnounced)+` FOR UPDATE SKIP LOCKED)
		AND announced <> 'offline' AND (status = 'offline' OR last_seen < now() - interval '`+presenceStale+`')
		RETURNING user_id`)
	if err != nil {
		return fmt.Errorf("presence job: %w", err)
	}
	var gone []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("presence job: %w", err)
		}
		gone = append(gone, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("presence job: %w", err)
	}
	for _, id := range gone {
		publishPresence(ctx, id, "offline")
	}
	return nil
}

// forceOffline announces the user offline at once (banned or kicked: their
// sockets are closed, no heartbeat will come).
func forceOffline(ctx context.Context, userID int64) {
	res, err := sdk.DB().ExecContext(ctx, `
		UPDATE presence SET last_seen = now() - interval '1 day', announced = 'offline'
		WHERE user_id = $1 AND announced <> 'offline'`, userID)
	if err != nil {
		sdk.Logger().Warn("presence offline", "user", userID, "error", err)
		return
	}
	if n, _ := res.RowsAffected(); n == 1 {
		publishPresence(ctx, userID, "offline")
	}
}

// presenceOf is a user's effective status: online, away, dnd or offline
// (offline for a user never seen).
func presenceOf(ctx context.Context, userID int64) (string, error) {
	var s string
	err := sdk.DB().QueryRowContext(ctx, `SELECT `+effectivePresence+` FROM presence p WHERE p.user_id = $1`, userID).Scan(&s)
	if errors.Is(err, sql.ErrNoRows) {
		return "offline", nil
	}
	if err != nil {
		return "", fmt.Errorf("presence of %d: %w", userID, err)
	}
	return s, nil
}

// presenceOfMany is the effective status of each of ids (offline for a
// user never seen): one query per 1000 ids.
func presenceOfMany(ctx context.Context, ids []int64) (map[int64]string, error) {
	out := make(map[int64]string, len(ids))
	for _, id := range ids {
		out[id] = "offline"
	}
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		rows, err := sdk.DB().QueryContext(ctx, `SELECT p.user_id, `+effectivePresence+` FROM presence p WHERE p.user_id = ANY($1::bigint[])`, int64Array(ids[:n]))
		if err != nil {
			return nil, fmt.Errorf("presence: %w", err)
		}
		for rows.Next() {
			var (
				id int64
				s  string
			)
			if err := rows.Scan(&id, &s); err != nil {
				rows.Close()
				return nil, fmt.Errorf("presence: %w", err)
			}
			out[id] = s
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("presence: %w", err)
		}
		ids = ids[n:]
	}
	return out, nil
}

// int64Array is ids as a PostgreSQL array literal ("{1,2,3}"): the SDK's
// driver passes scalars only.
func int64Array(ids []int64) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(id, 10))
	}
	b.WriteByte('}')
	return b.String()
}

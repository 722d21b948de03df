package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

// A member's data (sdk.UserData): the site owner's export gathers what
// every table of the chat keeps about the user, with the texts of their
// private messages opened; erasure deletes all of it, except their
// messages, which stay for the others in the conversation as written by
// "deleted user" (author_id NULL), the way a departed colleague's words
// stay in a company's archive without their name. The others' messages
// that mention them (@username) stay too, the mention made "[deleted
// user]" (sealed texts opened, rewritten and sealed again). The user's id stays in
// the chat's own audit of admin actions (the runtime keeps the id too: it
// means "one erased account", nothing more).

func init() {
	sdk.UserData(exportUser, eraseUser)
}

// exportBatch is how many messages one database read brings (the host
// caps a result at 4 MiB).
const exportBatch = 200

// exportUser is everything the chat keeps about userID.
func exportUser(ctx context.Context, userID int64) (any, error) {
	out := map[string]any{}
	parts := []struct {
		name  string
		query string
		one   bool
	}{
		{"profile", `SELECT json_build_object('display_name', display_name, 'about', about,
			'avatar', avatar IS NOT NULL, 'avatar_type', avatar_type, 'updated_at', updated_at)
			FROM profiles WHERE user_id = $1`, true},
		{"presence", `SELECT json_build_object('status', status, 'last_seen', last_seen) FROM presence WHERE user_id = $1`, true},
		{"memberships", `SELECT json_build_object('room_id', r.id, 'kind', r.kind, 'room', r.name, 'role', m.role,
			'joined_at', m.joined_at, 'last_read_id', m.last_read_id)
			FROM members m JOIN rooms r ON r.id = m.room_id WHERE m.user_id = $1 ORDER BY m.joined_at, r.id`, false},
		{"join_requests", `SELECT json_build_object('id', jr.id, 'room_id', jr.room_id, 'room', r.name, 'state', jr.state,
			'reason', jr.reason, 'created_at', jr.created_at, 'decided_at', jr.decided_at)
			FROM join_requests jr JOIN rooms r ON r.id = jr.room_id WHERE jr.user_id = $1 ORDER BY jr.id`, false},
		{"friends", `SELECT json_build_object('user_id', CASE WHEN f.a = $1 THEN f.b ELSE f.a END, 'username', u.username,
			'since', f.since, 'made_by_an_admin', f.forced_by IS NOT NULL)
			FROM friends f LEFT JOIN websonic_api.users u ON u.id = CASE WHEN f.a = $1 THEN f.b ELSE f.a END
			WHERE f.a = $1 OR f.b = $1 ORDER BY f.since`, false},
		{"friend_requests", `SELECT json_build_object('id', fr.id, 'direction', CASE WHEN fr.from_id = $1 THEN 'sent' ELSE 'received' END,
			'user_id', CASE WHEN fr.from_id = $1 THEN fr.to_id ELSE fr.from_id END, 'username', u.username,
			'state', fr.state, 'created_at', fr.created_at, 'decided_at', fr.decided_at)
			FROM friend_requests fr LEFT JOIN websonic_api.users u ON u.id = CASE WHEN fr.from_id = $1 THEN fr.to_id ELSE fr.from_id END
			WHERE fr.from_id = $1 OR fr.to_id = $1 ORDER BY fr.id`, false},
		// The blocks the user made (who blocked them is the others' own).
		{"blocks", `SELECT json_build_object('user_id', b.blocked, 'username', u.username, 'created_at', b.created_at)
			FROM blocks b LEFT JOIN websonic_api.users u ON u.id = b.blocked WHERE b.blocker = $1 ORDER BY b.created_at`, false},
		{"reactions", `SELECT json_build_object('message_id', message_id, 'emoji', emoji, 'created_at', created_at)
			FROM reactions WHERE user_id = $1 ORDER BY created_at`, false},
		{"mentions", `SELECT json_build_object('message_id', message_id, 'room_id', room_id)
			FROM mentions WHERE user_id = $1 ORDER BY message_id`, false},
		{"admin_actions", `SELECT json_build_object('at', at, 'action', action, 'detail', detail)
			FROM audit WHERE actor_id = $1 ORDER BY id`, false},
	}
	for _, p := range parts {
		docs, err := jsonRows(ctx, p.query, userID)
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", p.name, err)
		}
		switch {
		case !p.one:
			out[p.name] = docs
		case len(docs) > 0:
			out[p.name] = docs[0]
		default:
			out[p.name] = nil
		}
	}
	msgs, err := exportMessages(ctx, userID)
	if err != nil {
		return nil, err
	}
	out["messages"] = msgs
	return out, nil
}

// jsonRows runs a query of one json column and collects the documents.
func jsonRows(ctx context.Context, query string, args ...any) ([]json.RawMessage, error) {
	rows, err := sdk.DB().QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []json.RawMessage{}
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, json.RawMessage(b))
	}
	return out, rows.Err()
}

// exportedMessage is one of the user's messages, its text opened.
type exportedMessage struct {
	ID        int64      `json:"id"`
	RoomID    int64      `json:"room_id"`
	Kind      string     `json:"kind"`
	Room      string     `json:"room"`
	Text      string     `json:"text"`
	CreatedAt time.Time  `json:"created_at"`
	EditedAt  *time.Time `json:"edited_at"`
	Deleted   bool       `json:"deleted"`
}

// exportMessages reads the user's messages, a batch at a time, opening
// the sealed ones.
func exportMessages(ctx context.Context, userID int64) ([]exportedMessage, error) {
	out := []exportedMessage{}
	for after := int64(0); ; {
		rows, err := sdk.DB().QueryContext(ctx, `SELECT m.id, m.room_id, r.kind, r.name, m.body, m.sealed, m.created_at,
				m.edited_at, m.deleted_at IS NOT NULL
			FROM messages m JOIN rooms r ON r.id = m.room_id
			WHERE m.author_id = $1 AND m.id > $2 ORDER BY m.id LIMIT $3`, userID, after, exportBatch)
		if err != nil {
			return nil, fmt.Errorf("export messages: %w", err)
		}
		var (
			batch  []exportedMessage
			sealed [][]byte
		)
		for rows.Next() {
			var (
				m      exportedMessage
				body   sql.NullString
				seal   []byte
				edited sql.NullTime
			)
			if err := rows.Scan(&m.ID, &m.RoomID, &m.Kind, &m.Room, &body, &seal, &m.CreatedAt, &edited, &m.Deleted); err != nil {
				rows.Close()
				return nil, err
			}
			m.Text, m.CreatedAt, m.EditedAt = body.String, m.CreatedAt.UTC(), timePtr(edited)
			batch, sealed = append(batch, m), append(sealed, seal)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		for i := range batch {
			if sealed[i] != nil {
				t, err := sdk.Open(ctx, sealPurpose, sealed[i])
				if err != nil {
					return nil, fmt.Errorf("export: open message %d: %w", batch[i].ID, err)
				}
				batch[i].Text = string(t)
			}
		}
		out = append(out, batch...)
		if len(batch) < exportBatch {
			return out, nil
		}
		after = batch[len(batch)-1].ID
	}
}

// eraseUser deletes what the chat keeps about userID; their messages stay
// for the others, by "deleted user", and the others' mentions of them name
// nobody. Safe to repeat.
func eraseUser(ctx context.Context, userID int64) error {
	tx, err := sdk.DB().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := unmentionUser(ctx, tx, userID); err != nil {
		return fmt.Errorf("erase user %d: mentions: %w", userID, err)
	}
	for _, q := range []string{
		`UPDATE messages SET author_id = NULL WHERE author_id = $1`,
		`UPDATE messages SET deleted_by = NULL WHERE deleted_by = $1`,
		`DELETE FROM mentions WHERE user_id = $1`,
		`DELETE FROM reactions WHERE user_id = $1`,
		`DELETE FROM members WHERE user_id = $1`,
		`DELETE FROM join_requests WHERE user_id = $1`,
		`UPDATE join_requests SET decided_by = NULL WHERE decided_by = $1`,
		`DELETE FROM friend_requests WHERE from_id = $1 OR to_id = $1`,
		`DELETE FROM friends WHERE a = $1 OR b = $1`,
		`UPDATE friends SET forced_by = NULL WHERE forced_by = $1`,
		`DELETE FROM blocks WHERE blocker = $1 OR blocked = $1`,
		`DELETE FROM presence WHERE user_id = $1`,
		`DELETE FROM profiles WHERE user_id = $1`,
		`UPDATE rooms SET created_by = NULL WHERE created_by = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, userID); err != nil {
			return fmt.Errorf("erase user %d: %w", userID, err)
		}
	}
	// A conversation nobody is left in is nobody's: it goes, with its
	// messages.
	if _, err := tx.ExecContext(ctx, `DELETE FROM rooms r WHERE r.kind <> 'room'
		AND NOT EXISTS (SELECT 1 FROM members m WHERE m.room_id = r.id)`); err != nil {
		return fmt.Errorf("erase user %d: empty conversations: %w", userID, err)
	}
	return tx.Commit()
}

// erasedMention replaces a mention of an erased user in the texts that
// stay: it names nobody, and is no mention (parseMentions reads none).
const erasedMention = "[deleted user]"

// unmentionUser rewrites the messages that mention userID by name (while
// the core still knows the name: modules erase first): those with a
// recorded mention, and the room messages whose words hold the name (a
// mention of someone who could not read the room is not recorded; the
// text search's index finds them). Sealed texts are opened, rewritten and
// sealed again.
func unmentionUser(ctx context.Context, tx *sql.Tx, userID int64) error {
	var username string
	err := tx.QueryRowContext(ctx, `SELECT username FROM websonic_api.users WHERE id = $1`, userID).Scan(&username)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // erased already: the names went the first time
	}
	if err != nil {
		return err
	}
	for after := int64(0); ; {
		rows, err := tx.QueryContext(ctx, `SELECT m.id, m.body, m.sealed FROM messages m
			WHERE m.id > $3 AND m.deleted_at IS NULL
			  AND (m.id IN (SELECT message_id FROM mentions WHERE user_id = $1)
			       OR m.tsv @@ plainto_tsquery('simple', $2) AND strpos(lower(m.body), '@' || lower($2)) > 0)
			ORDER BY m.id LIMIT $4`, userID, username, after, exportBatch)
		if err != nil {
			return err
		}
		type text struct {
			id     int64
			body   sql.NullString
			sealed []byte
		}
		var batch []text
		for rows.Next() {
			var m text
			if err := rows.Scan(&m.id, &m.body, &m.sealed); err != nil {
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
			after = m.id
			if m.sealed == nil {
				if out := unmention(m.body.String, username); out != m.body.String {
					if _, err := tx.ExecContext(ctx, `UPDATE messages SET body = $2 WHERE id = $1`, m.id, out); err != nil {
						return err
					}
				}
				continue
			}
			plain, err := sdk.Open(ctx, sealPurpose, m.sealed)
			if err != nil {
				return fmt.Errorf("open message %d: %w", m.id, err)
			}
			out := unmention(string(plain), username)
			if out == string(plain) {
				continue
			}
			sealed, err := sdk.Seal(ctx, sealPurpose, []byte(out))
			if err != nil {
				return fmt.Errorf("seal message %d: %w", m.id, err)
			}
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET sealed = $2 WHERE id = $1`, m.id, sealed); err != nil {
				return err
			}
		}
		if len(batch) < exportBatch {
			return nil
		}
	}
}

// unmention replaces every @mention of username in text (as
// parseMentions reads mentions, case-insensitively, however many) with
// erasedMention.
func unmention(text, username string) string {
	var b strings.Builder
	last := 0 // text[:last] is in b, rewritten
	for i := 0; i < len(text); i++ {
		if text[i] != '@' {
			continue
		}
		if i > 0 {
			prev := text[i-1]
			if i == last {
				prev = erasedMention[len(erasedMention)-1] // what precedes it now
			}
			if usernameByte(prev) || prev == '@' {
				continue
			}
		}
		j := i + 1
		for j < len(text) && usernameByte(text[j]) {
			j++
		}
		name := strings.TrimRight(text[i+1:j], ".")
		if strings.EqualFold(name, username) {
			b.WriteString(text[last:i])
			b.WriteString(erasedMention)
			last = i + 1 + len(name)
		}
		i = j - 1
	}
	if last == 0 {
		return text
	}
	b.WriteString(text[last:])
	return b.String()
}

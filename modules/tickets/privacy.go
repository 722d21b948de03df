package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/websonic/websonic/sdk"
)

// A user's data (sdk.UserData). The export gathers the tickets the user
// opened or takes part in (the ticket rows as their customer sees them,
// with the ratings they gave on their own tickets), the public
// conversation of those tickets, the public messages they wrote on other
// tickets (as staff), the files they uploaded to what they can read, their
// staff groups and the actions they did at the desk. Internal notes are
// never exported (API.md): not their own, not others'; nothing here reads
// the notes table.
//
// Erasure deletes the tickets they opened with everything in them (the
// conversation, notes, files, participants, mails), and anonymises what
// stays for others: their messages and notes on other tickets keep their
// text by "deleted user" (author_id NULL), the events naming them name
// nobody, their uploads kept with a message lose their uploader and their
// unsent drafts go, they leave participants and groups, their tickets lose
// them as assignee, the desk's audit keeps the action without the actor
// (nor their id or name in its details), the mails queued to their
// address are deleted, and the search of a ticket one of theirs was
// merged into is made again without their subject's and fields' words.
// Safe to repeat.

func init() {
	sdk.UserData(exportUser, eraseUser)
}

// exportBatch is how many rows one read brings: the host caps a result
// at 4 MiB, and a message is at most 20,000 characters, up to 80,000
// bytes.
const exportBatch = 40

// userTickets are the tickets userID ($1) opened or takes part in.
const userTickets = `(SELECT id FROM tickets WHERE opener_id = $1
	UNION SELECT ticket_id FROM participants WHERE user_id = $1)`

// exportUser is everything the desk keeps about userID.
func exportUser(ctx context.Context, userID int64) (any, error) {
	parts := []struct{ name, query string }{
		{"tickets", `SELECT t.id, json_build_object('id', t.id, 'panel', p.name, 'subject', t.subject, 'fields', t.fields,
				'status', t.status, 'role', CASE WHEN t.opener_id = $1 THEN 'opener' ELSE 'participant' END,
				'urgency', t.urgency, 'impact', t.impact, 'created_at', t.created_at, 'updated_at', t.updated_at,
				'solved_at', t.solved_at, 'closed_at', t.closed_at, 'merged_into', t.merged_into,
				'rating', CASE WHEN t.opener_id = $1 AND t.rating IS NOT NULL
				          THEN json_build_object('score', t.rating, 'comment', t.rating_comment, 'at', t.rated_at) END)
			FROM tickets t JOIN panels p ON p.id = t.panel_id
			WHERE t.id IN ` + userTickets + ` AND t.id > $2 ORDER BY t.id LIMIT $3`},
		// The public conversation of their tickets, and their own public
		// messages anywhere else.
		{"messages", `SELECT m.id, json_build_object('id', m.id, 'ticket', m.ticket_id, 'kind', m.kind,
				'author', u.username, 'mine', m.author_id IS NOT DISTINCT FROM $1, 'staff', m.staff,
				'body', m.body, 'event', m.event, 'created_at', m.created_at,
				'attachments', (SELECT coalesce(json_agg(json_build_object('id', a.id, 'name', a.name, 'type', a.type, 'size', a.size) ORDER BY a.id), '[]')
				                FROM attachments a WHERE a.message_id = m.id))
			FROM messages m
			LEFT JOIN LATERAL (SELECT x.username FROM websonic_api.users x WHERE x.id = m.author_id LIMIT 1) u ON true
			WHERE (m.ticket_id IN ` + userTickets + ` OR m.author_id = $1) AND m.id > $2 ORDER BY m.id LIMIT $3`},
		// Their unsent drafts (what they sent is listed with its message).
		{"drafts", `SELECT a.id, json_build_object('id', a.id, 'ticket', a.ticket_id, 'name', a.name, 'type', a.type,
				'size', a.size, 'created_at', a.created_at)
			FROM attachments a WHERE a.uploader_id = $1 AND a.message_id IS NULL AND a.note_id IS NULL
			  AND a.id > $2 ORDER BY a.id LIMIT $3`},
		{"groups", `SELECT row_number() OVER (ORDER BY g.name), json_build_object('group', g.name, 'label', g.label, 'added_at', m.added_at)
			FROM group_members m JOIN groups g ON g.name = m.group_name
			WHERE m.user_id = $1 AND $2::bigint >= 0 ORDER BY g.name LIMIT $3`},
		{"canned_replies", `SELECT c.id, json_build_object('id', c.id, 'title', c.title, 'body', c.body, 'updated_at', c.updated_at)
			FROM canned c WHERE c.created_by = $1 AND c.id > $2 ORDER BY c.id LIMIT $3`},
		{"desk_actions", `SELECT a.id, json_build_object('at', a.at, 'action', a.action, 'ticket', a.ticket_id)
			FROM audit a WHERE a.actor_id = $1 AND a.id > $2 ORDER BY a.id LIMIT $3`},
	}
	out := map[string]any{}
	for _, p := range parts {
		docs, err := exportRows(ctx, p.query, userID, p.name == "groups")
		if err != nil {
			return nil, fmt.Errorf("export %s: %w", p.name, err)
		}
		out[p.name] = docs
	}
	return out, nil
}

// exportRows reads query (columns: a key growing with the order, and one
// JSON document; $1 the user, $2 the last key read, $3 the batch's size)
// a batch at a time. once: the query reads all in one batch.
func exportRows(ctx context.Context, query string, userID int64, once bool) ([]json.RawMessage, error) {
	out := []json.RawMessage{}
	limit := exportBatch
	if once {
		limit = 10000
	}
	for after := int64(0); ; {
		rows, err := sdk.DB().QueryContext(ctx, query, userID, after, limit)
		if err != nil {
			return nil, err
		}
		n := 0
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&after, &doc); err != nil {
				rows.Close()
				return nil, err
			}
			out = append(out, json.RawMessage(doc))
			n++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if once || n < limit {
			return out, nil
		}
	}
}

// searchOf is the search of ticket d (tickets.search) made again: the
// subjects and fields of d and of the tickets merged into it (at any
// depth) but those opened by $1, and the public messages and the notes d
// holds (a merge moves them).
const searchOf = `(WITH RECURSIVE src(id) AS (SELECT d.id
		UNION SELECT t.id FROM tickets t JOIN src ON t.merged_into = src.id),
	kept AS (SELECT t.subject, t.fields FROM tickets t WHERE t.id IN (SELECT id FROM src) AND t.opener_id IS DISTINCT FROM $1)
	SELECT to_tsvector('simple', coalesce((SELECT string_agg(subject, ' ') FROM kept), ''))
		|| jsonb_to_tsvector('simple', coalesce((SELECT jsonb_agg(fields) FROM kept), '[]'), '["string", "numeric"]')
		|| coalesce((SELECT to_tsvector('simple', string_agg(m.body, ' ')) FROM messages m WHERE m.ticket_id = d.id AND m.kind = 'reply'), '')
		|| coalesce((SELECT to_tsvector('simple', string_agg(n.body, ' ')) FROM notes n WHERE n.ticket_id = d.id), ''))`

// namesUser is true of an audit detail's entry e that names the user $1
// by id.
const namesUser = `e.key IN ('user', 'to', 'from') AND jsonb_typeof(e.value) = 'number' AND (e.value #>> '{}')::numeric = $1`

// eraseUser deletes or anonymises what the desk keeps about userID.
func eraseUser(ctx context.Context, userID int64) error {
	return inTx(ctx, func(tx *sql.Tx) error {
		var username, email string
		if err := tx.QueryRowContext(ctx, `SELECT coalesce((SELECT username FROM websonic_api.users WHERE id = $1), ''),
			coalesce((SELECT email FROM websonic_api.user_emails WHERE user_id = $1), '')`, userID).Scan(&username, &email); err != nil {
			return fmt.Errorf("erase user %d: %w", userID, err)
		}
		for _, q := range []struct{ what, query string }{
			// A ticket of theirs merged into another left its words in
			// that one's search (and in the tickets that one was merged
			// into): those searches are made again from what stays.
			{"merged tickets' search", `WITH RECURSIVE up(id) AS (
					SELECT merged_into FROM tickets WHERE opener_id = $1 AND merged_into IS NOT NULL
					UNION SELECT t.merged_into FROM tickets t JOIN up ON t.id = up.id WHERE t.merged_into IS NOT NULL)
				UPDATE tickets d SET search = ` + searchOf + `
				WHERE d.id IN (SELECT id FROM up) AND d.opener_id IS DISTINCT FROM $1`},
			// The desk's audit of their tickets goes with the tickets.
			{"their tickets' audit", `DELETE FROM audit WHERE ticket_id IN (SELECT id FROM tickets WHERE opener_id = $1)`},
			{"their tickets", `DELETE FROM tickets WHERE opener_id = $1`},
			{"messages", `UPDATE messages SET author_id = NULL WHERE author_id = $1`},
			{"notes", `UPDATE notes SET author_id = NULL WHERE author_id = $1`},
			{"drafts", `DELETE FROM attachments WHERE uploader_id = $1 AND message_id IS NULL AND note_id IS NULL`},
			{"uploads", `UPDATE attachments SET uploader_id = NULL WHERE uploader_id = $1`},
			{"participants", `DELETE FROM participants WHERE user_id = $1`},
			{"participants added", `UPDATE participants SET added_by = NULL WHERE added_by = $1`},
			{"groups", `DELETE FROM group_members WHERE user_id = $1`},
			{"assignments", `UPDATE tickets SET assignee_id = NULL WHERE assignee_id = $1`},
			{"canned replies", `UPDATE canned SET created_by = NULL WHERE created_by = $1`},
			{"audit", `UPDATE audit SET actor_id = NULL WHERE actor_id = $1`},
			// The audit's details name people by id too: a participant
			// ("user"), an assignee ("to", "from"), a group's member.
			{"audit details' ids", `UPDATE audit SET detail = (SELECT jsonb_object_agg(e.key,
					CASE WHEN ` + namesUser + ` THEN 'null'::jsonb ELSE e.value END)
				FROM jsonb_each(audit.detail) e)
				WHERE jsonb_typeof(detail) = 'object' AND EXISTS (SELECT 1 FROM jsonb_each(detail) e WHERE ` + namesUser + `)`},
		} {
			if _, err := tx.ExecContext(ctx, q.query, userID); err != nil {
				return fmt.Errorf("erase user %d: %s: %w", userID, q.what, err)
			}
		}
		if username != "" {
			// Events name people by username ({"type": "claimed", "user": "bob"}),
			// and so may the audit's details: the name becomes null.
			for _, q := range []struct{ what, query string }{
				{"events", `UPDATE messages SET event = (SELECT jsonb_object_agg(e.key,
						CASE WHEN jsonb_typeof(e.value) = 'string' AND lower(e.value #>> '{}') = lower($1) THEN 'null'::jsonb ELSE e.value END)
					FROM jsonb_each(messages.event) e)
					WHERE kind = 'event' AND jsonb_typeof(event) = 'object'
					  AND EXISTS (SELECT 1 FROM jsonb_each_text(event) e WHERE lower(e.value) = lower($1))`},
				{"audit details", `UPDATE audit SET detail = (SELECT jsonb_object_agg(e.key,
						CASE WHEN jsonb_typeof(e.value) = 'string' AND lower(e.value #>> '{}') = lower($1) THEN 'null'::jsonb ELSE e.value END)
					FROM jsonb_each(audit.detail) e)
					WHERE jsonb_typeof(detail) = 'object'
					  AND EXISTS (SELECT 1 FROM jsonb_each_text(detail) e WHERE lower(e.value) = lower($1))`},
			} {
				if _, err := tx.ExecContext(ctx, q.query, username); err != nil {
					return fmt.Errorf("erase user %d: %s: %w", userID, q.what, err)
				}
			}
		}
		if email != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE lower(to_addr) = lower($1)`, email); err != nil {
				return fmt.Errorf("erase user %d: mails: %w", userID, err)
			}
		}
		return nil
	})
}

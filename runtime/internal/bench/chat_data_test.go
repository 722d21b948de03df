package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The history benchmark's room: how many messages, and what they say.
const (
	chatHistoryMessages = 1_000_000
	// chatVocabulary is how many distinct words the messages draw from:
	// word rank r (1 the most frequent) comes with probability
	// ln((r+1)/r) / ln(chatVocabulary), Zipf-like (log-uniform ranks),
	// from chatCommonWords for the first ranks and "w<rank>" beyond.
	chatVocabulary = 200_000
)

// chatCommonWords are the most frequent words, most frequent first. With
// 3 to 15 words a message (9 on average), the first is in about 40% of the
// messages, the tenth in 4%, the hundredth in 0.6%; "w100000" and beyond
// in a handful each.
var chatCommonWords = strings.Fields(`
	the to and you is it for on we in that this of have be at are with
	can will meeting today just not do so but what about tomorrow please
	thanks ok all if up from customer release team call know one get
	there now new when need time an back by or me my out your was think
	how good update report like go see done ticket our check deploy work
	sure some any week yes no here let sales issue review more fix after
	still did has them also build test order office lunch could
	should friday monday later price demo plan budget client email
	server`)

// fillRoom writes n messages into room roomID, by the authors in turn,
// one every 30 seconds back from now: rows as the module writes them
// (room_id, author_id, body; the identity id, created_at given as the
// module's default would have stamped it, the generated tsv), in one
// INSERT … SELECT generate_series as the superuser, then moves the room's
// last_message_id as the module does and vacuums and analyses the table
// (a table that grew to this size has been, by autovacuum). It returns
// the first and last ids.
func (s *chatSite) fillRoom(b *testing.B, roomID int64, authors []int64, n int) (first, last int64) {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	tx, err := s.super.Begin(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback(ctx)
	for _, q := range []string{
		`SET LOCAL statement_timeout = 0`,
		`SET LOCAL synchronous_commit = off`,
		`SELECT setseed(0.42)`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	err = tx.QueryRow(ctx, `
		WITH ins AS (
			INSERT INTO mod_chat.messages (room_id, author_id, body, created_at)
			SELECT $1, ($2::bigint[])[1 + i % cardinality($2::bigint[])],
				(SELECT string_agg(CASE WHEN r <= cardinality($3::text[]) THEN ($3::text[])[r] ELSE 'w' || r END, ' ')
				   FROM (SELECT floor(exp(random() * ln($4::float8)))::int AS r
				           FROM generate_series(1, 3 + (i * 7) % 13)) w),
				now() - ($5::int - i) * interval '30 seconds'
			FROM generate_series(1, $5::int) AS i
			RETURNING id)
		SELECT min(id), max(id) FROM ins`,
		roomID, authors, chatCommonWords, float64(chatVocabulary), n).Scan(&first, &last)
	if err != nil {
		b.Fatalf("filling the room: %v", err)
	}
	if _, err := tx.Exec(ctx, `UPDATE mod_chat.rooms SET last_message_id = greatest(last_message_id, $2) WHERE id = $1`, roomID, last); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	inserted := time.Since(start)
	if _, err := s.super.Exec(ctx, `VACUUM (ANALYZE) mod_chat.messages`); err != nil {
		b.Fatal(err)
	}
	chatLog("room %d: %d messages written in %v, vacuumed and analysed in %v", roomID, n, inserted.Round(time.Millisecond), (time.Since(start) - inserted).Round(time.Millisecond))
	return first, last
}

// wordHits counts the room's messages that match each query (the
// module's text search: websearch syntax, 'simple' configuration).
func (s *chatSite) wordHits(b *testing.B, roomID int64, queries []string) string {
	b.Helper()
	var parts []string
	for _, q := range queries {
		var n int64
		if err := s.super.QueryRow(context.Background(),
			`SELECT count(*) FROM mod_chat.messages WHERE room_id = $1 AND tsv @@ websearch_to_tsquery('simple', $2)`,
			roomID, q).Scan(&n); err != nil {
			b.Fatal(err)
		}
		parts = append(parts, fmt.Sprintf("%q %d", q, n))
	}
	return strings.Join(parts, ", ")
}

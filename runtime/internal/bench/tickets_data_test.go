package bench

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// ticketsQueueTickets is the size of the queue benchmark's desk.
const ticketsQueueTickets = 100_000

// zipfWords is the SQL of n words (an expression of the enclosing row, so
// PostgreSQL draws them again for each row) from the chat benchmarks'
// Zipf-like vocabulary (chat_data_test.go): rank r comes with probability
// ln((r+1)/r) / ln(chatVocabulary), chatCommonWords for the first ranks,
// "w<rank>" beyond. words and vocab are the parameters holding
// chatCommonWords and chatVocabulary.
func zipfWords(n, words, vocab string) string {
	return fmt.Sprintf(`(SELECT string_agg(CASE WHEN r <= cardinality(%[2]s::text[]) THEN (%[2]s::text[])[r] ELSE 'w' || r END, ' ')
		FROM (SELECT floor(exp(random() * ln(%[3]s::float8)))::int AS r FROM generate_series(1, %[1]s)) w)`, n, words, vocab)
}

// fillDesk writes n tickets into the desk as the module would have left
// them after years of work, in three statements as the superuser (INSERT …
// SELECT generate_series), then vacuums and analyses the tables:
//
//   - panels: Question 30%, Problem 35%, Billing 15% (with an order
//     number in its fields), Sales 10%, Refunds 10% (the finance group's);
//   - statuses: closed 45%, solved 15%, new 8%, open 17%, pending 10%,
//     on_hold 5%; solved and closed tickets opened over two years, the
//     others over the last 30 days (most in the last few), updated up to
//     10 days after opening; ids in the order of opening;
//   - openers: the site's members in turn; assignees: 55% of the tickets
//     answered, among the 10 agents (Refunds: the finance group's 3);
//   - urgency and impact: low 20/30%, medium 60/55%, high 20/15%;
//   - SLA: due times from the panel's targets, the first response within
//     1.3 times its target (some late), pending tickets paused: many
//     active tickets are past due;
//   - 30% of the done tickets rated;
//   - 1 to 5 messages each (1 for new tickets), the opener's first, then
//     staff and opener in turn, of 4 to 23 words from the Zipf vocabulary;
//     subjects of 3 to 8;
//   - the search vector: subject, order number and messages ('simple').
func (s *ticketsSite) fillDesk(b *testing.B, n int) {
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
		`SET LOCAL search_path = mod_tickets`,
		`SELECT setseed(0.12)`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	for _, st := range []struct {
		what string
		sql  string
		args []any
	}{
		{"tickets", `
WITH g AS (
	SELECT i, random() AS rp, random() AS rs, random() AS ra, random() AS ru, random() AS ri,
		random() AS rt, random() AS rd, random() AS rc, random() AS rr
	FROM generate_series(1, $1::int) i),
h AS (
	SELECT g.*, p.id AS panel, p.first_response_minutes AS frm, p.resolution_minutes AS rsm, p.group_name IS NOT NULL AS grouped,
		CASE WHEN rs < 0.45 THEN 'closed' WHEN rs < 0.60 THEN 'solved' WHEN rs < 0.68 THEN 'new'
		     WHEN rs < 0.85 THEN 'open' WHEN rs < 0.95 THEN 'pending' ELSE 'on_hold' END AS st
	FROM g JOIN panels p ON p.id = ($2::bigint[])[CASE WHEN rp < 0.30 THEN 1 WHEN rp < 0.65 THEN 2
		WHEN rp < 0.80 THEN 3 WHEN rp < 0.90 THEN 4 ELSE 5 END]),
k AS (
	SELECT h.*, CASE WHEN st IN ('solved', 'closed') THEN now() - rt * interval '730 days'
	                 ELSE now() - rt * rt * rt * interval '30 days' END AS created
	FROM h),
l AS (
	SELECT k.*, created + rd * least(now() - created, interval '10 days') AS updated FROM k)
INSERT INTO tickets (panel_id, opener_id, subject, fields, status, urgency, impact, assignee_id,
	created_at, updated_at, last_public_at, customer_seen_at, first_response_at, first_response_due, resolution_due,
	paused_at, solved_at, closed_at, rating, rated_at)
SELECT panel, ($3::bigint[])[1 + (i * 7919) % cardinality($3::bigint[])],
	` + zipfWords("3 + i % 6", "$5", "$6") + `,
	CASE WHEN panel = ($2::bigint[])[3] THEN jsonb_build_object('order', 'A-' || i) ELSE '{}' END,
	st,
	CASE WHEN ru < 0.2 THEN 1 WHEN ru < 0.8 THEN 2 ELSE 3 END,
	CASE WHEN ri < 0.3 THEN 1 WHEN ri < 0.85 THEN 2 ELSE 3 END,
	CASE WHEN st = 'new' OR ra >= 0.55 THEN NULL WHEN grouped THEN ($4::bigint[])[8 + i % 3]
	     ELSE ($4::bigint[])[1 + i % 10] END,
	created, updated, updated, updated,
	CASE WHEN st <> 'new' THEN created + rc * frm * 1.3 * interval '1 minute' END,
	created + frm * interval '1 minute', created + rsm * interval '1 minute',
	CASE WHEN st = 'pending' THEN updated END,
	CASE WHEN st IN ('solved', 'closed') THEN updated END,
	CASE WHEN st = 'closed' THEN updated END,
	CASE WHEN st IN ('solved', 'closed') AND rr < 0.3 THEN 1 + (i % 5) END,
	CASE WHEN st IN ('solved', 'closed') AND rr < 0.3 THEN updated END
FROM l ORDER BY created`, []any{n, s.panels, s.members, s.agentIDs(), chatCommonWords, float64(chatVocabulary)}},
		{"messages", `
INSERT INTO messages (ticket_id, kind, author_id, staff, body, created_at)
SELECT t.id, 'reply', CASE WHEN k % 2 = 1 THEN t.opener_id ELSE coalesce(t.assignee_id, $1) END, k % 2 = 0,
	` + zipfWords("4 + (t.id * 13 + k * 7) % 20", "$2", "$3") + `,
	t.created_at + (k - 1) * (t.updated_at - t.created_at) / 5
FROM tickets t CROSS JOIN LATERAL generate_series(1, CASE WHEN t.status = 'new' THEN 1 ELSE 1 + (t.id * 7) % 5 END) k
ORDER BY t.id, k`, []any{s.agents[0].ID, chatCommonWords, float64(chatVocabulary)}},
		{"search vectors", `
UPDATE tickets t SET search = to_tsvector('simple', t.subject || ' ' || coalesce(t.fields->>'order', '') || ' ' || m.text)
FROM (SELECT ticket_id, string_agg(body, ' ' ORDER BY id) AS text FROM messages GROUP BY ticket_id) m
WHERE m.ticket_id = t.id`, nil},
	} {
		if _, err := tx.Exec(ctx, st.sql, st.args...); err != nil {
			b.Fatalf("filling the desk, %s: %v", st.what, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		b.Fatal(err)
	}
	inserted := time.Since(start)
	for _, t := range []string{"tickets", "messages"} {
		if _, err := s.super.Exec(ctx, `VACUUM (ANALYZE) mod_tickets.`+t); err != nil {
			b.Fatal(err)
		}
	}
	var counts []string
	for _, c := range []struct{ name, where string }{
		{"tickets", "true"},
		{"active", "status IN ('new', 'open', 'pending', 'on_hold')"},
		{"overdue", "next_due < now() AND paused_at IS NULL"},
		{"assigned to the viewer", fmt.Sprintf("assignee_id = %d", s.agents[0].ID)},
		{"active and the viewer's", fmt.Sprintf("assignee_id = %d AND status IN ('new', 'open', 'pending', 'on_hold')", s.agents[0].ID)},
		{"in Refunds (not the viewer's panel)", fmt.Sprintf("panel_id = %d", s.refundsPanel)},
	} {
		var k int64
		if err := s.super.QueryRow(ctx, `SELECT count(*) FROM mod_tickets.tickets WHERE `+c.where).Scan(&k); err != nil {
			b.Fatal(err)
		}
		counts = append(counts, fmt.Sprintf("%s %d", c.name, k))
	}
	var msgs int64
	if err := s.super.QueryRow(ctx, `SELECT count(*) FROM mod_tickets.messages`).Scan(&msgs); err != nil {
		b.Fatal(err)
	}
	ticketsLog("desk: %s; %d messages; written in %v, vacuumed and analysed in %v", strings.Join(counts, ", "), msgs,
		inserted.Round(time.Millisecond), (time.Since(start) - inserted).Round(time.Millisecond))
}

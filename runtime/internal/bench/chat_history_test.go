package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"

	coresite "github.com/websonic/websonic/runtime/internal/site"
)

// chatReaders is how many clients read history and search at once: as
// many as the module has instances (2 per core), so that the latencies
// are those of a busy site, not of a queue.
const chatReaders = instancesPerCore * 2

// Search queries of BenchmarkChatHistory (see chatCommonWords for how
// often each word comes): common words, then rarer ones, then words that
// match a handful of messages or none.
var (
	chatCommonQueries = []string{"the", "meeting", "you", "meeting today", "thanks"}
	chatRareQueries   = []string{"w1000", "w150001", "w99999", "zanzibar", "deploy w5000"}
)

// BenchmarkChatHistory: a room of 1,000,000 messages (chatHistoryMessages;
// fillRoom writes them straight into the module's table as the module
// writes them), read through the chat module by a signed-in member.
//
// page/…: GET /chat/api/rooms/ID/messages?before=N, pages of 50 by
// cursor at 1,000 random depths (N uniform over the room's ids).
// search/…: GET /chat/api/search?q=…, the newest page of results for a
// mix of common and rare words (search-common, search-rare: each class
// alone). module goes through the module host (modhost, as the runtime
// mounts it) with the user in the request's context; fullstack through
// the runtime's whole handler with the user's session cookie; native is
// the baseline, the module's own SQL run natively through pgx by a Go
// handler on the same router (chatNative), so that the ratio is the
// module's overhead. 4 clients at once.
//
// Before measuring, the benchmark checks that the module and the native
// handler answer the same JSON, and logs the plans (EXPLAIN ANALYZE, as
// the module's role) of the module's queries.
func BenchmarkChatHistory(b *testing.B) {
	n := chatHistoryMessages
	if smokeRun() {
		n = 3000
	}
	s := newChatSite(b)
	admin, _ := s.signIn(b, "bench_admin", coresite.RoleAdmin)
	room := s.newRoom(b, admin, "History")
	readerClient, reader := s.signIn(b, "historian", coresite.RoleMember)
	var authors []int64
	for i := range 5 {
		authors = append(authors, s.user(b, fmt.Sprintf("author%d", i+1), coresite.RoleMember).ID)
	}
	first, last := s.fillRoom(b, room.ID, authors, n)
	nat := s.newChatNative()
	_, base := s.chatRouter(b, reader, nat.routes())

	rng := rand.New(rand.NewPCG(11, 1))
	var pages []string
	for range 1000 {
		pages = append(pages, fmt.Sprintf("/chat/api/rooms/%d/messages?before=%d", room.ID, first+50+rng.Int64N(last-first-49)))
	}
	searches := func(qs []string) []string {
		var out []string
		for _, q := range qs {
			out = append(out, "/chat/api/search?q="+url.QueryEscape(q))
		}
		return out
	}
	common, rare := searches(chatCommonQueries), searches(chatRareQueries)
	mix := interleave(common, rare)
	prefixed := func(prefix string, paths []string) []string {
		out := make([]string, len(paths))
		for i, p := range paths {
			out[i] = prefix + p
		}
		return out
	}

	// Same answers, both ways.
	for _, p := range append(append([]string{fmt.Sprintf("/chat/api/rooms/%d/messages", room.ID)}, pages[:5]...), mix...) {
		sameJSON(b, p, fetch(b, http.DefaultClient, base+"/native"+p), fetch(b, http.DefaultClient, base+p))
	}
	chatLog("search hits in the room: %s", s.wordHits(b, room.ID, append(append([]string{}, chatCommonQueries...), chatRareQueries...)))
	s.logChatPlans(b, room.ID, reader, (first+last)/2)

	for _, c := range []struct {
		name  string
		paths []string
	}{
		{"page", pages},
		{"search", mix},
		{"search-common", common},
		{"search-rare", rare},
	} {
		native := prefixed(base+"/native", c.paths)
		b.Run(c.name+"/native", func(b *testing.B) {
			measure(b, newLoadgenN(b, chatReaders, nil), native)
		})
		b.Run(c.name+"/module", func(b *testing.B) {
			measurePair(b, newLoadgenN(b, chatReaders, nil), native, prefixed(base, c.paths), "module/native")
		})
		if c.name == "page" || c.name == "search" {
			b.Run(c.name+"/fullstack", func(b *testing.B) {
				measurePair(b, newLoadgenN(b, chatReaders, readerClient.Jar), native, prefixed(s.URL, c.paths), "full/native")
			})
		}
	}
}

// chatLog prints a line of the chat benchmarks' findings (plans, data
// sizes) on the benchmark's output, whatever -test.v says (a benchmark
// with sub-benchmarks shows its own b.Log only with -test.v).
func chatLog(format string, args ...any) {
	fmt.Printf("chat: "+format+"\n", args...)
}

// interleave alternates the elements of a and b (the rest of the longer
// at the end).
func interleave(a, b []string) []string {
	var out []string
	for i := range max(len(a), len(b)) {
		if i < len(a) {
			out = append(out, a[i])
		}
		if i < len(b) {
			out = append(out, b[i])
		}
	}
	return out
}

// logChatPlans logs EXPLAIN (ANALYZE, BUFFERS) of the module's history
// and search queries (chatNative's copies), run as the module's role with
// the values a request would bind: a page at depth before, and the
// search's queries for a common and a rare word. Each query runs once
// before it is explained (a warm cache, as in the benchmark).
func (s *chatSite) logChatPlans(b *testing.B, roomID int64, u *coresite.User, before int64) {
	b.Helper()
	for _, p := range []struct {
		name string
		sql  string
		args []any
	}{
		{"history page (messages.go: messageSelect + history's clause), before=" + fmt.Sprint(before),
			nativeMessageSelect + nativeHistoryClause, []any{u.ID, roomID, before, 51}},
		{"history's room check (rooms.go: loadRoom)", nativeRoomQuery, []any{roomID, u.ID}},
		{`search, rooms (search.go: searchRooms), q="the"`, nativeSearchRooms, []any{"the", int64(1) << 62, false, u.ID, 51}},
		{`search, rooms (search.go: searchRooms), q="meeting today"`, nativeSearchRooms, []any{"meeting today", int64(1) << 62, false, u.ID, 51}},
		{`search, rooms (search.go: searchRooms), q="w150001"`, nativeSearchRooms, []any{"w150001", int64(1) << 62, false, u.ID, 51}},
		{`search, rooms (search.go: searchRooms), q="zanzibar" (no match)`, nativeSearchRooms, []any{"zanzibar", int64(1) << 62, false, u.ID, 51}},
		{"search, private window (search.go: searchPrivate's floor)", nativeSearchFloor, []any{u.ID, 1000}},
		{"search, private batch (search.go: searchPrivate)", nativeSearchBatch, []any{u.ID, int64(1) << 62, int64(0), 100}},
	} {
		chatLog("plan of the %s:\n%s", p.name, s.explain(b, p.sql, p.args...))
	}
}

// explain runs sql once as the module's role, then returns its EXPLAIN
// (ANALYZE, BUFFERS), indented.
func (s *chatSite) explain(b *testing.B, sql string, args ...any) string {
	b.Helper()
	ctx := context.Background()
	rows, err := s.native.Query(ctx, sql, args...)
	if err != nil {
		b.Fatal(err)
	}
	rows.Close()
	rows, err = s.native.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+sql, args...)
	if err != nil {
		b.Fatal(err)
	}
	var lines []string
	for rows.Next() {
		var l string
		if err := rows.Scan(&l); err != nil {
			b.Fatal(err)
		}
		lines = append(lines, "    "+l)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

package bench

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

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
// writes them) by the site's 2,000 employees (siteMembers), read
// through the chat module by a signed-in member.
//
// page/…: GET /chat/api/rooms/ID/messages?before=N, pages of 50 by
// cursor at 1,000 random depths (N uniform over the room's ids);
// page-1client: the same, one client at a time. search/…: GET
// /chat/api/search?q=…, the newest page of results for a mix of common
// and rare words (search-common, search-rare: each class alone). module
// goes through the module host (modhost, as the runtime mounts it) with
// the user in the request's context; fullstack through the runtime's
// whole handler with the user's session cookie; native is the baseline,
// the module's own SQL run natively through pgx by a Go handler on the
// same router (chatNative), so that the ratio is the module's overhead.
// 4 clients at once unless said.
//
// Before measuring, the benchmark checks that the module and the native
// handler answer the same JSON and that the module's migrations made its
// index for the private search (messages_sealed), and logs the plans
// (EXPLAIN ANALYZE, as the module's role, see explain) of the module's
// queries, the generic plans of its search, and each search query's time
// one request at a time.
func BenchmarkChatHistory(b *testing.B) {
	n := chatHistoryMessages
	if smokeRun() {
		n = 3000
	}
	s := newChatSite(b)
	admin, _ := s.signIn(b, "bench_admin", coresite.RoleAdmin)
	room := s.newRoom(b, admin, "History")
	readerClient, reader := s.signIn(b, "historian", coresite.RoleMember)
	first, last := s.fillRoom(b, room.ID, s.members, n)
	_, base := s.chatRouter(b, reader, map[string]http.Handler{"/native": s.newChatNative().routes()})
	s.requireIndex(b, "messages_sealed")

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
	logQueryTimes(b, base, interleave(chatCommonQueries, chatRareQueries))

	for _, c := range []struct {
		name  string
		paths []string
	}{
		{"page", pages},
		{"page-1client", pages},
		{"search", mix},
		{"search-common", common},
		{"search-rare", rare},
	} {
		native := prefixed(base+"/native", c.paths)
		clients := chatReaders
		if c.name == "page-1client" {
			clients = 1
		}
		b.Run(c.name+"/native", func(b *testing.B) {
			measure(b, newLoadgenN(b, clients, nil), native)
		})
		b.Run(c.name+"/module", func(b *testing.B) {
			measurePair(b, newLoadgenN(b, clients, nil), native, prefixed(base, c.paths), "module/native")
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
// search's queries for common and rare words (see explain).
func (s *chatSite) logChatPlans(b *testing.B, roomID int64, u *coresite.User, before int64) {
	b.Helper()
	for _, p := range []chatPlan{
		{name: "history page (messages.go: messageSelect + history's clause), before=" + fmt.Sprint(before),
			sql: nativeMessageSelect + nativeHistoryClause, args: []any{u.ID, roomID, before, 51}},
		{name: "history's room check (rooms.go: loadRoom)", sql: nativeRoomQuery, args: []any{roomID, u.ID}},
		searchPlan(`search, rooms (search.go: searchRooms), q="the"`, nativeSearchRooms, "the", u),
		searchPlan(`search, rooms (search.go: searchRooms), q="meeting"`, nativeSearchRooms, "meeting", u),
		searchPlan(`search, rooms (search.go: searchRooms), q="w1000"`, nativeSearchRooms, "w1000", u),
		searchPlan(`search, rooms (search.go: searchRooms), q="meeting today"`, nativeSearchRooms, "meeting today", u),
		searchPlan(`search, rooms (search.go: searchRooms), q="w150001"`, nativeSearchRooms, "w150001", u),
		searchPlan(`search, rooms (search.go: searchRooms), q="zanzibar" (no match)`, nativeSearchRooms, "zanzibar", u),
		genericPlan(searchPlan(`search, rooms (search.go: searchRooms), q="the", its generic plan`, nativeSearchRooms, "the", u)),
		genericPlan(searchPlan(`search, rooms (search.go: searchRooms), q="w150001", its generic plan`, nativeSearchRooms, "w150001", u)),
		{name: "search, private window (search.go: searchPrivate's floor)", sql: nativeSearchFloor, args: []any{u.ID, 1000}},
		{name: "search, private batch (search.go: searchPrivate)", sql: nativeSearchBatch, args: []any{u.ID, int64(math.MaxInt64), int64(0), 100}},
		{name: "search, room names (search.go: nameRooms)", sql: nativeNameRooms, args: []any{strconv.FormatInt(roomID, 10), u.ID, "deleted user"}},
	} {
		chatLog("plan of the %s:\n%s", p.name, s.explain(b, p.sql, p.warm, p.generic, p.args...))
	}
}

// chatPlan is a query whose plan the benchmark logs: with args, after
// runs with warm (nil: args again).
type chatPlan struct {
	name string
	sql  string
	args []any
	warm [][]any
	// generic forces the generic plan (plan_cache_mode), the one
	// PostgreSQL switches to when it deems it no worse on average.
	generic bool
}

// searchPlan is the plan of searchRooms for q, as
// u with no cursor, after a run of every query of the benchmark's mix.
func searchPlan(name, sql, q string, u *coresite.User) chatPlan {
	args := func(q string) []any { return []any{q, int64(math.MaxInt64), false, u.ID, 51} }
	var warm [][]any
	for _, w := range interleave(chatCommonQueries, chatRareQueries) {
		warm = append(warm, args(w))
	}
	return chatPlan{name: name + " (after the benchmark's 10 queries)", sql: sql, args: args(q), warm: warm}
}

// genericPlan is p with its generic plan forced.
func genericPlan(p chatPlan) chatPlan { p.generic = true; return p }

// logQueryTimes logs, for each search query, the median time of 5 GETs
// through the module and through the native handler (paths under base,
// then base+"/native"), one at a time.
func logQueryTimes(b *testing.B, base string, queries []string) {
	b.Helper()
	median := func(u string) time.Duration {
		var ds []time.Duration
		for range 5 {
			t0 := time.Now()
			fetch(b, http.DefaultClient, u)
			ds = append(ds, time.Since(t0))
		}
		slices.Sort(ds)
		return ds[2]
	}
	var lines []string
	for _, q := range queries {
		p := "/chat/api/search?q=" + url.QueryEscape(q)
		lines = append(lines, fmt.Sprintf("    %-16q module %8.2f ms   native %6.2f ms", q, ms(median(base+p)), ms(median(base+"/native"+p))))
	}
	chatLog("search time by query, one request at a time (median of 5):\n%s", strings.Join(lines, "\n"))
}

// explain returns the plan PostgreSQL runs sql with (EXPLAIN (ANALYZE,
// BUFFERS), indented) as the module's role, in the module's situation: a
// statement prepared on a connection and run again and again (the SDK's
// queries go through pgx's statement cache), so that after its fifth run
// PostgreSQL may switch to a generic plan, made without the parameters'
// values. It says which kind of plan it shows.
//
// warm, when given, are the arguments of the runs before (the search's
// statement serves every query: PostgreSQL decides from their costs).
func (s *moduleSite) explain(b *testing.B, sql string, warm [][]any, generic bool, args ...any) string {
	b.Helper()
	ctx := context.Background()
	conn, err := s.native.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	const name = "chatbench_plan"
	if _, err := conn.Conn().Prepare(ctx, name, sql); err != nil {
		b.Fatal(err)
	}
	defer conn.Conn().Deallocate(ctx, name)
	if warm == nil {
		warm = [][]any{args, args, args, args, args, args}
	}
	for _, w := range warm {
		rows, err := conn.Query(ctx, name, w...)
		if err != nil {
			b.Fatal(err)
		}
		rows.Close()
	}
	lits := make([]string, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			lits[i] = "'" + strings.ReplaceAll(v, "'", "''") + "'"
		default:
			lits[i] = fmt.Sprint(v)
		}
	}
	if generic {
		if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
			b.Fatal(err)
		}
		defer conn.Exec(ctx, `RESET plan_cache_mode`)
	}
	rows, err := conn.Query(ctx, "EXPLAIN (ANALYZE, BUFFERS) EXECUTE "+name+"("+strings.Join(lits, ", ")+")")
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
	genericOnly := generic
	var generics, custom int64
	if err := conn.QueryRow(ctx, `SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1`, name).
		Scan(&generics, &custom); err != nil {
		b.Fatal(err)
	}
	kind := "custom plan (for these values)"
	switch {
	case genericOnly:
		kind = "generic plan (for any values), forced"
	case generics > 0:
		kind = "generic plan (for any values)"
	}
	return fmt.Sprintf("    -- run %d of the prepared statement: a %s; %d generic and %d custom plans so far\n", len(warm)+1, kind, generics, custom) +
		strings.Join(lines, "\n")
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/internal/safetmpl"
	"github.com/websonic/websonic/modules/internal/sentences"
	"github.com/websonic/websonic/sdk/manifest"
)

// The page's texts: chat.js reads every text it shows from the page
// (#chat-i18n, rendered with t in the visitor's language), and every text
// of the module has its French. These tests read the files as shipped.

var (
	jsKey   = regexp.MustCompile(`\bT\("((?:[^"\\]|\\.)*)"`)
	tmplKey = regexp.MustCompile(`\{\{-?\s*t\s+"((?:[^"\\]|\\.)*)"`)
)

func readAsset(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(path.Join("assets", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// templates reads every page template of the module, by name.
func templates(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := fs.WalkDir(os.DirFS("assets"), "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".html" {
			return err
		}
		b, err := os.ReadFile(path.Join("assets", p))
		files[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func unquote(t *testing.T, s string) string {
	t.Helper()
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return out
}

var update = flag.Bool("update", false, "rewrite the texts blocks (#chat-i18n, #chat-errors) of assets/templates/chat.html")

// scriptKeys are the texts chat.js shows: its T("…") keys.
func scriptKeys(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range jsKey.FindAllStringSubmatch(readAsset(t, "chat.js"), -1) {
		seen[unquote(t, m[1])] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// apiSentences are the API's error sentences written in the module's Go
// code and in the jsonapi helpers it answers with (sentences.Extract):
// the argument of badRequest, forbidden, notFound, conflict and tooLarge,
// the message of an apiError literal, the "error" of a map literal, the
// field names checkProfileText puts in its sentences, and otherNamed's
// sentence for oneself.
func apiSentences(t *testing.T) []string {
	t.Helper()
	rules := sentences.JSONAPI().With(map[string]int{
		"badRequest": 0, "forbidden": 0, "notFound": 0, "conflict": 0, "tooLarge": 0,
		"checkProfileText": 0, "otherNamed": 2,
	}, "apiError")
	out, err := sentences.Extract([]string{".", "../internal/jsonapi"}, rules)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// textsBlock is the body of a JSON script element of chat.html giving
// each key its text in the page's language.
func textsBlock(keys []string) string {
	lines := make([]string, len(keys))
	for i, k := range keys {
		j, _ := json.Marshal(k)
		lines[i] = fmt.Sprintf("%s: {{t %s}}", j, strconv.Quote(k))
	}
	return "{\n" + strings.Join(lines, ",\n") + "\n}"
}

// TestPageTextBlocks: chat.html hands chat.js every text it shows
// (#chat-i18n) and the API's error sentences (#chat-errors), each through
// t, so that the script speaks the page's language without a copy per
// language. go test -run TestPageTextBlocks -update rewrites both blocks.
func TestPageTextBlocks(t *testing.T) {
	page := readAsset(t, "templates/chat.html")
	got := page
	for _, b := range []struct {
		id   string
		keys []string
	}{{"chat-i18n", scriptKeys(t)}, {"chat-errors", apiSentences(t)}} {
		if len(b.keys) == 0 {
			t.Fatalf("no keys for #%s", b.id)
		}
		open := `<script type="application/json" id="` + b.id + `">`
		i := strings.Index(got, open)
		j := strings.Index(got[i+len(open):], "</script>")
		if i < 0 || j < 0 {
			t.Fatalf("chat.html has no %s…</script>", open)
		}
		got = got[:i+len(open)] + textsBlock(b.keys) + got[i+len(open)+j:]
	}
	if got == page {
		return
	}
	if *update {
		if err := os.WriteFile(filepath.Join("assets", "templates", "chat.html"), []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("chat.html's #chat-i18n or #chat-errors does not give the texts of chat.js and the API: run go test -run TestPageTextBlocks -update")
}

// dynamicKeys are texts that templates translate from their data ({{t
// .Error}}): literals of the module's Go code, by file.
var dynamicKeys = map[string]string{
	"The decision could not be saved; try again.": "requestspage.go",
	// the audit detail's field names (auditLabels)
	"user": "moderation.go", "author": "moderation.go", "room": "moderation.go", "name": "moderation.go",
	"seconds": "moderation.go", "until": "moderation.go", "reason": "moderation.go", "generated": "moderation.go",
	"role": "moderation.go", "connections closed": "moderation.go", "via": "moderation.go",
}

// TestDynamicKeys: each of dynamicKeys is still written in its file.
func TestDynamicKeys(t *testing.T) {
	for k, file := range dynamicKeys {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte(strconv.Quote(k))) {
			t.Errorf("%s no longer writes %q: remove it from dynamicKeys (and fr.json)", file, k)
		}
	}
}

// TestFrenchCatalogue: every text of the templates, of chat.js and of
// module.json (the admin area's labels and descriptions) has a French
// translation with the same {placeholders}, and the catalogue holds
// nothing else.
func TestFrenchCatalogue(t *testing.T) {
	var fr map[string]string
	if err := json.Unmarshal([]byte(readAsset(t, "locales/fr.json")), &fr); err != nil {
		t.Fatalf("fr.json: %v", err)
	}
	keys := map[string]string{} // key -> where
	for name, src := range templates(t) {
		for _, m := range tmplKey.FindAllStringSubmatch(string(src), -1) {
			keys[unquote(t, m[1])] = name
		}
	}
	for _, m := range jsKey.FindAllStringSubmatch(readAsset(t, "chat.js"), -1) {
		keys[unquote(t, m[1])] = "chat.js"
	}
	b, err := os.ReadFile("module.json")
	if err != nil {
		t.Fatal(err)
	}
	var mf manifest.Manifest
	if err := json.Unmarshal(b, &mf); err != nil {
		t.Fatal(err)
	}
	c := mf.Capabilities
	keys[mf.Description] = "module.json"
	for _, n := range c.Nav {
		keys[n.Label] = "module.json"
	}
	for _, p := range c.AdminPages {
		keys[p.Label] = "module.json"
	}
	for _, s := range c.ConfigSchema {
		keys[s.Description] = "module.json"
	}
	for _, cmd := range c.AdminCommands {
		keys[cmd.Description] = "module.json"
		for _, a := range cmd.Args {
			keys[a.Description] = "module.json"
		}
	}
	for k, where := range dynamicKeys {
		keys[k] = where
	}
	delete(keys, "")
	placeholders := regexp.MustCompile(`\{[a-z_]+\}`)
	for k, where := range keys {
		v, ok := fr[k]
		if !ok {
			t.Errorf("%s: %q has no French", where, k)
			continue
		}
		a, b := placeholders.FindAllString(k, -1), placeholders.FindAllString(v, -1)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("%q: the French %q has placeholders %v, not %v", k, v, b, a)
		}
	}
	for k := range fr {
		if _, ok := keys[k]; !ok {
			t.Errorf("fr.json translates %q, which nothing shows", k)
		}
	}
}

// renderPage renders chat.html as the runtime does, in lang.
func renderPage(t *testing.T, d pageData, lang string) string {
	t.Helper()
	return renderTemplate(t, "chat.html", d, lang)
}

// renderTemplate renders the template name with data d as the runtime
// does, in lang.
func renderTemplate(t *testing.T, name string, d any, lang string) string {
	t.Helper()
	pages, err := safetmpl.ParsePages(templates(t))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.Parse(map[string][]byte{"fr.json": []byte(readAsset(t, "locales/fr.json"))})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = pages.Render(&out, name, data, safetmpl.Env{
		Printer: cat.Printer(lang),
		Asset: func(p string) (string, error) {
			if _, err := os.Stat(path.Join("assets", p)); err != nil {
				return "", err
			}
			return "/static/modules/chat/test/" + p, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

var jsonScript = regexp.MustCompile(`(?s)<script type="application/json" id="([a-z0-9-]+)">(.*?)</script>`)

// scripts returns the page's JSON script elements, decoded, by id.
func scripts(t *testing.T, page string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, m := range jsonScript.FindAllStringSubmatch(page, -1) {
		var v map[string]any
		if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
			t.Fatalf("#%s is not JSON (%v):\n%s", m[1], err, m[2])
		}
		out[m[1]] = v
	}
	return out
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// TestPageRenders renders the page with a room open and a hostile
// message: the first paint shows the rooms, badges and messages, the
// script gets the same state and its texts as JSON, people's text stays
// text, and the French page is French.
func TestPageRenders(t *testing.T) {
	const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)></script><!--`
	next := int64(40)
	d := pageData{
		Me: raw(`{"user":{"id":7,"username":"ada","display_name":"Ada Lovelace"},"admin":true,"presence":"away"}`),
		Rooms: []json.RawMessage{
			raw(`{"id":1,"kind":"room","name":"General","topic":"Everyone","policy":"everyone","archived":false,"member":true,"request":null,"unread":0,"mentions":0,"last_message_id":91}`),
			raw(`{"id":2,"kind":"room","name":"Sales","topic":"","policy":"request","archived":false,"member":true,"request":null,"unread":150,"mentions":2,"last_message_id":80}`),
			raw(`{"id":3,"kind":"room","name":"Engineering","topic":"","policy":"request","archived":false,"member":false,"request":"pending","unread":0,"mentions":0,"last_message_id":0}`),
			raw(`{"id":4,"kind":"dm","name":"Bob <b>","topic":"","policy":"invite","archived":false,"member":true,"request":null,"unread":3,"mentions":0,"last_message_id":70,"members":[{"id":7,"username":"ada","display_name":"Ada Lovelace"},{"id":8,"username":"bob","display_name":"Bob <b>"}]}`),
		},
		RoomID: 1, Readable: true, Next: &next, View: "room",
		Room: raw(`{"id":1,"kind":"room","name":"General","topic":"Everyone","policy":"everyone","archived":false,"member":true}`),
		Messages: []json.RawMessage{
			raw(`{"id":90,"room_id":1,"author":{"id":8,"username":"bob","display_name":"Bob <b>"},"text":` + string(must(json.Marshal(hostile))) + `,"created_at":"2030-01-02T03:04:05Z","edited_at":null,"deleted":false,"mentions":[],"reactions":[{"emoji":"👍","count":2,"mine":true}]}`),
			raw(`{"id":91,"room_id":1,"author":{"id":0,"username":"","display_name":"deleted user"},"text":"","created_at":"2030-01-02T03:05:00.123456Z","edited_at":null,"deleted":true,"mentions":[],"reactions":[]}`),
		},
		HasConvs: true, HasJoinable: true,
		Avatars: map[string]avatarStandIn{"7": {"AL", 7}, "8": {"B<", 0}},
	}
	en := renderPage(t, d, "en")
	for _, want := range []string{
		`<div id="chat" class="chat" data-view="room">`,
		`href="/chat/rooms/1" data-room="1" aria-current="page"`,
		`<span class="chat-room-name">Sales</span><span class="chat-badge mention" title="Mentions you">@2`,
		`<span class="chat-badge">99+<span class="chat-sr"> unread</span></span>`,
		`<span class="chat-room-name">Engineering</span></a><span class="chat-state">Requested</span>`,
		`<span class="chat-room-name">Bob &lt;b&gt;</span>`,
		`<option value="away" selected>Away</option>`,
		`<p class="chat-msg-text" dir="auto">&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;&lt;/script&gt;&lt;!--</p>`,
		`<time datetime="2030-01-02T03:04:05Z">03:04</time>`,
		`<strong class="chat-author">deleted user</strong>`,
		`<p class="chat-msg-text chat-gone">This message was deleted.</p>`,
		`<span class="chat-avatar c0" aria-hidden="true">B&lt;</span>`,
		`<button type="button" class="chat-reaction mine" aria-pressed="true">👍 2</button>`,
		`id="chat-requests-dialog"`,
		// Enter sends: a phone's keyboard labels its Enter key so.
		`<textarea id="chat-text" name="text" rows="1" enterkeyhint="send"`,
		`<script type="module" src="/static/modules/chat/test/chat.js"></script>`,
		`<link rel="stylesheet" href="/static/modules/chat/test/chat.css">`,
	} {
		if !strings.Contains(en, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	if n := strings.Count(en, "<script"); n != 4 {
		t.Errorf("%d script elements, want 4 (three JSON, the module's asset)", n)
	}
	if strings.Contains(en, "<img src=x") || strings.Contains(en, "<b>") {
		t.Error("people's text became markup")
	}
	js := scripts(t, en)
	state, texts := js["chat-state"], js["chat-i18n"]
	if state == nil || texts == nil {
		t.Fatalf("JSON scripts: %v", js)
	}
	msgs, _ := state["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["text"] != hostile || state["next"] != 40.0 || state["room"] != 1.0 ||
		state["readable"] != true || len(state["rooms"].([]any)) != 4 || state["me"].(map[string]any)["admin"] != true {
		t.Errorf("state: %v", state)
	}
	if texts["Live"] != "Live" || texts["{name} is typing…"] != "{name} is typing…" {
		t.Errorf("English texts: %v", texts)
	}

	fr := renderPage(t, d, "fr")
	if !strings.Contains(fr, `<button type="submit" id="chat-send">Envoyer</button>`) ||
		!strings.Contains(fr, `<span class="chat-state">Demandé</span>`) {
		t.Error("the French page is not French")
	}
	if texts := scripts(t, fr)["chat-i18n"]; texts["{name} is typing…"] != "{name} écrit…" {
		t.Errorf("French texts for the script: %v", texts)
	}

	// A member with no room open and no rooms: the page still renders,
	// without the admin's dialogs.
	empty := renderPage(t, pageData{
		Me:    raw(`{"user":{"id":9,"username":"eve","display_name":"Eve"},"admin":false,"presence":"online"}`),
		Rooms: []json.RawMessage{}, Room: raw(`null`), Messages: []json.RawMessage{}, View: "list",
		Error: "No such room.", Avatars: map[string]avatarStandIn{"9": {"EV", 1}},
	}, "en")
	if !strings.Contains(empty, `<p id="chat-error" class="chat-slot error" role="alert">No such room.</p>`) ||
		strings.Contains(empty, "chat-requests-dialog") || !strings.Contains(empty, `<form id="chat-composer" class="chat-composer" hidden>`) {
		t.Errorf("the empty page:\n%s", empty)
	}
	if st := scripts(t, empty)["chat-state"]; st["next"] != nil || st["room"] != 0.0 {
		t.Errorf("empty state: %v", st)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestInitials(t *testing.T) {
	for _, tc := range []struct{ display, username, want string }{
		{"Ada Lovelace", "ada", "AL"},
		{"ada", "ada", "AD"},
		{"  Grace   Brewster Hopper ", "grace", "GH"},
		{"", "bob", "BO"},
		{"Émile", "e", "ÉM"},
		{"日本 語", "x", "日語"},
		{"😀 Smile", "x", "😀S"},
		{"x", "x", "X"},
		{"", "", "?"},
	} {
		if got := initials(userRef{DisplayName: tc.display, Username: tc.username}); got != tc.want {
			t.Errorf("initials(%q, %q) = %q, want %q", tc.display, tc.username, got, tc.want)
		}
	}
}

func TestDefaultRoom(t *testing.T) {
	general := pageRoom{ID: 1, Kind: "room", Policy: "everyone", Member: true}
	sales := pageRoom{ID: 2, Kind: "room", Policy: "request", Member: true}
	old := pageRoom{ID: 3, Kind: "room", Policy: "everyone", Archived: true}
	dm := pageRoom{ID: 4, Kind: "dm", Policy: "invite", Member: true}
	asked := pageRoom{ID: 5, Kind: "room", Policy: "request"}
	for _, tc := range []struct {
		name  string
		rooms []pageRoom
		want  int
	}{
		{"general first", []pageRoom{sales, general}, 1},
		{"not archived", []pageRoom{old, sales}, 1},
		{"any member room", []pageRoom{asked, dm}, 1},
		{"none", []pageRoom{asked, old}, -1},
		{"empty", nil, -1},
	} {
		if got := defaultRoom(tc.rooms, false); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestReadable(t *testing.T) {
	for _, tc := range []struct {
		room  pageRoom
		admin bool
		want  bool
	}{
		{pageRoom{Policy: "everyone"}, false, true},
		{pageRoom{Policy: "request", Member: true}, false, true},
		{pageRoom{Policy: "request"}, false, false},
		{pageRoom{Policy: "invite"}, true, true},
	} {
		if got := tc.room.readable(tc.admin); got != tc.want {
			t.Errorf("%+v admin=%v: %v", tc.room, tc.admin, got)
		}
	}
}

// TestSubGet: the page reads the API through the module's own mux; an
// API error reaches it as the *apiError its {"error"} says, and anything
// else as an error of its own.
func TestSubGet(t *testing.T) {
	type ctxKey struct{}
	mux.HandleFunc("GET /chat/api/test-subget/{what}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("what") {
		case "ok":
			if r.Context().Value(ctxKey{}) != "the user" || r.URL.Query().Get("before") != "5" || r.Method != http.MethodGet {
				http.Error(w, "lost the request's context", http.StatusTeapot)
				return
			}
			writeJSON(w, http.StatusOK, map[string]int{"n": 1})
		case "refused":
			fail(w, r, forbidden("Admins only."))
		case "html":
			http.Error(w, "<html>oops</html>", http.StatusBadGateway)
		case "bad":
			w.Write([]byte("{not json"))
		}
	})
	r := httptest.NewRequest(http.MethodPost, "/chat", strings.NewReader("a body"))
	r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, "the user"))
	var v struct{ N int }
	if err := subGet(r, "/chat/api/test-subget/ok?before=5", &v); err != nil || v.N != 1 {
		t.Fatalf("ok: %v %v", v, err)
	}
	var ae *apiError
	if err := subGet(r, "/chat/api/test-subget/refused", &v); !errors.As(err, &ae) || ae.Status != 403 || ae.Msg != "Admins only." || ae.Code != "forbidden" {
		t.Errorf("refused: %v", err)
	}
	for _, what := range []string{"html", "bad", "missing"} {
		if err := subGet(r, "/chat/api/test-subget/"+what, &v); err == nil || errors.As(err, &ae) {
			t.Errorf("%s: %v", what, err)
		}
	}
}

// TestPageWorstCase: the newest page of a room of the longest messages
// (4000 characters each) renders within the host's bounds (2 MiB of data,
// 4 MiB of page) for the texts that cost the most to carry: markup
// characters (escaped in the data and twice in the page) and emoji (four
// bytes each, and a pair of escapes in the script's JSON).
func TestPageWorstCase(t *testing.T) {
	for _, tc := range []struct {
		name, char string
		chars      int
	}{{"markup", "<", 4000}, {"emoji", "😀", 4000}, {"quote", `"`, 4000}, {"markup, the longest allowed", "<", maxMessageCap}, {"emoji, the longest allowed", "😀", maxMessageCap}} {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Repeat(tc.char, tc.chars)
			d := pageData{
				Me:     raw(`{"user":{"id":7,"username":"ada","display_name":"Ada"},"admin":false,"presence":"online"}`),
				Rooms:  []json.RawMessage{raw(`{"id":1,"kind":"room","name":"General","topic":"","policy":"everyone","archived":false,"member":true,"request":null,"unread":0,"mentions":0,"last_message_id":50}`)},
				Room:   raw(`{"id":1,"kind":"room","name":"General","topic":"","policy":"everyone","archived":false,"member":true}`),
				RoomID: 1, Readable: true, View: "room", Avatars: map[string]avatarStandIn{"7": {"AD", 7}},
			}
			var page []json.RawMessage
			for i := range 50 {
				m, err := json.Marshal(map[string]any{"id": 50 - i, "room_id": 1, "author": map[string]any{"id": 7, "username": "ada", "display_name": "Ada"},
					"text": text, "created_at": "2030-01-02T03:04:05Z", "edited_at": nil, "deleted": false, "mentions": []int{},
					"reactions": []map[string]any{{"emoji": "👍", "count": 1, "mine": false}}})
				if err != nil {
					t.Fatal(err)
				}
				page = append(page, m)
			}
			msgs, next, err := firstPaint(page, nil, firstPaintBudget)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				d.Messages = append(d.Messages, m.raw)
			}
			d.Next = next
			data, _ := json.Marshal(d)
			if len(data) > safetmpl.MaxData {
				t.Fatalf("the page's data is %d bytes, over the host's %d", len(data), safetmpl.MaxData)
			}
			html := renderPage(t, d, "en")
			if len(html) > safetmpl.MaxOutput {
				t.Fatalf("the page is %d bytes", len(html))
			}
			st := scripts(t, html)["chat-state"]
			shown := st["messages"].([]any)
			if len(shown) != len(msgs) || shown[len(shown)-1].(map[string]any)["text"] != text || shown[len(shown)-1].(map[string]any)["id"] != 50.0 {
				t.Fatal("the state does not carry the newest messages whole")
			}
			if tc.chars == 4000 && (len(shown) != 50 || next != nil) {
				t.Errorf("a page of 4000-character messages shows %d of them (next %v), want all 50", len(shown), next)
			}
			if len(shown) < 50 && (next == nil || st["next"] != float64(*next)) {
				t.Errorf("%d messages shown, but no cursor to the older ones: %v", len(shown), st["next"])
			}
			t.Logf("%s: %d messages, data %d KiB, page %d KiB", tc.name, len(shown), len(data)>>10, len(html)>>10)
		})
	}
}

func TestFirstPaint(t *testing.T) {
	msg := func(id int64, text string) json.RawMessage {
		return must(json.Marshal(map[string]any{"id": id, "author": map[string]any{"id": 7, "username": "ada"}, "text": text}))
	}
	ten := int64(10)
	page := []json.RawMessage{msg(13, "c"), msg(12, strings.Repeat("b", 100)), msg(11, "a")}
	ids := func(ms []paintMessage) (out []int64) {
		for _, m := range ms {
			out = append(out, m.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name     string
		budget   int
		want     []int64
		wantNext *int64
	}{
		{"all fit", 1 << 20, []int64{11, 12, 13}, &ten},
		{"the oldest wait", len(page[0]) + len(page[1]), []int64{12, 13}, ptr[int64](12)},
		{"the newest always", 1, []int64{13}, ptr[int64](13)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, next, err := firstPaint(page, &ten, tc.budget)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ids(got), tc.want) || next == nil || *next != *tc.wantNext {
				t.Errorf("messages %v, next %v; want %v, %v", ids(got), next, tc.want, *tc.wantNext)
			}
			if got[0].Author == nil || got[0].Author.Username != "ada" || !bytes.Equal(got[len(got)-1].raw, page[0]) {
				t.Errorf("the messages are not the API's: %+v", got)
			}
		})
	}
	if got, next, err := firstPaint(nil, nil, 10); err != nil || len(got) != 0 || next != nil {
		t.Errorf("an empty room: %v %v %v", got, next, err)
	}
	if _, _, err := firstPaint([]json.RawMessage{json.RawMessage(`[1]`)}, nil, 10); err == nil {
		t.Error("a message that is not an object was taken")
	}
}

func ptr[T any](v T) *T { return &v }

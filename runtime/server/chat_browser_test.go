package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/settings"
	"github.com/websonic/websonic/runtime/internal/site"
)

// The chat's page (modules/chat: pages.go, assets/templates/chat.html,
// assets/chat.js) in a real runtime: what an anonymous visitor and a member
// get over plain HTTP, and two people in two Chromium sessions.

// chatWebModules builds modules/chat once per test binary.
var chatWebModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "chatweb")
	return dir, modbuild.Package(context.Background(), "../../modules/chat", filepath.Join(dir, "chat"))
})

// newChatSite starts a runtime with the chat module.
func newChatSite(t *testing.T) *testSite {
	t.Helper()
	mods, err := chatWebModules()
	if err != nil {
		t.Fatal(err)
	}
	return newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), roomyLimits)
}

// cwPassword is the password of the chat tests' users.
const cwPassword = "correct horse battery staple"

// cwUser is a user signed in to the chat's JSON API.
type cwUser struct {
	t    *testing.T
	c    *http.Client
	base string
	id   int64
	name string
}

func cwSignIn(t *testing.T, s *testSite, name string, role site.Role) *cwUser {
	t.Helper()
	u, err := s.srv.site.Store().CreateUser(t.Context(), site.NewUser{Username: name, Password: cwPassword, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	c := s.client(t)
	resp := postForm(t, c, s.URL+"/login", url.Values{"username": {name}, "password": {cwPassword}})
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login %s: %d", name, resp.StatusCode)
	}
	return &cwUser{t: t, c: c, base: s.URL, id: u.ID, name: name}
}

// call sends body as JSON (nil: none) and checks the status; out, when not
// nil, receives the answer.
func (u *cwUser) call(method, path string, body any, want int, out any) {
	u.t.Helper()
	status, b := chatJSON(u.t, u.c, method, u.base+path, body)
	if status != want {
		u.t.Fatalf("%s %s as %s: %d %s, want %d", method, path, u.name, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			u.t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

func body2(t testing.TB, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// get fetches path with the Accept-Language lang ("": none).
func (u *cwUser) page(path, lang string) (*http.Response, string) {
	u.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u.base+path, nil)
	if err != nil {
		u.t.Fatal(err)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := u.c.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	return resp, string(body2(u.t, resp))
}

type cwRoom struct {
	ID       int64   `json:"id"`
	Kind     string  `json:"kind"`
	Name     string  `json:"name"`
	Policy   string  `json:"policy"`
	Member   bool    `json:"member"`
	Request  *string `json:"request"`
	Unread   int     `json:"unread"`
	Archived bool    `json:"archived"`
	// RetentionDays is the room's retention, nil for none.
	RetentionDays *int `json:"retention_days"`
}

type cwMessage struct {
	ID     int64  `json:"id"`
	RoomID int64  `json:"room_id"`
	Text   string `json:"text"`
	Author struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	} `json:"author"`
}

// rooms lists u's rooms by name.
func (u *cwUser) rooms() map[string]cwRoom {
	u.t.Helper()
	var list struct{ Rooms []cwRoom }
	u.call(http.MethodGet, "/chat/api/rooms", nil, http.StatusOK, &list)
	out := map[string]cwRoom{}
	for _, r := range list.Rooms {
		out[r.Name] = r
	}
	return out
}

func (u *cwUser) post(room int64, text string) cwMessage {
	u.t.Helper()
	var m cwMessage
	u.call(http.MethodPost, "/chat/api/rooms/"+strconv.FormatInt(room, 10)+"/messages", map[string]string{"text": text}, http.StatusCreated, &m)
	return m
}

var cwJSONScript = regexp.MustCompile(`(?s)<script type="application/json" id="chat-state">(.*?)</script>`)

// cwState is the state a chat page hands its script.
type cwState struct {
	Me struct {
		User  struct{ ID int64 }
		Admin bool
	}
	Rooms    []cwRoom
	Room     int64
	Readable bool
	Messages []cwMessage
	Next     *int64
	Error    string
}

func cwPageState(t *testing.T, page string) cwState {
	t.Helper()
	m := cwJSONScript.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no #chat-state in the page:\n%s", page)
	}
	var st cwState
	if err := json.Unmarshal([]byte(m[1]), &st); err != nil {
		t.Fatalf("#chat-state: %v\n%s", err, m[1])
	}
	return st
}

// TestChatPage: the page over plain HTTP. An anonymous visitor is sent to
// sign in; a member's first paint is complete (rooms, badges, the open
// room's newest messages, as text) in the site's theme, with the state
// and texts the script needs, in the visitor's language, and a policy
// that runs only the module's own script.
func TestChatPage(t *testing.T) {
	s := newChatSite(t)
	anon := s.client(t)
	for _, p := range []string{"/chat", "/chat/rooms/1", "/chat/api/rooms"} {
		resp, err := anon.Get(s.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/login?next="+url.QueryEscape(p) {
			t.Errorf("anonymous GET %s: %d to %q, want the sign-in page", p, resp.StatusCode, loc)
		}
	}

	alice := cwSignIn(t, s, "alice", site.RoleMember)
	bob := cwSignIn(t, s, "bob", site.RoleMember)
	rooms := alice.rooms()
	general, sales := rooms["General"], rooms["Sales"]
	if general.ID == 0 || sales.ID == 0 || sales.Member {
		t.Fatalf("rooms of a fresh install: %+v", rooms)
	}
	const hostile = `<img src=x onerror=alert(1)> & </script><script>alert(2)</script>`
	first := bob.post(general.ID, "Hello @alice")
	bob.post(general.ID, hostile)

	resp, page := alice.page("/chat", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /chat: %d\n%s", resp.StatusCode, page)
	}
	// The page's policy runs the module version's own scripts and the
	// runtime's, nothing inline.
	scriptSrc := 0
	for _, csp := range resp.Header.Values("Content-Security-Policy") {
		for _, d := range strings.Split(csp, ";") {
			if f := strings.Fields(d); len(f) > 0 && f[0] == "script-src" {
				scriptSrc++
				if !strings.Contains(d, "/static/modules/chat/") || strings.Contains(d, "'unsafe") || strings.Contains(d, "'self'") {
					t.Errorf("script-src of the page: %s", d)
				}
			}
		}
	}
	if scriptSrc == 0 {
		t.Errorf("the page has no script-src: %q", resp.Header.Values("Content-Security-Policy"))
	}
	for _, want := range []string{
		`<nav aria-label="Main">`, // the site's layout around it
		`<div id="chat" class="chat" data-view="list">`,
		`href="/chat/rooms/` + strconv.FormatInt(general.ID, 10) + `" data-room="` + strconv.FormatInt(general.ID, 10) + `" aria-current="page"`,
		`<span class="chat-badge mention" title="Mentions you">@1`,
		`<span class="chat-badge">2<span class="chat-sr"> unread</span></span>`,
		`<p class="chat-msg-text" dir="auto">&lt;img src=x onerror=alert(1)&gt; &amp; &lt;/script&gt;&lt;script&gt;alert(2)&lt;/script&gt;</p>`,
		`<span class="chat-room-name">Sales</span></a>`,
		`<button type="submit" id="chat-send">Send</button>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %s", want)
		}
	}
	script := regexp.MustCompile(`<script type="module" src="(/static/modules/chat/[^"]+/chat\.js)"></script>`).FindStringSubmatch(page)
	if script == nil || strings.Count(page, "<script") != 4 || strings.Contains(page, "<img src=x") {
		t.Fatalf("scripts of the page:\n%s", page)
	}
	if r, err := http.Get(s.URL + script[1]); err != nil || r.StatusCode != 200 || !strings.Contains(r.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("the page's script: %v %v", r, err)
	}
	st := cwPageState(t, page)
	if st.Room != general.ID || !st.Readable || len(st.Messages) != 2 || st.Messages[0].ID != first.ID ||
		st.Messages[1].Text != hostile || st.Next != nil || st.Me.User.ID != alice.id || st.Me.Admin || len(st.Rooms) < 5 {
		t.Errorf("state: %+v", st)
	}

	// French: the page and the script's texts.
	_, fr := alice.page("/chat", "fr")
	if !strings.Contains(fr, `<button type="submit" id="chat-send">Envoyer</button>`) || !strings.Contains(fr, `"{name} is typing…": "{name} écrit…"`) {
		t.Errorf("the French page:\n%s", fr)
	}

	// A room alice may ask to join: shown, with no messages, and the
	// offer to join.
	resp, page = alice.page("/chat/rooms/"+strconv.FormatInt(sales.ID, 10), "")
	st = cwPageState(t, page)
	if resp.StatusCode != 200 || st.Room != sales.ID || st.Readable || len(st.Messages) != 0 ||
		!strings.Contains(page, `<div id="chat-joinbox" class="chat-joinbox">`) || !strings.Contains(page, `<div id="chat" class="chat" data-view="room">`) {
		t.Errorf("a room to join: %d %+v\n%s", resp.StatusCode, st, page)
	}
	// A room that does not exist (or is not listed to alice): 404, the
	// page still there, and why.
	resp, page = alice.page("/chat/rooms/987654", "")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, `role="alert">No such room.</p>`) || cwPageState(t, page).Room != 0 {
		t.Errorf("an unknown room: %d\n%s", resp.StatusCode, page)
	}
	// The API's sentences reach a French page in French (the script gets
	// them too, as #chat-errors).
	if resp, page = alice.page("/chat/rooms/987654", "fr"); !strings.Contains(page, `role="alert">Ce salon n&#39;existe pas.</p>`) ||
		!strings.Contains(page, `"Join the room to post in it.": "Rejoignez le salon pour y écrire."`) {
		t.Errorf("an unknown room, in French: %d\n%s", resp.StatusCode, page)
	}

	// The API the page reads first.
	var me struct {
		User struct {
			ID       int64  `json:"id"`
			Username string `json:"username"`
		} `json:"user"`
		Admin    bool   `json:"admin"`
		Presence string `json:"presence"`
	}
	alice.call(http.MethodGet, "/chat/api/me", nil, http.StatusOK, &me)
	if me.User.ID != alice.id || me.User.Username != "alice" || me.Admin || me.Presence != "online" {
		t.Errorf("me: %+v", me)
	}
	boss := cwSignIn(t, s, "boss", site.RoleAdmin)
	boss.call(http.MethodGet, "/chat/api/me", nil, http.StatusOK, &me)
	if !me.Admin {
		t.Errorf("an admin's me: %+v", me)
	}
	if _, page := boss.page("/chat", ""); !strings.Contains(page, `id="chat-requests-dialog"`) || !strings.Contains(page, `id="chat-open-rooms-admin"`) {
		t.Error("an admin's page has no admin panels")
	}
	if strings.Contains(page, `id="chat-requests-dialog"`) {
		t.Error("a member's page has the admin panels")
	}
}

// cwTab is one Chromium tab of its own browser context (its own cookies),
// signed in as one user.
func cwTab(t *testing.T, first *browser, s *testSite, username string, fresh bool) *browser {
	t.Helper()
	b := first
	if fresh {
		ctx, cancel := chromedp.NewContext(first.ctx, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		b = &browser{t: t, ctx: ctx, deadline: first.deadline, dir: first.dir}
		if err := chromedp.Do(ctx); err != nil {
			t.Fatalf("a tab for %s: %v", username, err)
		}
		if err := chromedp.Listen(ctx, b.record); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.reportFailure)
	}
	b.do("sign in as "+username,
		chromedp.Navigate(s.URL+"/login?next=/chat"),
		chromedp.WaitVisible(chromedp.CSS(`#username`)),
		chromedp.SendKeys(chromedp.CSS(`#username`), username),
		chromedp.SendKeys(chromedp.CSS(`#password`), cwPassword),
		chromedp.Submit(chromedp.CSS(`#password`)),
		chromedp.WaitVisible(chromedp.CSS(`#chat-messages`)),
	)
	b.waitLive(username)
	return b
}

// waitLive waits until the page's script runs, its socket is open and
// the open room's events arrive.
func (b *browser) waitLive(who string) {
	b.t.Helper()
	run(b, who+"'s page goes live", chromedp.Poll[bool](`(() => {
		const chat = document.getElementById("chat");
		return chat?.dataset.ready === "true" && document.getElementById("chat-live").classList.contains("on") &&
			chat.dataset.liveRoom !== undefined;
	})()`))
}

// TestBrowserChat: two people in two Chromium sessions. What one posts
// the other sees without a reload, typing shows, scrolling back loads the
// page before and keeps what was read in place, an admin approves a join
// request from the page and the requester's page shows the room at once,
// and hostile text stays text.
func TestBrowserChat(t *testing.T) {
	first := newBrowser(t)
	first.deadline = time.Now().Add(3 * time.Minute) // two sessions and a long history
	s := newChatSite(t)
	alice := cwSignIn(t, s, "alice", site.RoleMember)
	boss := cwSignIn(t, s, "boss", site.RoleAdmin)
	rooms := alice.rooms()
	general, sales := rooms["General"], rooms["Sales"]

	// A long history: 300 messages, the newest page is 50.
	const seeded = 300
	for i := 1; i <= seeded; i++ {
		boss.post(general.ID, fmt.Sprintf("history %03d", i))
	}

	a := cwTab(t, first, s, "alice", false)
	z := cwTab(t, first, s, "boss", true)
	// use makes the tabs report to subtest t while it runs.
	use := func(t *testing.T, tabs ...*browser) {
		for _, b := range tabs {
			old := b.t
			b.t = t
			t.Cleanup(func() { b.t = old })
		}
	}
	count := func(b *browser, who string) int {
		return run(b, who+" counts messages", chromedp.Evaluate[int](`document.querySelectorAll("#chat-messages .chat-msg").length`))
	}
	if n := count(a, "alice"); n != 50 {
		t.Fatalf("alice's first page shows %d messages, want 50", n)
	}
	// Seen is read: the open room's badge goes, on the page and the server.
	run(a, "General's badge goes", chromedp.Poll[bool](`document.querySelector('#chat-rooms a[data-room="`+strconv.FormatInt(general.ID, 10)+`"] .chat-badge') === null`))
	for deadline := time.Now().Add(10 * time.Second); alice.rooms()["General"].Unread != 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("General stays unread on the server after alice saw it")
		}
	}

	t.Run("live", func(t *testing.T) {
		use(t, a, z)
		const text = "Lunch at noon? <b>bring</b> & share"
		a.do("alice types in the composer", chromedp.SendKeys(chromedp.CSS(`#chat-text`), "Lunch at noon? "))
		run(z, "boss sees alice typing", chromedp.Poll[bool](`document.getElementById("chat-typing").textContent.includes("alice")`))
		a.do("alice finishes and presses Enter",
			chromedp.SendKeys(chromedp.CSS(`#chat-text`), "<b>bring</b> & share"),
			chromedp.KeyEvent("\r"),
		)
		last := `(() => { const l = [...document.querySelectorAll("#chat-messages .chat-msg-text")]; return l.length ? l[l.length-1].textContent : ""; })()`
		run(a, "alice's message is shown", chromedp.Poll[bool](last+` === `+strconv.Quote(text)))
		run(a, "the composer empties once the message is saved", chromedp.Poll[bool](`document.getElementById("chat-text").value === ""`))
		run(z, "boss sees it without reloading", chromedp.Poll[bool](last+` === `+strconv.Quote(text)))
		if run(z, "look for markup", chromedp.Evaluate[bool](`document.querySelector("#chat-messages b") !== null`)) {
			t.Error("the message's text became markup")
		}
		// People's texts keep their own direction: a right-to-left
		// override (U+202E) in a message or a name cannot reorder the
		// page around it.
		if !run(z, "look at the message's direction", chromedp.Evaluate[bool](`(() => {
			const l = [...document.querySelectorAll("#chat-messages .chat-msg")], m = l[l.length-1];
			return m.querySelector(".chat-msg-text").dir === "auto" &&
				getComputedStyle(m.querySelector(".chat-author")).unicodeBidi === "plaintext";
		})()`)) {
			t.Error("the message's text or author is not isolated")
		}
		// A message from elsewhere (the API) arrives too, and typing stops.
		alice.post(general.ID, "sent from another device")
		run(z, "boss sees the API's message", chromedp.Poll[bool](last+` === "sent from another device"`))
		run(z, "typing is over", chromedp.Poll[bool](`document.getElementById("chat-typing").textContent === ""`))
	})

	t.Run("scroll back", func(t *testing.T) {
		use(t, a)
		// What alice reads at the top stays in place while the page before
		// is put above it.
		// (offset: where the top message is in the pane, in CSS pixels)
		const offset = `(document.getElementById(window.__anchor).getBoundingClientRect().top - document.getElementById("chat-scroll").getBoundingClientRect().top)`
		before := run(a, "scroll to the top", chromedp.Evaluate[string](`(() => {
			const first = document.querySelector("#chat-messages .chat-msg");
			const pane = document.getElementById("chat-scroll");
			window.__anchor = first.id;
			pane.scrollTop = 0;
			window.__offset = `+offset+`;
			pane.dispatchEvent(new Event("scroll"));
			return first.querySelector(".chat-msg-text").textContent;
		})()`))
		run(a, "the page before loads", chromedp.Poll[bool](`document.querySelectorAll("#chat-messages .chat-msg").length >= 100`))
		if before != fmt.Sprintf("history %03d", seeded-49) { // the newest page: 251..300
			t.Errorf("the first message shown was %q", before)
		}
		moved := run(a, "how far the top message moved", chromedp.Evaluate[float64](offset+` - window.__offset`))
		if top := run(a, "pane top", chromedp.Evaluate[float64](`document.getElementById("chat-scroll").scrollTop`)); top <= 0 || moved < -2 || moved > 2 {
			t.Errorf("after loading the page before, the pane is at %v and what was read moved by %vpx: the reading place was lost", top, moved)
		}
		texts := run(a, "the messages in order", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#chat-messages .chat-msg-text")].map(p => p.textContent)`))
		for i := 1; i < len(texts)-2; i++ {
			if texts[i-1] >= texts[i] {
				t.Fatalf("messages out of order at %d: %q then %q", i, texts[i-1], texts[i])
			}
		}
		// All the way back to the first message, page by page.
		run(a, "scroll back to the start", chromedp.Poll[bool](`(() => {
			const pane = document.getElementById("chat-scroll");
			pane.scrollTop = 0; pane.dispatchEvent(new Event("scroll"));
			return document.getElementById("chat-older").hidden && document.querySelectorAll("#chat-messages .chat-msg").length >= `+strconv.Itoa(seeded)+`;
		})()`, chromedp.WithPollingInterval(100*time.Millisecond)))
		if got := run(a, "the oldest", chromedp.Evaluate[string](`document.querySelector("#chat-messages .chat-msg-text").textContent`)); got != "history 001" {
			t.Errorf("the oldest message shown is %q", got)
		}
	})

	t.Run("join request approved from the page", func(t *testing.T) {
		use(t, a, z)
		a.do("alice asks to join Sales",
			chromedp.Click(chromedp.Search(`//ul[@id="chat-join"]/li[a[@data-room="`+strconv.FormatInt(sales.ID, 10)+`"]]/button`)),
			chromedp.WaitVisible(chromedp.Search(`//ul[@id="chat-join"]/li[a[@data-room="`+strconv.FormatInt(sales.ID, 10)+`"]]/span[@class="chat-state"]`)),
		)
		z.do("boss opens the requests",
			chromedp.Click(chromedp.CSS(`#chat-open-requests`)),
			chromedp.WaitVisible(chromedp.Search(`//dialog[@id="chat-requests-dialog"]//li[contains(@class,"chat-req")][.//strong[normalize-space()="Sales"]]`)),
		)
		if got := z.text("the requester", "#chat-requests .chat-req-user h3"); !strings.Contains(got, "alice") || !strings.Contains(got, "1 request") {
			t.Errorf("the queue's heading: %q", got)
		}
		z.do("boss approves",
			chromedp.Click(chromedp.Search(`//dialog[@id="chat-requests-dialog"]//li[contains(@class,"chat-req")][.//strong[normalize-space()="Sales"]]//button[normalize-space()="Approve"]`)),
			chromedp.WaitVisible(chromedp.Search(`//div[@id="chat-requests"]/p[normalize-space()="No requests are waiting."]`)),
		)
		run(a, "alice's page shows Sales among her rooms", chromedp.Poll[bool](`document.querySelector('#chat-rooms a[data-room="`+strconv.FormatInt(sales.ID, 10)+`"]') !== null && document.querySelector('#chat-join a[data-room="`+strconv.FormatInt(sales.ID, 10)+`"]') === null`))
		if got := a.text("alice's notice", "#chat-notice"); !strings.Contains(got, "Sales") {
			t.Errorf("alice was told %q", got)
		}
		z.do("boss closes the requests", chromedp.Click(chromedp.CSS(`#chat-requests-dialog [data-close]`)))
		a.do("alice opens Sales",
			chromedp.Click(chromedp.CSS(`#chat-rooms a[data-room="`+strconv.FormatInt(sales.ID, 10)+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#chat-composer`)),
		)
		if loc := run(a, "the address", chromedp.Evaluate[string](`location.pathname`)); loc != "/chat/rooms/"+strconv.FormatInt(sales.ID, 10) {
			t.Errorf("Sales open at %s", loc)
		}
	})

	t.Run("search", func(t *testing.T) {
		use(t, a)
		a.do("alice searches",
			chromedp.SendKeys(chromedp.CSS(`#chat-q`), "history 042"),
			chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.Search(`//ol[@id="chat-results"]/li/button[.//span[@class="chat-result-text" and normalize-space()="history 042"]]`)),
		)
		if got := a.text("the summary", "#chat-search-summary"); got != `1 message found for “history 042”.` {
			t.Errorf("search summary: %q", got)
		}
		// The result opens General at that message, loading the pages
		// before the newest until it is there.
		a.do("alice opens the result", chromedp.Click(chromedp.CSS(`#chat-results button`)))
		run(a, "the message has focus", chromedp.Poll[bool](`document.activeElement?.querySelector?.(".chat-msg-text")?.textContent === "history 042"`))
		if loc := run(a, "the address", chromedp.Evaluate[string](`location.pathname`)); loc != "/chat/rooms/"+strconv.FormatInt(general.ID, 10) {
			t.Errorf("the result opened %s", loc)
		}
	})

	t.Run("badges", func(t *testing.T) {
		use(t, a)
		a.do("alice opens General",
			chromedp.Click(chromedp.CSS(`#chat-rooms a[data-room="`+strconv.FormatInt(general.ID, 10)+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#chat-messages .chat-msg`)),
		)
		a.waitLive("alice")
		salesLink := `#chat-rooms a[data-room="` + strconv.FormatInt(sales.ID, 10) + `"]`
		boss.call(http.MethodPost, "/chat/api/rooms/"+strconv.FormatInt(sales.ID, 10)+"/join", nil, http.StatusOK, nil)
		boss.post(sales.ID, "Quarterly numbers are in")
		boss.post(sales.ID, "@alice can you check them?")
		run(a, "Sales shows 2 unread, 1 mentioning alice", chromedp.Poll[bool](`(() => {
			const l = document.querySelector('`+salesLink+`');
			const b = [...l.querySelectorAll(".chat-badge")].map(x => x.firstChild.textContent);
			return b.join(" ") === "@1 2" && l.classList.contains("unread");
		})()`))
		if title := run(a, "the title", chromedp.Evaluate[string](`document.title`)); !strings.HasPrefix(title, "(") {
			t.Errorf("the window's title: %q", title)
		}
		a.do("alice opens Sales", chromedp.Click(chromedp.CSS(salesLink)))
		run(a, "the badges go", chromedp.Poll[bool](`document.querySelector('`+salesLink+` .chat-badge') === null && document.querySelector("#chat-messages .chat-msg.mentions-me") !== null`))
		if got := run(a, "the new messages line", chromedp.Evaluate[string](`document.getElementById("chat-new-line")?.nextElementSibling?.querySelector(".chat-msg-text")?.textContent ?? ""`)); got != "Quarterly numbers are in" {
			t.Errorf("the first message under the new messages line is %q", got)
		}
		// The read marker moved on the server too.
		deadline := time.Now().Add(10 * time.Second)
		for r := alice.rooms()["Sales"]; r.Unread != 0; r = alice.rooms()["Sales"] {
			if time.Now().After(deadline) {
				t.Fatalf("Sales still has %d unread for alice after she read it", r.Unread)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("edit, react, delete", func(t *testing.T) {
		use(t, a, z)
		z.do("boss opens Sales",
			chromedp.Navigate(s.URL+"/chat/rooms/"+strconv.FormatInt(sales.ID, 10)),
			chromedp.WaitVisible(chromedp.CSS(`#chat-messages .chat-msg`)),
		)
		z.waitLive("boss")
		a.waitLive("alice")
		a.do("alice writes", chromedp.SendKeys(chromedp.CSS(`#chat-text`), "Numbers look rihgt"), chromedp.KeyEvent("\r"))
		last := `(() => { const l = [...document.querySelectorAll("#chat-messages .chat-msg")]; return l.length ? l[l.length-1] : null; })()`
		run(z, "boss sees it", chromedp.Poll[bool](last+`?.querySelector(".chat-msg-text").textContent === "Numbers look rihgt"`))
		run(a, "the composer is empty", chromedp.Poll[bool](`document.getElementById("chat-text").value === ""`))
		// Up in the empty composer edits one's last message.
		a.do("alice edits it",
			chromedp.Focus(chromedp.CSS(`#chat-text`)),
			chromedp.KeyEvent(kb.ArrowUp),
			chromedp.WaitVisible(chromedp.CSS(`.chat-edit textarea`)),
			chromedp.SetValue(chromedp.CSS(`.chat-edit textarea`), "Numbers look right"),
			chromedp.Focus(chromedp.CSS(`.chat-edit textarea`)),
			chromedp.KeyEvent("\r"),
		)
		run(z, "boss sees the edit", chromedp.Poll[bool](last+`?.querySelector(".chat-msg-text").textContent === "Numbers look right" && `+last+`.querySelector(".chat-edited") !== null`))
		z.do("boss reacts",
			chromedp.Evaluate[chromedp.Void](last+`.focus()`),
			chromedp.Click(chromedp.Search(`(//ol[@id="chat-messages"]/li[contains(@class,"chat-msg")])[last()]//button[@aria-label="Add a reaction"]`)),
			chromedp.Click(chromedp.Search(`//div[@class="chat-picker"]/button[1]`)),
		)
		run(a, "alice sees the reaction", chromedp.Poll[bool](last+`?.querySelector(".chat-reaction")?.getAttribute("aria-pressed") === "false" && `+last+`.querySelector(".chat-reaction").textContent.endsWith(" 1")`))
		run(z, "boss's reaction is his", chromedp.Poll[bool](last+`?.querySelector(".chat-reaction")?.getAttribute("aria-pressed") === "true"`))
		a.do("alice deletes it",
			chromedp.Evaluate[chromedp.Void](last+`.focus()`),
			chromedp.Click(chromedp.Search(`(//ol[@id="chat-messages"]/li[contains(@class,"chat-msg")])[last()]//button[@aria-label="Delete"]`)),
			chromedp.Click(chromedp.Search(`(//ol[@id="chat-messages"]/li[contains(@class,"chat-msg")])[last()]//button[normalize-space()="Delete"]`)),
		)
		run(z, "boss sees it deleted", chromedp.Poll[bool](last+`?.querySelector(".chat-msg-text").textContent === "This message was deleted."`))
	})

	t.Run("friends and a private conversation", func(t *testing.T) {
		use(t, a, z)
		a.do("alice asks boss to be friends",
			chromedp.Click(chromedp.CSS(`#chat-open-friends`)),
			chromedp.WaitVisible(chromedp.CSS(`#chat-friend-name`)),
			chromedp.SendKeys(chromedp.CSS(`#chat-friend-name`), "boss"),
			chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.Search(`//p[@id="chat-friend-add-msg" and normalize-space()="Request sent to boss."]`)),
			chromedp.WaitVisible(chromedp.Search(`//ul[@id="chat-outgoing"]/li[.//strong[normalize-space()="boss"]]`)),
		)
		run(z, "boss's Friends button counts the request", chromedp.Poll[bool](`document.getElementById("chat-friends-badge").firstChild?.textContent === "1"`))
		z.do("boss accepts",
			chromedp.Click(chromedp.CSS(`#chat-open-friends`)),
			chromedp.Click(chromedp.Search(`//ul[@id="chat-incoming"]/li[.//strong[normalize-space()="alice"]]//button[normalize-space()="Accept"]`)),
			chromedp.WaitVisible(chromedp.Search(`//ul[@id="chat-friend-list"]/li[.//strong[normalize-space()="alice"]]`)),
			chromedp.KeyEvent(kb.Escape),
		)
		// alice's open dialog follows: boss is a friend, online.
		a.do("alice sees boss among her friends",
			chromedp.WaitVisible(chromedp.Search(`//ul[@id="chat-friend-list"]/li[.//strong[normalize-space()="boss"]]`)),
		)
		run(a, "boss shows online", chromedp.Poll[bool](`document.querySelector("#chat-friend-list .chat-dot")?.classList.contains("online")`))
		a.do("alice writes to boss",
			chromedp.Click(chromedp.Search(`//ul[@id="chat-friend-list"]/li[.//strong[normalize-space()="boss"]]//button[normalize-space()="Message"]`)),
			chromedp.WaitNotVisible(chromedp.CSS(`#chat-friends-dialog`)),
			chromedp.WaitVisible(chromedp.Search(`//h2[@id="chat-room-name" and normalize-space()="boss"]`)),
		)
		a.waitLive("alice")
		a.do("alice sends", chromedp.SendKeys(chromedp.CSS(`#chat-text`), "Got a minute? <i>private</i>"), chromedp.KeyEvent("\r"))
		dm := `#chat-convs a.chat-room`
		run(z, "boss gets the conversation with a badge", chromedp.Poll[bool](`(() => {
			const l = document.querySelector('`+dm+`');
			return l !== null && l.textContent.includes("alice") && l.querySelector(".chat-badge")?.firstChild.textContent === "1";
		})()`))
		z.do("boss opens it", chromedp.Click(chromedp.CSS(dm)))
		run(z, "boss reads alice's text", chromedp.Poll[bool](`[...document.querySelectorAll("#chat-messages .chat-msg-text")].some(p => p.textContent === "Got a minute? <i>private</i>")`))
		z.waitLive("boss")
		z.do("boss answers", chromedp.SendKeys(chromedp.CSS(`#chat-text`), "Sure"), chromedp.KeyEvent("\r"))
		run(a, "alice gets the answer live", chromedp.Poll[bool](`[...document.querySelectorAll("#chat-messages .chat-msg-text")].some(p => p.textContent === "Sure")`))

		// Presence: alice steps away; boss's page shows it on their
		// conversation at once.
		aliceDot := `#chat-convs .chat-dot[data-presence-user="` + strconv.FormatInt(alice.id, 10) + `"]`
		run(z, "boss sees alice online", chromedp.Poll[bool](`document.querySelector('`+aliceDot+`')?.classList.contains("online")`))
		a.do("alice is away", chromedp.SetValue(chromedp.CSS(`#chat-presence`), "away"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("chat-presence").dispatchEvent(new Event("change"))`))
		run(z, "boss sees alice away", chromedp.Poll[bool](`document.querySelector('`+aliceDot+`')?.classList.contains("away")`))
		var me struct{ Presence string }
		alice.call(http.MethodGet, "/chat/api/me", nil, http.StatusOK, &me)
		if me.Presence != "away" {
			t.Errorf("alice's chosen status: %q", me.Presence)
		}
	})

	t.Run("room management", func(t *testing.T) {
		use(t, z)
		z.do("boss creates a room",
			chromedp.Click(chromedp.CSS(`#chat-open-rooms-admin`)),
			chromedp.SendKeys(chromedp.CSS(`#chat-new-room-name`), "Design"),
			chromedp.SendKeys(chromedp.CSS(`#chat-new-room-topic`), "Pixels & people"),
			chromedp.SetValue(chromedp.CSS(`#chat-new-room-policy`), "open"),
			chromedp.Click(chromedp.Search(`//form[@id="chat-room-create"]//button[normalize-space()="Create the room"]`)),
			chromedp.WaitVisible(chromedp.Search(`//p[@id="chat-room-create-msg" and normalize-space()="Room Design created."]`)),
		)
		design := alice.rooms()["Design"]
		if design.ID == 0 || design.Policy != "open" || design.Member {
			t.Fatalf("the new room as alice sees it: %+v", design)
		}
		ra := `chat-ra-` + strconv.FormatInt(design.ID, 10)
		z.do("boss renames it",
			chromedp.Click(chromedp.Search(`//details[.//input[@id="`+ra+`-name"]]/summary`)),
			chromedp.SetValue(chromedp.CSS(`#`+ra+`-name`), "Design team"),
			chromedp.SendKeys(chromedp.CSS(`#`+ra+`-retention`), "30"),
			chromedp.Click(chromedp.Search(`//form[.//input[@id="`+ra+`-name"]]//button[normalize-space()="Save"]`)),
			chromedp.WaitVisible(chromedp.Search(`//form[.//input[@id="`+ra+`-name"]]/p[normalize-space()="Saved."]`)),
		)
		if got := boss.rooms()["Design team"]; got.ID != design.ID || got.RetentionDays == nil || *got.RetentionDays != 30 {
			t.Errorf("the room after saving: %+v", got)
		}
		// A name another room has: the API's sentence, next to the form.
		z.do("boss tries a taken name",
			chromedp.SetValue(chromedp.CSS(`#`+ra+`-name`), "general"),
			chromedp.Click(chromedp.Search(`//form[.//input[@id="`+ra+`-name"]]//button[normalize-space()="Save"]`)),
			chromedp.WaitVisible(chromedp.Search(`//form[.//input[@id="`+ra+`-name"]]/p[contains(@class,"error") and normalize-space()="A room of that name exists already."]`)),
			chromedp.KeyEvent(kb.Escape),
		)
	})

	t.Run("hostile text", func(t *testing.T) {
		use(t, a, z)
		z.do("boss opens General", chromedp.Navigate(s.URL+"/chat/rooms/"+strconv.FormatInt(general.ID, 10)), chromedp.WaitVisible(chromedp.CSS(`#chat-messages`)))
		z.waitLive("boss")
		const hostile = `<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"><svg onload="window.__pwned=3">`
		alice.post(general.ID, hostile)
		last := `(() => { const l = [...document.querySelectorAll("#chat-messages .chat-msg-text")]; return l.length ? l[l.length-1].textContent : ""; })()`
		run(z, "boss sees it live", chromedp.Poll[bool](last+` === `+strconv.Quote(hostile)))
		// Control characters the API refuses are shown as they are when
		// they are in the database all the same.
		const odd = "bell\u0007 escape\u001b[31m nul-free \u200e end"
		if _, err := s.srv.Module("chat").DB().Pool().Exec(t.Context(),
			`INSERT INTO messages (room_id, author_id, body) VALUES ($1, $2, $3)`, general.ID, alice.id, odd); err != nil {
			t.Fatal(err)
		}
		z.do("boss reloads", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#chat-messages`)))
		z.waitLive("boss")
		texts := run(z, "the texts", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#chat-messages .chat-msg-text")].slice(-2).map(p => p.textContent)`))
		if len(texts) != 2 || texts[0] != hostile || texts[1] != odd {
			t.Errorf("the last texts after a reload: %q", texts)
		}
		if run(z, "did anything run", chromedp.Evaluate[bool](`window.__pwned !== undefined || document.querySelector("#chat-messages img[src='x'], #chat-messages svg, #chat-messages script") !== null`)) {
			t.Error("hostile text became markup or ran")
		}
		// The API refuses control characters, and the page says why next
		// to the composer.
		z.do("boss sends a control character",
			chromedp.SetValue(chromedp.CSS(`#chat-text`), "ding\u0007"),
			chromedp.Click(chromedp.CSS(`#chat-send`)),
			chromedp.WaitVisible(chromedp.CSS(`#chat-composer-error`)),
		)
		if got := z.text("the composer's error", "#chat-composer-error"); got == "" {
			t.Error("no error next to the composer")
		}
	})

	t.Run("accessible", func(t *testing.T) {
		use(t, a)
		a.do("alice opens General",
			chromedp.Click(chromedp.CSS(`#chat-rooms a[data-room="`+strconv.FormatInt(general.ID, 10)+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#chat-messages .chat-msg`)),
		)
		a.checkAccessible("the chat")
		// The message list is one tab stop (its newest message; Up and
		// Down move from there), and only the focused message's buttons
		// are tab stops: from the list, Tab reaches the composer in a few
		// presses, not after every message's buttons.
		// (Shift+Tab from the composer: Tab from the pane's top would pass
		// the "Load older messages" button, whose focus scrolls the pane
		// to the top and loads older pages meanwhile.)
		a.do("back from the composer", chromedp.Focus(chromedp.CSS(`#chat-text`)), chromedp.KeyEvent(kb.Tab, chromedp.KeyModifiers(chromedp.ModifierShift)))
		if !run(a, "where Shift+Tab went", chromedp.Evaluate[bool](`document.activeElement === [...document.querySelectorAll("#chat-messages .chat-msg")].pop()`)) {
			t.Errorf("Shift+Tab from the composer went to %s, not the newest message", run(a, "focus", chromedp.Evaluate[string](`document.activeElement.outerHTML.slice(0, 200)`)))
		}
		presses := 0
		for ; presses < 6 && !run(a, "is the composer focused", chromedp.Evaluate[bool](`document.activeElement?.id === "chat-text"`)); presses++ {
			a.do("Tab", chromedp.KeyEvent(kb.Tab))
		}
		if presses == 6 {
			t.Errorf("6 presses of Tab from the newest message do not reach the composer; focus is on %s",
				run(a, "focus", chromedp.Evaluate[string](`document.activeElement.outerHTML.slice(0, 200)`)))
		}
		if n := run(a, "tab stops among the messages", chromedp.Evaluate[int](`[...document.querySelectorAll("#chat-messages button, #chat-messages a, #chat-messages [tabindex]")].filter(e => e.tabIndex >= 0 && !e.disabled).length`)); n > 1 {
			t.Errorf("with no message focused, the messages hold %d tab stops, want 1", n)
		}
		for _, d := range []string{"friends", "group", "profile"} {
			a.do("open "+d, chromedp.Click(chromedp.CSS(`#chat-open-`+d)), chromedp.WaitVisible(chromedp.CSS(`#chat-`+d+`-dialog`)))
			cwAccessible(a, "the "+d+" dialog")
			// alice has no picture: nothing to remove.
			if d == "profile" {
				run(a, "no Remove the picture button without a picture", chromedp.Poll[bool](`document.getElementById("chat-avatar-remove").hidden`))
			}
			a.do("close "+d, chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.CSS(`#chat-`+d+`-dialog`)))
		}
		ctx, cancel := a.step()
		defer cancel()
		if p, err := a.screenshot(ctx, "chat"); err == nil {
			t.Logf("the chat: %s", p)
		}
	})

	t.Run("themes", func(t *testing.T) {
		use(t, a)
		// Light and dark, in each bundled theme: the page is framed by the
		// theme and the chat passes axe. (Motion reduced: the themes' colour
		// transitions would have axe measure colours halfway. Only the chat:
		// the builtin theme's own header links fail contrast in dark.)
		defer a.do("back to light", cwMedia("light"))
		for _, name := range []string{"builtin", "harbor", "meadow"} {
			if err := s.srv.look.settings.Update(t.Context(), 0, settings.Change{Theme: &name}); err != nil {
				t.Fatal(err)
			}
			a.do("open the chat in "+name,
				chromedp.Navigate(s.URL+"/chat/rooms/"+strconv.FormatInt(general.ID, 10)),
				chromedp.WaitVisible(chromedp.CSS(`body.theme-`+name+` #chat-messages .chat-msg`)),
			)
			a.waitLive("alice")
			for _, scheme := range []string{"light", "dark"} {
				a.do(scheme, cwMedia(scheme))
				cwAccessible(a, "the chat in "+name+", "+scheme)
			}
			a.do("light", cwMedia("light"))
		}
	})

	t.Run("French errors", func(t *testing.T) {
		use(t, a)
		// The API's sentences built at run time ("There is no user
		// nobody.") are shown in the page's language too, the value kept.
		generalURL := s.URL + "/chat/rooms/" + strconv.FormatInt(general.ID, 10)
		defer a.do("back to English", cwLanguage(""), chromedp.Navigate(generalURL), chromedp.WaitVisible(chromedp.CSS(`#chat-messages .chat-msg`)))
		a.do("alice reads the chat in French",
			cwLanguage("fr"),
			chromedp.Navigate(generalURL),
			chromedp.WaitVisible(chromedp.CSS(`#chat-messages`)),
		)
		a.waitLive("alice")
		a.do("alice asks someone unknown to be friends",
			chromedp.Click(chromedp.CSS(`#chat-open-friends`)),
			chromedp.WaitVisible(chromedp.CSS(`#chat-friend-name`)),
			chromedp.SendKeys(chromedp.CSS(`#chat-friend-name`), "nobody"),
			chromedp.KeyEvent("\r"),
			chromedp.WaitVisible(chromedp.CSS(`#chat-friend-add-msg.error`)),
		)
		if got := a.text("the error", "#chat-friend-add-msg"); got != "Il n'y a pas d'utilisateur nobody." {
			t.Errorf("a French page says %q", got)
		}
		a.do("close friends", chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.CSS(`#chat-friends-dialog`)))
	})

	t.Run("phone", func(t *testing.T) {
		use(t, a)
		visible := func(id string) bool {
			return run(a, "is #"+id+" shown", chromedp.Evaluate[bool](`getComputedStyle(document.getElementById("`+id+`")).display !== "none"`))
		}
		// A small phone (375×667 CSS pixels): nothing wider than the
		// screen, and the composer on it without scrolling the page.
		fits := func(what string) {
			t.Helper()
			if bad := run(a, what+": what overflows", chromedp.Evaluate[string](`(() => {
				const w = document.documentElement.clientWidth;
				if (document.documentElement.scrollWidth > w) return "the page is " + document.documentElement.scrollWidth + "px wide";
				const e = [...document.querySelectorAll("#chat *")].find(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > w + 1; });
				return e ? e.tagName + (e.id ? "#" + e.id : "") + "." + e.className + " ends at " + Math.round(e.getBoundingClientRect().right) + "px" : "";
			})()`)); bad != "" {
				t.Errorf("%s on a 375px screen: %s", what, bad)
			}
		}
		a.do("alice opens General", chromedp.Navigate(s.URL+"/chat/rooms/"+strconv.FormatInt(general.ID, 10)), chromedp.WaitVisible(chromedp.CSS(`#chat-messages .chat-msg`)))
		a.do("a phone's screen", chromedp.EmulateViewport(375, 667, chromedp.EmulateMobile),
			cwTouch(true))
		defer a.do("back to a desktop", chromedp.EmulateViewport(1024, 768), cwTouch(false))
		if !run(a, "a touch screen without a mouse", chromedp.Evaluate[bool](`matchMedia("(pointer: coarse)").matches && !matchMedia("(any-pointer: fine)").matches`)) {
			t.Log("the emulated phone still has a fine pointer: ", run(a, "pointers", chromedp.Evaluate[string](`[matchMedia("(pointer: coarse)").matches, matchMedia("(any-pointer: fine)").matches].join(" ")`)))
		}
		if !visible("chat-main") || visible("chat-side") {
			t.Fatal("on a phone, an open room does not fill the screen")
		}
		fits("a room")
		// Polled: the page lays itself out again after the viewport's
		// change (the check once ran before that and failed, while the
		// screenshot taken later showed the button in place).
		if !run(a, "is the composer on the screen", chromedp.Poll[bool](`(() => {
			const r = document.getElementById("chat-send").getBoundingClientRect();
			return r.height > 0 && r.bottom <= window.innerHeight && r.right <= document.documentElement.clientWidth;
		})()`)) {
			t.Error("on a phone, the Send button is off the screen")
		}
		// A phone's keyboard has no Shift: Enter goes to a new line, Send
		// sends.
		a.do("type two lines on a phone",
			chromedp.Focus(chromedp.CSS(`#chat-text`)),
			chromedp.SendKeys(chromedp.CSS(`#chat-text`), "first line"),
			chromedp.KeyEvent("\r"),
			chromedp.SendKeys(chromedp.CSS(`#chat-text`), "second line"),
		)
		if got := run(a, "the composer's text", chromedp.Evaluate[string](`document.getElementById("chat-text").value`)); got != "first line\nsecond line" {
			t.Errorf("on a phone, Enter and more typing gave %q in the composer", got)
		}
		a.do("send it", chromedp.Click(chromedp.CSS(`#chat-send`)))
		run(a, "the two lines are one message", chromedp.Poll[bool](`(() => { const l = [...document.querySelectorAll("#chat-messages .chat-msg-text")]; return l.length && l[l.length-1].textContent === "first line\nsecond line"; })()`))
		ctx, cancel := a.step()
		if p, err := a.screenshot(ctx, "chat-phone"); err == nil {
			t.Logf("the chat on a phone: %s", p)
		}
		cancel()
		a.do("back to the rooms", chromedp.Click(chromedp.CSS(`#chat-back`)))
		if visible("chat-main") || !visible("chat-side") {
			t.Fatal("on a phone, the back button does not show the rooms")
		}
		fits("the rooms")
		for _, d := range []string{"friends", "profile"} {
			a.do("open "+d, chromedp.Click(chromedp.CSS(`#chat-open-`+d)), chromedp.WaitVisible(chromedp.CSS(`#chat-`+d+`-dialog`)))
			fits("the " + d + " dialog")
			a.do("close "+d, chromedp.KeyEvent(kb.Escape), chromedp.WaitNotVisible(chromedp.CSS(`#chat-`+d+`-dialog`)))
		}
		if loc := run(a, "the address", chromedp.Evaluate[string](`location.pathname`)); loc != "/chat" {
			t.Errorf("the rooms at %s", loc)
		}
		a.do("open General", chromedp.Click(chromedp.CSS(`#chat-rooms a[data-room="`+strconv.FormatInt(general.ID, 10)+`"]`)))
		run(a, "General is open", chromedp.Poll[bool](`document.getElementById("chat-room-name").textContent === "General" && document.querySelectorAll("#chat-messages .chat-msg").length > 0`))
		if !visible("chat-main") || visible("chat-side") {
			t.Fatal("on a phone, opening a room does not show it")
		}
	})

	// A room opened to everyone ends every page's subscription to it
	// (the fence, realtime.revoke for everyone): the page that has it open
	// subscribes again and shows what is said next, live.
	t.Run("a room opened to everyone stays live", func(t *testing.T) {
		use(t, z)
		var launch cwRoom
		boss.call("POST", "/chat/api/rooms", map[string]string{"name": "Launch", "policy": "invite"}, 200, &launch)
		boss.call("POST", fmt.Sprintf("/chat/api/rooms/%d/members", launch.ID), map[string]string{"username": "alice"}, 204, nil)
		z.do("boss opens Launch", chromedp.Navigate(s.URL+"/chat/rooms/"+strconv.FormatInt(launch.ID, 10)), chromedp.WaitVisible(chromedp.CSS(`#chat-messages`)))
		z.waitLive("boss")
		boss.call("PATCH", fmt.Sprintf("/chat/api/rooms/%d", launch.ID), map[string]string{"policy": "everyone"}, 200, nil)
		last := `(() => { const l = [...document.querySelectorAll("#chat-messages .chat-msg-text")]; return l.length ? l[l.length-1].textContent : ""; })()`
		alice.post(launch.ID, "open to all now")
		run(z, "boss sees what was said across the fence", chromedp.Poll[bool](last+` === "open to all now"`))
		z.waitLive("boss")
		alice.post(launch.ID, "and live again")
		run(z, "boss sees it live", chromedp.Poll[bool](last+` === "and live again"`))
	})

	// A resync re-renders the message list (after a revocation, such as a
	// room's fence, or a reload): the keyboard's place stays on the
	// message it was on, not dropped to the page's body.
	t.Run("a resync keeps the keyboard's place", func(t *testing.T) {
		use(t, a)
		launch := alice.rooms()["Launch"]
		a.do("alice opens Launch", chromedp.Navigate(s.URL+"/chat/rooms/"+strconv.FormatInt(launch.ID, 10)), chromedp.WaitVisible(chromedp.CSS(`#chat-messages .chat-msg`)))
		a.waitLive("alice")
		id := run(a, "focus the newest message", chromedp.Evaluate[string](`(() => {
			const li = [...document.querySelectorAll("#chat-messages .chat-msg")].pop();
			li.focus(); window.__before = li; return li.id; })()`))
		// Archived, then open again: each ends the page's subscription,
		// and the page reads the room again.
		boss.call("PATCH", fmt.Sprintf("/chat/api/rooms/%d", launch.ID), map[string]any{"archived": true}, 200, nil)
		boss.call("PATCH", fmt.Sprintf("/chat/api/rooms/%d", launch.ID), map[string]any{"archived": false}, 200, nil)
		run(a, "the list is drawn again", chromedp.Poll[bool](`(() => { const li = document.getElementById(`+strconv.Quote(id)+`); return li !== null && li !== window.__before; })()`))
		if got := run(a, "where the focus is", chromedp.Evaluate[string](`document.activeElement?.id || document.activeElement?.tagName`)); got != id {
			t.Errorf("after the resync the focus is on %s, not the message %s", got, id)
		}
		a.waitLive("alice")
		// The same in the room list, redrawn when a message comes to a
		// room that is not open (from General, as the next steps expect).
		a.do("alice opens General", chromedp.Navigate(s.URL+"/chat/rooms/"+strconv.FormatInt(general.ID, 10)), chromedp.WaitVisible(chromedp.CSS(`#chat-messages .chat-msg`)))
		a.waitLive("alice")
		link := `#chat-side a[data-room="` + strconv.FormatInt(launch.ID, 10) + `"]`
		run(a, "focus Launch in the list", chromedp.Evaluate[bool](`(() => { const l = document.querySelector(`+strconv.Quote(link)+`); l.focus(); window.__link = l; return true; })()`))
		boss.post(launch.ID, "meanwhile in Launch")
		run(a, "the list is drawn again", chromedp.Poll[bool](`(() => { const l = document.querySelector(`+strconv.Quote(link)+`); return l !== null && l !== window.__link; })()`))
		if !run(a, "where the focus is", chromedp.Evaluate[bool](`document.activeElement === document.querySelector(`+strconv.Quote(link)+`)`)) {
			t.Errorf("after the list was drawn again the focus is on %s, not Launch's link", run(a, "focus", chromedp.Evaluate[string](`document.activeElement?.outerHTML.slice(0, 120) || ""`)))
		}
	})
}

// cwLanguage has the tab ask for pages in lang ("": the browser's own).
func cwLanguage(lang string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		h := network.Headers{}
		if lang != "" {
			h["Accept-Language"] = lang
		}
		_, err := cdp.Call(ctx, t, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: h})
		return err
	})
}

// cwTouch emulates a touch screen (on) or takes it away.
func cwTouch(on bool) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: on, MaxTouchPoints: 5})
		return err
	})
}

// cwMedia emulates prefers-color-scheme: scheme, with reduced motion.
func cwMedia(scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{
			{Name: "prefers-color-scheme", Value: scheme}, {Name: "prefers-reduced-motion", Value: "reduce"},
		}})
		return err
	})
}

// cwAccessible runs axe-core over the chat (#chat) of b's page and fails
// the test on every serious or critical violation (checkAccessible checks
// the whole page, the theme's own parts included).
func cwAccessible(b *browser, page string) {
	b.t.Helper()
	if !run(b, page+": is axe loaded", chromedp.Evaluate[bool](`typeof axe !== "undefined"`)) {
		run(b, page+": load axe", chromedp.Evaluate[json.RawMessage](axeSource(b.t)+";true"))
	}
	raw := run(b, page+": run axe", chromedp.Evaluate[string](
		`axe.run("#chat", {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	var vs []axeViolation
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		b.t.Fatalf("%s: axe answered %.200s: %v", page, raw, err)
	}
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			b.t.Logf("%s: axe (%s) %s: %s", page, v.Impact, v.ID, v.Help)
			continue
		}
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v %.160s", n.Target, n.HTML))
		}
		b.t.Errorf("%s: axe (%s) %s: %s\n  %s", page, v.Impact, v.ID, v.Help, strings.Join(where, "\n  "))
	}
}

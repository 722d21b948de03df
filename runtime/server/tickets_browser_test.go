package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/websonic/websonic/runtime/internal/site"
)

// The support desk's pages (modules/tickets: pages.go, assets/templates/
// tickets.html, assets/tickets.js) in a real runtime: what each person
// gets over plain HTTP, and a customer and a staff member in two Chromium
// sessions (issue 12: a customer opens a ticket with an attachment, a
// staff member sees it appear in the queue without reload, claims it and
// answers, the customer sees the answer without reload).

// tkwSkipWithoutAPI skips t while the routes the pages read are not in
// the module yet (the customer, staff and admin slices of issue 12 land
// separately): the pages depend on API.md only. c is an admin, whom the
// runtime lets through to every prefix.
func tkwSkipWithoutAPI(t *testing.T, c *chatter) {
	t.Helper()
	for _, path := range []string{"/tickets/api/panels", "/tickets/staff/api/counts", "/tickets/admin/api/panels"} {
		st, b := c.api(t, http.MethodGet, path, nil)
		if st == http.StatusNotFound && !json.Valid(b) {
			t.Skipf("the module does not serve %s yet (an API slice of issue 12 is not merged)", path)
		}
	}
}

// tkwPage fetches a page as c, in lang ("": none), and returns its
// status, body and its #tk-state.
func tkwPage(t *testing.T, c *chatter, path, lang string) (int, string, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if lang != "" {
		req.Header.Set("Accept-Language", lang)
	}
	resp, err := c.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	page := body(t, resp)
	var state map[string]any
	if m := tkwState.FindStringSubmatch(page); m != nil {
		if err := json.Unmarshal([]byte(m[1]), &state); err != nil {
			t.Fatalf("GET %s: #tk-state is not JSON: %v\n%s", path, err, m[1])
		}
	}
	return resp.StatusCode, page, state
}

var tkwState = regexp.MustCompile(`(?s)<script type="application/json" id="tk-state">(.*?)</script>`)

// tkwHostile is a subject that would be markup if a page let it.
const tkwHostile = `<b>Printer</b> on fire <img src=x onerror="document.title='pwned'">`

// tkwOpen opens a ticket through the API as c.
func tkwOpen(t *testing.T, c *chatter, panel int64, subject string) tkTicket {
	t.Helper()
	var tk tkTicket
	c.must(t, http.MethodPost, "/tickets/api/tickets", map[string]any{
		"panel_id": panel, "subject": subject, "description": "It smokes.\nThen it stops.", "fields": map[string]any{},
	}, http.StatusCreated, &tk)
	return tk
}

// tkwPanels are the panels c may open a ticket in, by name.
func tkwPanels(t *testing.T, c *chatter) map[string]int64 {
	t.Helper()
	var out struct {
		Panels []struct {
			ID   int64  `json:"id"`
			Name string `json:"name"`
		} `json:"panels"`
	}
	c.must(t, http.MethodGet, "/tickets/api/panels", nil, http.StatusOK, &out)
	m := map[string]int64{}
	for _, p := range out.Panels {
		m[p.Name] = p.ID
	}
	return m
}

// TestTicketsWebPages: each page over plain HTTP, for whom it is: the
// customer's view of their ticket (no notes, people's text as text), the
// staff view of the same ticket, the queue with its counts, admin and
// reports, a stranger's 404, French, and the guests' page.
func TestTicketsWebPages(t *testing.T) {
	s := ticketsSite(t)
	ada := s.person(t, "ada", site.RoleAdmin)
	tkwSkipWithoutAPI(t, ada)
	carol := s.person(t, "carol", site.RoleMember)
	dave := s.person(t, "dave", site.RoleMember)
	sam := s.person(t, "sam", site.RoleStaff)
	panels := tkwPanels(t, carol)
	tk := tkwOpen(t, carol, panels["Problem"], tkwHostile)
	sam.must(t, http.MethodPost, fmt.Sprintf("/tickets/staff/api/tickets/%d/notes", tk.ID), map[string]any{"body": "secret note: customer is grumpy", "attachments": []int64{}}, http.StatusCreated, nil)
	ticketPath := "/tickets/" + strconv.FormatInt(tk.ID, 10)

	t.Run("customer's ticket", func(t *testing.T) {
		st, page, state := tkwPage(t, carol, ticketPath, "")
		if st != http.StatusOK || !strings.Contains(page, `data-page="ticket"`) || strings.Contains(page, `data-staff`) {
			t.Fatalf("%d %.600s", st, page)
		}
		view := state["state"].(map[string]any)["view"].(map[string]any)
		if view["ticket"].(map[string]any)["subject"] != tkwHostile || view["notes"] != nil {
			t.Errorf("the customer's state: %v", view)
		}
		if strings.Contains(page, "grumpy") || strings.Contains(page, `id="tk-notes"`) {
			t.Error("the customer's page shows a note")
		}
		if strings.Contains(page, "<img src=x") || strings.Contains(page, "<b>Printer") {
			t.Error("the subject became markup")
		}
	})
	t.Run("staff's ticket", func(t *testing.T) {
		st, page, state := tkwPage(t, sam, ticketPath, "")
		if st != http.StatusOK || !strings.Contains(page, `data-staff="true"`) || !strings.Contains(page, `id="tk-notes"`) {
			t.Fatalf("%d %.600s", st, page)
		}
		notes, _ := state["state"].(map[string]any)["view"].(map[string]any)["notes"].([]any)
		if len(notes) != 1 || notes[0].(map[string]any)["body"] != "secret note: customer is grumpy" {
			t.Errorf("the staff's notes: %v", notes)
		}
	})
	t.Run("a stranger's 404", func(t *testing.T) {
		st, page, state := tkwPage(t, dave, ticketPath, "")
		if st != http.StatusNotFound || !strings.Contains(page, "There is no such ticket, or it is not yours.") || strings.Contains(page, "Printer") {
			t.Errorf("%d %.600s", st, page)
		}
		if state["state"].(map[string]any)["view"] != nil {
			t.Errorf("a stranger's state: %v", state)
		}
	})
	t.Run("my requests", func(t *testing.T) {
		st, page, state := tkwPage(t, carol, "/tickets", "fr")
		if st != http.StatusOK || !strings.Contains(page, "<h1>Mes demandes</h1>") || !strings.Contains(page, `"Overdue": "En retard"`) {
			t.Fatalf("%d %.600s", st, page)
		}
		list := state["state"].(map[string]any)["list"].(map[string]any)["tickets"].([]any)
		if len(list) != 1 || list[0].(map[string]any)["id"] != float64(tk.ID) {
			t.Errorf("carol's list: %v", list)
		}
		if _, _, state := tkwPage(t, dave, "/tickets", ""); len(state["state"].(map[string]any)["list"].(map[string]any)["tickets"].([]any)) != 0 {
			t.Error("dave's list shows carol's ticket")
		}
	})
	t.Run("queue", func(t *testing.T) {
		st, page, state := tkwPage(t, sam, "/tickets/staff?q=printer&evil=1", "")
		if st != http.StatusOK || !strings.Contains(page, `data-page="staff"`) {
			t.Fatalf("%d %.600s", st, page)
		}
		in := state["state"].(map[string]any)
		if q := in["query"].(map[string]any); len(q) != 1 || q["q"].([]any)[0] != "printer" {
			t.Errorf("the queue's query: %v", q)
		}
		queue := in["queue"].(map[string]any)["tickets"].([]any)
		if len(queue) != 1 || queue[0].(map[string]any)["subject"] != tkwHostile || in["counts"].(map[string]any)["new"] != 1.0 {
			t.Errorf("the queue: %v; counts %v", queue, in["counts"])
		}
		if len(in["panels"].([]any)) != 3 {
			t.Errorf("the panels sam works: %v", in["panels"])
		}
		if st, page, _ := tkwPage(t, carol, "/tickets/staff", ""); st == http.StatusOK && strings.Contains(page, `data-page="staff"`) {
			t.Error("a member got the queue")
		}
	})
	t.Run("admin and reports", func(t *testing.T) {
		st, page, state := tkwPage(t, ada, "/tickets/admin", "")
		if st != http.StatusOK || !strings.Contains(page, `id="tk-panel-form"`) {
			t.Fatalf("%d %.600s", st, page)
		}
		if ps := state["state"].(map[string]any)["panels"].(map[string]any)["panels"].([]any); len(ps) != 3 {
			t.Errorf("the admin's panels: %v", ps)
		}
		st, page, _ = tkwPage(t, ada, "/tickets/admin/reports?days=7", "")
		if st != http.StatusOK || !strings.Contains(page, "<h2>The last 7 days</h2>") ||
			!strings.Contains(page, `<tr><th scope="row">Requests opened</th><td class="num">1</td></tr>`) {
			t.Errorf("%d %.2000s", st, page)
		}
		if st, page, _ := tkwPage(t, sam, "/tickets/admin", ""); st == http.StatusOK && strings.Contains(page, `data-page="admin"`) {
			t.Error("a staff member got the admin page")
		}
	})
	t.Run("guest", func(t *testing.T) {
		anon := newChatter(t, s.URL, "anon", "10.9.9.9")
		st, page, state := tkwPage(t, anon, "/tickets/guest", "")
		if st == http.StatusOK || !strings.Contains(page, `data-page="guest"`) || state["error"] == "" {
			t.Errorf("guests not allowed: %d %v", st, state)
		}
		if st, page, _ := tkwPage(t, anon, "/tickets/guest/t/not-a-token", ""); st != http.StatusNotFound || !strings.Contains(page, "This link does not lead to a request.") {
			t.Errorf("a bad link: %d %.600s", st, page)
		}
	})
}

// tkwScriptErrors fails t, when it ends, on every uncaught exception and
// console.error of b's pages (tickets.js logs with console.error what is
// not the API's answer).
func tkwScriptErrors(t *testing.T, b *browser) {
	t.Helper()
	var mu sync.Mutex
	var errs []string
	err := chromedp.Listen(b.ctx, func(ev any) {
		var line string
		switch ev := ev.(type) {
		case *cdpruntime.EventExceptionThrown:
			line = ev.ExceptionDetails.Text
			if ev.ExceptionDetails.Exception != nil {
				line += " " + ev.ExceptionDetails.Exception.Description
			}
			line += fmt.Sprintf(" (%s:%d)", ev.ExceptionDetails.URL, ev.ExceptionDetails.LineNumber+1)
		case *cdpruntime.EventConsoleAPICalled:
			if ev.Type != cdpruntime.ConsoleAPICalledTypeError {
				return
			}
			line = "console.error:"
			for _, a := range ev.Args {
				line += " " + a.Description + string(a.Value)
			}
		default:
			return
		}
		mu.Lock()
		errs = append(errs, line)
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, e := range errs {
			t.Errorf("a page's script failed: %s", e)
		}
	})
}

// tkwTab is one Chromium tab of its own browser context (its own
// cookies), signed in as username (""; a visitor), in lang ("": the
// browser's own).
func tkwTab(t *testing.T, first *browser, s *testSite, username, lang string, fresh bool) *browser {
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
	tkwScriptErrors(t, b)
	b.do("language", cwLanguage(lang))
	if username != "" {
		b.do("sign in as "+username,
			chromedp.Navigate(s.URL+"/login?next=/tickets"),
			chromedp.WaitVisible(chromedp.CSS(`#username`)),
			chromedp.SendKeys(chromedp.CSS(`#username`), username),
			chromedp.SendKeys(chromedp.CSS(`#password`), chatPassword),
			chromedp.Submit(chromedp.CSS(`#password`)),
			chromedp.WaitVisible(chromedp.CSS(`#tk`)),
		)
	}
	return b
}

// tkwGo opens path and waits until its script has drawn the page and, with
// live, until every realtime subscription of the page is confirmed.
func (b *browser) tkwGo(url string, live bool) {
	b.t.Helper()
	b.do("open "+url, chromedp.Navigate(url))
	b.tkwReady(live)
}

// tkwReady waits as tkwGo does for a page the tab is going to (a link
// followed, a form's script that moves on).
func (b *browser) tkwReady(live bool) {
	b.t.Helper()
	cond := `document.getElementById("tk")?.dataset.ready === "true"`
	if live {
		cond += ` && document.getElementById("tk").dataset.live === "true"`
	}
	b.tkwWait("the page is ready", cond)
}

// tkwWait polls cond until it is true, through page loads (which end
// chromedp.Poll's evaluation context), until the step's deadline.
func (b *browser) tkwWait(step, cond string) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	var last error
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
		if err == nil && ok {
			return
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			b.t.Fatalf("%s: not before the deadline (last error: %v)", step, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tkwNoScroll fails unless the page fits the width of the window (no
// horizontal scrolling).
func (b *browser) tkwNoScroll(what string) {
	b.t.Helper()
	if w := run(b, what+": widths", chromedp.Evaluate[[]int](`[document.documentElement.scrollWidth, window.innerWidth]`)); w[0] > w[1] {
		b.t.Errorf("%s: the page is %dpx wide in a %dpx window", what, w[0], w[1])
	}
}

// tkwPNG is the smallest PNG (1×1), a screenshot as far as the desk knows.
var tkwPNG = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82")

// TestTicketsWebBrowser: the journey in two Chromium sessions,
// then French, a phone's screen, the guest's pages and axe-core.
func TestTicketsWebBrowser(t *testing.T) {
	first := newBrowser(t)
	first.deadline = time.Now().Add(3 * time.Minute)
	s := ticketsSite(t)
	adaAPI := s.person(t, "ada", site.RoleAdmin)
	tkwSkipWithoutAPI(t, adaAPI)
	carolAPI := s.person(t, "carol", site.RoleMember)
	samAPI := s.person(t, "sam", site.RoleStaff)
	problem := tkwPanels(t, carolAPI)["Problem"]

	// use makes the tabs report to subtest t while it runs.
	use := func(t *testing.T, tabs ...*browser) {
		for _, b := range tabs {
			old := b.t
			b.t = t
			t.Cleanup(func() { b.t = old })
		}
	}
	z := tkwTab(t, first, s, "sam", "", false)
	c := tkwTab(t, first, s, "carol", "", true)
	shot := filepath.Join(t.TempDir(), "screenshot.png")
	if err := os.WriteFile(shot, tkwPNG, 0o644); err != nil {
		t.Fatal(err)
	}
	const answer = "Unplug it, then plug it back in. <i>Really</i>."
	var ticket int64

	t.Run("journey", func(t *testing.T) {
		use(t, c, z)
		z.tkwGo(s.URL+"/tickets/staff", true)
		if n := run(z, "the queue is empty", chromedp.Evaluate[int](`document.querySelectorAll("#tk-queue [data-ticket]").length`)); n != 0 {
			t.Fatalf("the queue shows %d tickets before any", n)
		}

		// Carol opens a request with a screenshot.
		c.tkwGo(s.URL+"/tickets", true)
		c.do("carol asks for a new request", chromedp.Click(chromedp.CSS(`a.tk-big`)))
		c.tkwReady(false)
		c.do("carol picks Problem and fills in the form",
			chromedp.Click(chromedp.CSS(`button.tk-panel[data-panel="`+strconv.FormatInt(problem, 10)+`"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#tk-form`)),
			chromedp.SendKeys(chromedp.CSS(`#tk-subject-input`), tkwHostile),
			chromedp.SendKeys(chromedp.CSS(`#tk-description`), "It smokes when I print."),
			chromedp.Click(chromedp.CSS(`input[name="urgency"][value="3"]`)),
			chromedp.SetUploadFiles(chromedp.CSS(`#tk-files`), []string{shot}),
			chromedp.Click(chromedp.CSS(`#tk-send`)),
		)
		c.tkwReady(true)
		loc := run(c, "where carol is", chromedp.Location())
		m := regexp.MustCompile(`/tickets/(\d+)$`).FindStringSubmatch(loc)
		if m == nil {
			t.Fatalf("after sending, carol is at %s", loc)
		}
		ticket, _ = strconv.ParseInt(m[1], 10, 64)
		if got := run(c, "the title", chromedp.Evaluate[string](`document.getElementById("tk-title").textContent`)); got != "#"+m[1]+" "+tkwHostile {
			t.Errorf("carol's ticket is titled %q", got)
		}
		run(c, "the screenshot is attached", chromedp.Poll[bool](`[...document.querySelectorAll("#tk-messages .tk-files a")].some(a => a.textContent === "screenshot.png" && a.getAttribute("href").startsWith("/tickets/attachments/"))`))

		// Sam's queue shows it without a reload, as text.
		row := `document.querySelector('#tk-queue [data-ticket="` + m[1] + `"]')`
		run(z, "the new ticket appears in sam's queue", chromedp.Poll[bool](row+` !== null`))
		if got := run(z, "its subject", chromedp.Evaluate[string](row+`.querySelector(".tk-item-subject").textContent`)); got != tkwHostile {
			t.Errorf("the queue shows the subject as %q", got)
		}
		if run(z, "look for markup", chromedp.Evaluate[bool](`document.querySelector("#tk-queue b, #tk-queue img, #tk-title b") !== null || document.title === "pwned"`)) {
			t.Error("the subject became markup")
		}
		run(z, "the New tab counts it", chromedp.Poll[bool](`document.querySelector('#tk-tabs [data-tab="new"] .tk-count').textContent === "1"`))

		// Sam writes a canned reply for the Problem panel.
		z.do("sam writes a canned reply",
			chromedp.Click(chromedp.CSS(`#tk-canned-box summary`)),
			chromedp.WaitVisible(chromedp.CSS(`#tk-canned-form`)),
			chromedp.SendKeys(chromedp.CSS(`#tk-c-title`), "Restart"),
			chromedp.SendKeys(chromedp.CSS(`#tk-c-body`), "Please restart the printer."),
			chromedp.SetValue(chromedp.CSS(`#tk-c-panel`), strconv.FormatInt(problem, 10)),
			chromedp.Click(chromedp.CSS(`#tk-canned-form button[type="submit"]`)),
		)
		z.tkwWait("the canned reply is listed", `[...document.querySelectorAll("#tk-canned-list strong")].some(s => s.textContent === "Restart")`)

		// Sam opens the ticket, claims it and answers.
		z.do("sam opens the ticket", chromedp.Click(chromedp.CSS(`#tk-queue [data-ticket="`+m[1]+`"] a`)))
		z.tkwReady(true)
		z.do("sam claims it", chromedp.Click(chromedp.CSS(`#tk-claim`)))
		run(z, "sam has it", chromedp.Poll[bool](`document.getElementById("tk-who").textContent.includes("sam") && document.getElementById("tk-claim").hidden`))
		z.tkwWait("the canned replies are offered", `document.querySelectorAll("#tk-canned option").length === 2`)
		z.do("sam inserts the canned reply",
			chromedp.SetValue(chromedp.CSS(`#tk-canned`), run(z, "its id", chromedp.Evaluate[string](`document.querySelectorAll("#tk-canned option")[1].value`))),
			chromedp.Click(chromedp.CSS(`#tk-canned-go`)),
		)
		if v := run(z, "the reply box", chromedp.Evaluate[string](`document.getElementById("tk-reply-body").value`)); v != "Please restart the printer." {
			t.Errorf("after inserting the canned reply the box holds %q", v)
		}
		run(z, "sam clears the box", chromedp.Evaluate[string](`document.getElementById("tk-reply-body").value = ""`))
		run(z, "the screenshot is in sam's view", chromedp.Poll[bool](`[...document.querySelectorAll("#tk-messages .tk-files a")].some(a => a.textContent === "screenshot.png")`))
		z.do("sam answers",
			chromedp.SendKeys(chromedp.CSS(`#tk-reply-body`), answer),
			chromedp.Click(chromedp.CSS(`#tk-reply-send`)),
		)
		run(z, "sam's answer is shown", chromedp.Poll[bool](`[...document.querySelectorAll("#tk-messages .tk-msg.staff .tk-body")].some(p => p.textContent === `+strconv.Quote(answer)+`)`))

		// Carol sees it without a reload, and the claim.
		run(c, "carol sees the answer", chromedp.Poll[bool](`[...document.querySelectorAll("#tk-messages .tk-msg.staff .tk-body")].some(p => p.textContent === `+strconv.Quote(answer)+`)`))
		run(c, "carol sees who took it", chromedp.Poll[bool](`[...document.querySelectorAll("#tk-messages .tk-event")].some(e => e.textContent.includes("sam is taking care of this request."))`))
		if run(c, "look for markup", chromedp.Evaluate[bool](`document.querySelector("#tk-messages i") !== null`)) {
			t.Error("the answer became markup")
		}
		status := run(c, "the status", chromedp.Evaluate[string](`document.querySelector("#tk-meta .tk-status").textContent`))
		if status != "Being handled" {
			t.Errorf("carol's ticket says %q", status)
		}
		if id := run(z, "sam's focus", chromedp.Evaluate[string](`document.activeElement.id`)); id != "tk-reply-send" {
			t.Errorf("after sending, sam's focus is on #%s, not back on Send", id)
		}

		// Carol's list marks a new answer without a reload.
		c.tkwGo(s.URL+"/tickets", true)
		if run(c, "nothing new", chromedp.Evaluate[bool](`document.querySelector("#tk-list .tk-item.unread") !== null`)) {
			t.Error("carol's list marks as new an answer she read")
		}
		samAPI.must(t, http.MethodPost, "/tickets/staff/api/tickets/"+m[1]+"/replies", map[string]any{"body": "One more thing: check the cable.", "attachments": []int64{}}, http.StatusCreated, nil)
		c.tkwWait("carol's list marks the new answer", `document.querySelector('#tk-list .tk-item.unread .tk-badge.new')?.textContent === "New answer"`)
	})

	t.Run("French", func(t *testing.T) {
		if ticket == 0 {
			t.Skip("no ticket")
		}
		use(t, c)
		c.do("French", cwLanguage("fr"))
		c.tkwGo(s.URL+"/tickets", true)
		if h := c.text("the heading", "h1"); h != "Mes demandes" {
			t.Errorf("the heading is %q", h)
		}
		if title := run(c, "the window's title", chromedp.Evaluate[string](`document.title`)); !strings.HasPrefix(title, "Mes demandes · ") {
			t.Errorf("the window's title is %q", title)
		}
		if st := run(c, "the status", chromedp.Evaluate[string](`document.querySelector("#tk-list .tk-status").textContent`)); st != "En cours de traitement" {
			t.Errorf("the status says %q", st)
		}
		c.tkwGo(s.URL+"/tickets/"+strconv.FormatInt(ticket, 10), true)
		c.do("carol sends an empty answer", chromedp.Click(chromedp.CSS(`#tk-reply-send`)))
		if msg := c.text("the message", "#tk-reply-msg"); msg != "Écrivez d'abord votre message." {
			t.Errorf("the empty answer's message: %q", msg)
		}
		c.do("English again", cwLanguage(""))
	})

	t.Run("phone", func(t *testing.T) {
		if ticket == 0 {
			t.Skip("no ticket")
		}
		use(t, c, z)
		for _, b := range []*browser{c, z} {
			b.do("a phone's screen", chromedp.EmulateViewport(375, 667, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		}
		t.Cleanup(func() {
			for _, b := range []*browser{c, z} {
				b.do("a computer's screen", chromedp.EmulateViewport(1024, 768))
			}
		})
		for _, p := range []struct {
			b    *browser
			path string
		}{{c, "/tickets"}, {c, "/tickets/new?panel=" + strconv.FormatInt(problem, 10)}, {c, fmt.Sprintf("/tickets/%d", ticket)}, {z, "/tickets/staff"}, {z, fmt.Sprintf("/tickets/%d", ticket)}} {
			p.b.tkwGo(s.URL+p.path, false)
			p.b.tkwNoScroll(p.path)
		}
		// The staff view stacks: the notes under the conversation.
		if !run(z, "stacked", chromedp.Evaluate[bool](`document.querySelector(".tk-notes").getBoundingClientRect().top >= document.querySelector(".tk-conv").getBoundingClientRect().bottom`)) {
			t.Error("on a phone the notes are not under the conversation")
		}
	})

	t.Run("accessible", func(t *testing.T) {
		if ticket == 0 {
			t.Skip("no ticket")
		}
		use(t, c, z)
		c.tkwGo(s.URL+"/tickets", false)
		c.checkAccessible("my requests")
		c.tkwGo(s.URL+"/tickets/new?panel="+strconv.FormatInt(problem, 10), false)
		c.checkAccessible("new request")
		c.tkwGo(s.URL+fmt.Sprintf("/tickets/%d", ticket), false)
		c.checkAccessible("customer's ticket")
		z.tkwGo(s.URL+"/tickets/staff", false)
		z.checkAccessible("queue")
		z.tkwGo(s.URL+fmt.Sprintf("/tickets/%d", ticket), false)
		z.checkAccessible("staff's ticket")
		// The keyboard alone: Tab reaches the reply box and Send.
		z.do("focus the reply", chromedp.Focus(chromedp.CSS(`#tk-reply-body`)))
		z.do("Tab", chromedp.KeyEvent("\t"))
		if id := run(z, "focus", chromedp.Evaluate[string](`document.activeElement.id`)); id != "tk-reply-files" {
			t.Errorf("Tab from the reply box goes to #%s", id)
		}
	})
	t.Run("a long ticket", func(t *testing.T) {
		// Too long to come with the page (the host's page limits): the
		// script reads it from the API.
		use(t, c)
		long := tkwOpen(t, carolAPI, problem, "A long story")
		text := strings.Repeat("word ", 3999) + "last." // 20,000 characters, the most a reply holds
		for range 20 {
			carolAPI.must(t, http.MethodPost, fmt.Sprintf("/tickets/api/tickets/%d/replies", long.ID), map[string]any{"body": text, "attachments": []int64{}}, http.StatusCreated, nil)
		}
		path := fmt.Sprintf("/tickets/%d", long.ID)
		st, _, state := tkwPage(t, carolAPI, path, "")
		if in := state["state"].(map[string]any); st != http.StatusOK || in["view"] != nil || in["later"] == nil {
			t.Fatalf("the long ticket's page: %d, state %.300v", st, in)
		}
		c.tkwGo(s.URL+path, true)
		if n := run(c, "the messages", chromedp.Evaluate[int](`[...document.querySelectorAll("#tk-messages .tk-msg .tk-body")].filter(p => p.textContent.length === 20000).length`)); n != 20 {
			t.Errorf("the long ticket shows %d of its 20 long messages", n)
		}
	})

	t.Run("guest", func(t *testing.T) {
		if err := s.srv.SetSettings(t.Context(), 0, "tester", "tickets", map[string]json.RawMessage{"allow_guests": json.RawMessage("true")}); err != nil {
			t.Fatal(err)
		}
		// An admin lets visitors use the Problem panel, on the admin page.
		a := tkwTab(t, first, s, "ada", "", true)
		g := tkwTab(t, first, s, "", "", true)
		use(t, a, g)
		a.tkwGo(s.URL+"/tickets/admin", false)
		a.checkAccessible("admin")
		a.do("ada lets visitors use Problem",
			chromedp.Click(chromedp.CSS(`#tk-admin-panels button[aria-label="Edit Problem"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#tk-panel-form`)),
			chromedp.Click(chromedp.CSS(`#tk-p-guests`)),
			chromedp.Click(chromedp.CSS(`#tk-panel-form button[type="submit"]`)),
		)
		a.tkwWait("the form closes once saved", `document.getElementById("tk-panel-form").hidden`)
		// The admin's pages on a phone.
		a.do("a phone's screen", chromedp.EmulateViewport(375, 667, chromedp.EmulateScale(2), chromedp.EmulateMobile))
		// The list is drawn again after the save: wait for its new button
		// (a click on the old one finds a node that is gone).
		a.tkwWait("the panels listed again", `!!document.querySelector('#tk-admin-panels button[aria-label="Edit Problem"]')`)
		a.do("the panel form", chromedp.WaitVisible(chromedp.CSS(`#tk-admin-panels button[aria-label="Edit Problem"]`)),
			chromedp.Click(chromedp.CSS(`#tk-admin-panels button[aria-label="Edit Problem"]`)),
			chromedp.WaitVisible(chromedp.CSS(`#tk-p-field-add`)), chromedp.Click(chromedp.CSS(`#tk-p-field-add`)))
		a.tkwNoScroll("/tickets/admin")
		a.do("the reports", chromedp.Navigate(s.URL+"/tickets/admin/reports"), chromedp.WaitVisible(chromedp.CSS(`#tk-days`)))
		a.tkwNoScroll("/tickets/admin/reports")
		a.checkAccessible("reports")
		var ps struct {
			Panels []struct {
				ID     int64 `json:"id"`
				Guests bool  `json:"guests"`
			} `json:"panels"`
		}
		adaAPI.must(t, http.MethodGet, "/tickets/admin/api/panels", nil, http.StatusOK, &ps)
		for _, p := range ps.Panels {
			if p.Guests != (p.ID == problem) {
				t.Fatalf("after ada's change, the panels' guests are %+v", ps.Panels)
			}
		}

		g.tkwGo(s.URL+"/tickets/guest", false)
		g.checkAccessible("guest's new request")
		// One panel takes visitors: its form is open at once.
		if h := g.text("the form's heading", "#tk-form-title"); h != "Problem" {
			t.Errorf("the guest's form is for %q", h)
		}
		g.do("a visitor writes to support",
			chromedp.SendKeys(chromedp.CSS(`#tk-name`), "Gus <Guest>"),
			chromedp.SendKeys(chromedp.CSS(`#tk-email`), "gus@example.test"),
			chromedp.SendKeys(chromedp.CSS(`#tk-subject-input`), "Cannot sign up"),
			chromedp.SendKeys(chromedp.CSS(`#tk-description`), "The form says no."),
			chromedp.Click(chromedp.CSS(`#tk-send`)),
		)
		g.tkwReady(true)
		loc := run(g, "where the visitor is", chromedp.Location())
		if !regexp.MustCompile(`/tickets/guest/t/[A-Za-z0-9_-]{43}$`).MatchString(loc) {
			t.Fatalf("after sending, the visitor is at %s", loc)
		}
		title := run(g, "the title", chromedp.Evaluate[string](`document.getElementById("tk-title").textContent`))
		m := regexp.MustCompile(`^#(\d+) Cannot sign up$`).FindStringSubmatch(title)
		if m == nil {
			t.Fatalf("the guest's ticket is titled %q", title)
		}
		g.checkAccessible("guest's ticket")
		samAPI.must(t, http.MethodPost, "/tickets/staff/api/tickets/"+m[1]+"/replies", map[string]any{"body": "Try again now, please.", "attachments": []int64{}}, http.StatusCreated, nil)
		// The page reads the ticket again when it is shown again (and
		// every 30 s while it is).
		run(g, "the visitor comes back to the tab", chromedp.Evaluate[bool](`document.dispatchEvent(new Event("visibilitychange"))`))
		g.tkwWait("the visitor sees the answer", `[...document.querySelectorAll("#tk-messages .tk-msg.staff .tk-body")].some(p => p.textContent === "Try again now, please.")`)
		g.do("the visitor answers",
			chromedp.SendKeys(chromedp.CSS(`#tk-reply-body`), "It works, thanks!"),
			chromedp.Click(chromedp.CSS(`#tk-reply-send`)),
		)
		g.tkwWait("the visitor's answer is shown", `[...document.querySelectorAll("#tk-messages .tk-msg.mine .tk-body")].some(p => p.textContent === "It works, thanks!")`)
		if n := run(g, "attachments offered", chromedp.Evaluate[int](`document.querySelectorAll("#tk input[type=file]").length`)); n != 0 {
			t.Errorf("the guest's page offers %d file inputs; guests do not attach files", n)
		}
	})
}

package server

import (
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/websonic/websonic/runtime/internal/mail/mailtest"
	"github.com/websonic/websonic/runtime/internal/site"
)

// A newcomer's review of the support desk (issue 12): what a site owner, a
// customer, a guest and a staff member meet the first time, where the
// slices' own tests did not look.

// TestTicketsNewcomerBrowser: the pages keep the promises their words make.
func TestTicketsNewcomerBrowser(t *testing.T) {
	first := newBrowser(t)
	first.deadline = time.Now().Add(2 * time.Minute)
	s := ticketsSite(t)
	ada := s.person(t, "ada", site.RoleAdmin)
	carol := s.person(t, "carol", site.RoleMember)
	sam := s.person(t, "sam", site.RoleStaff)
	problem := tkwPanels(t, carol)["Problem"]

	// A visitor's answers to "How urgent is it?" and "How many people are
	// affected?" make the ticket's priority, as a member's do.
	t.Run("guest priority", func(t *testing.T) {
		if err := s.srv.SetSettings(t.Context(), 0, "tester", "tickets", map[string]json.RawMessage{"allow_guests": json.RawMessage("true")}); err != nil {
			t.Fatal(err)
		}
		ada.must(t, http.MethodPut, fmt.Sprintf("/tickets/admin/api/panels/%d", problem),
			map[string]any{"name": "Problem", "description": "Something does not work.", "guests": true}, http.StatusOK, nil)
		g := tkwTab(t, first, s, "", "", true)
		g.tkwGo(s.URL+"/tickets/guest", false)
		g.do("a visitor writes an urgent request for everyone",
			chromedp.SendKeys(chromedp.CSS(`#tk-name`), "Gus"),
			chromedp.SendKeys(chromedp.CSS(`#tk-email`), "gus@example.test"),
			chromedp.SendKeys(chromedp.CSS(`#tk-subject-input`), "The shop is down"),
			chromedp.SendKeys(chromedp.CSS(`#tk-description`), "Nobody can buy anything."),
			chromedp.Click(chromedp.CSS(`input[name="urgency"][value="3"]`)),
			chromedp.Click(chromedp.CSS(`input[name="impact"][value="3"]`)),
			chromedp.Click(chromedp.CSS(`#tk-send`)),
		)
		g.tkwWait("the visitor's ticket is shown", `location.pathname.startsWith("/tickets/guest/t/") && /^#\d+ /.test(document.getElementById("tk-title")?.textContent || "")`)
		title := run(g, "the title", chromedp.Evaluate[string](`document.getElementById("tk-title").textContent`))
		m := regexp.MustCompile(`^#(\d+) `).FindStringSubmatch(title)
		if m == nil {
			t.Fatalf("the guest's ticket is titled %q", title)
		}
		var v struct {
			Ticket struct {
				Urgency  int `json:"urgency"`
				Impact   int `json:"impact"`
				Priority int `json:"priority"`
			} `json:"ticket"`
		}
		sam.must(t, http.MethodGet, "/tickets/staff/api/tickets/"+m[1], nil, http.StatusOK, &v)
		if v.Ticket.Urgency != 3 || v.Ticket.Impact != 3 || v.Ticket.Priority != 4 {
			t.Errorf("the visitor said urgent, many people; the ticket has urgency %d, impact %d, priority %d",
				v.Ticket.Urgency, v.Ticket.Impact, v.Ticket.Priority)
		}
	})

	// The customer's page speaks of the customer's statuses in the
	// customer's words, in the conversation's lines too.
	t.Run("customer's words", func(t *testing.T) {
		var tk tkTicket
		carol.must(t, http.MethodPost, "/tickets/api/tickets",
			map[string]any{"panel_id": problem, "subject": "No sound", "description": "The video is silent."}, http.StatusCreated, &tk)
		id := strconv.FormatInt(tk.ID, 10)
		sam.must(t, http.MethodPost, "/tickets/staff/api/tickets/"+id+"/replies",
			map[string]any{"body": "Which browser?", "status": "pending"}, http.StatusCreated, nil)
		c := tkwTab(t, first, s, "carol", "", true)
		c.tkwGo(s.URL+"/tickets/"+id, false)
		lines := run(c, "the conversation's lines", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#tk-messages .tk-event")].map(e => e.firstChild.textContent)`))
		want := "The status went from “Received: we will answer soon” to “Waiting for your answer”."
		found := false
		for _, l := range lines {
			found = found || l == want
		}
		if !found {
			t.Errorf("carol's conversation reads %q, want the line %q", lines, want)
		}
		// Staff keep the desk's words.
		z := tkwTab(t, first, s, "sam", "", true)
		z.tkwGo(s.URL+"/tickets/"+id, false)
		lines = run(z, "the conversation's lines", chromedp.Evaluate[[]string](`[...document.querySelectorAll("#tk-messages .tk-event")].map(e => e.firstChild.textContent)`))
		want = "The status went from “New” to “Waiting for the customer”."
		found = false
		for _, l := range lines {
			found = found || l == want
		}
		if !found {
			t.Errorf("sam's conversation reads %q, want the line %q", lines, want)
		}
	})
	// The staff view offers "Claim: I take it" only when nobody has the
	// ticket: when someone else has it the API refuses the claim (assign
	// takes it over), so the button could only fail.
	t.Run("claim only when free", func(t *testing.T) {
		var free, taken tkTicket
		carol.must(t, http.MethodPost, "/tickets/api/tickets",
			map[string]any{"panel_id": problem, "subject": "Free", "description": "Nobody has it."}, http.StatusCreated, &free)
		carol.must(t, http.MethodPost, "/tickets/api/tickets",
			map[string]any{"panel_id": problem, "subject": "Taken", "description": "Ada has it."}, http.StatusCreated, &taken)
		ada.must(t, http.MethodPost, fmt.Sprintf("/tickets/staff/api/tickets/%d/claim", taken.ID), nil, http.StatusOK, nil)
		z := tkwTab(t, first, s, "sam", "", true)
		for _, tc := range []struct {
			id    int64
			offer bool
		}{{free.ID, true}, {taken.ID, false}} {
			z.tkwGo(fmt.Sprintf("%s/tickets/%d", s.URL, tc.id), false)
			if got := run(z, "the claim button", chromedp.Evaluate[bool](`!document.getElementById("tk-claim").hidden`)); got != tc.offer {
				t.Errorf("ticket %d (%s): the claim button shown %v, want %v", tc.id, z.text("who has it", "#tk-who"), got, tc.offer)
			}
		}
	})
}

// TestTicketsNewcomerPages: what the pages tell people to type is what the
// API takes.
func TestTicketsNewcomerPages(t *testing.T) {
	s := ticketsSite(t)
	ada := s.person(t, "ada", site.RoleAdmin)

	// The admin page's hint for a group's short name names the characters
	// the API takes: a name built from the hint is accepted, and only such
	// names are.
	t.Run("group name hint", func(t *testing.T) {
		for _, lang := range []string{"en", "fr"} {
			st, page, _ := tkwPage(t, ada, "/tickets/admin", lang)
			m := regexp.MustCompile(`<label for="tk-g-name">[^<(]*\(([^)]*)\)</label>`).FindStringSubmatch(page)
			if st != http.StatusOK || m == nil {
				t.Fatalf("%s: %d, no hint for the group's name in the admin page", lang, st)
			}
			if m[1] != "a-z, 0-9, _" {
				t.Errorf("%s: the group name's hint says %q; the API takes a-z, 0-9 and _, starting with a letter", lang, m[1])
			}
		}
		ada.must(t, http.MethodPost, "/tickets/admin/api/groups", map[string]string{"name": "first_line", "label": "First line"}, http.StatusCreated, nil)
		ada.must(t, http.MethodPost, "/tickets/admin/api/groups", map[string]string{"name": "second-line", "label": "Second line"}, http.StatusBadRequest, nil)
	})
	// A visitor's ticket page tells them that its address is their private
	// link, the only way back to the request (README: "a private link, by
	// e-mail and on screen"), in their language.
	t.Run("guest keeps the link", func(t *testing.T) {
		if err := s.srv.SetSettings(t.Context(), 0, "tester", "tickets", map[string]json.RawMessage{"allow_guests": json.RawMessage("true")}); err != nil {
			t.Fatal(err)
		}
		problem := tkwPanels(t, ada)["Problem"]
		ada.must(t, http.MethodPut, fmt.Sprintf("/tickets/admin/api/panels/%d", problem),
			map[string]any{"name": "Problem", "description": "Something does not work.", "guests": true}, http.StatusOK, nil)
		visitor := newChatter(t, s.URL, "visitor", "10.9.9.9")
		var opened struct {
			Link string `json:"link"`
		}
		visitor.must(t, http.MethodPost, "/tickets/guest/api/tickets", map[string]any{"panel_id": problem, "email": "gus@example.test",
			"name": "Gus", "subject": "Cannot pay", "description": "The card is refused."}, http.StatusCreated, &opened)
		for lang, want := range map[string]string{
			"en": "Keep the address of this page",
			"fr": "adresse de cette page (ajoutez-la à vos favoris)",
		} {
			st, page, _ := tkwPage(t, visitor, opened.Link, lang)
			if st != http.StatusOK || !strings.Contains(page, want) {
				t.Errorf("%s: the guest's page (%d) does not tell them to keep its address (%q)", lang, st, want)
			}
		}
	})
	// On the staff view the two forms' buttons say who will read what is
	// sent: the reply's "Send" goes to the customer, the note stays with
	// the staff (the labels above the boxes scroll away on a phone).
	t.Run("reply or note", func(t *testing.T) {
		dan := s.person(t, "dan", site.RoleMember)
		tk := tkwOpen(t, dan, tkwPanels(t, dan)["Question"], "Which plan?")
		for _, tc := range []struct{ lang, reply, note string }{
			{"en", "Send to the customer", "Add the note (staff only)"},
			{"fr", "Envoyer au client", "Ajouter la note (personnel seulement)"},
		} {
			st, page, _ := tkwPage(t, ada, fmt.Sprintf("/tickets/%d", tk.ID), tc.lang)
			reply := regexp.MustCompile(`<button type="submit" id="tk-reply-send">([^<]*)</button>`).FindStringSubmatch(page)
			note := regexp.MustCompile(`(?s)<form id="tk-note".*?<button type="submit"[^>]*>([^<]*)</button>`).FindStringSubmatch(page)
			if st != http.StatusOK || reply == nil || note == nil || reply[1] != tc.reply || note[1] != tc.note {
				t.Errorf("%s: %d, the staff view's reply button %q and note button %q, want %q and %q", tc.lang, st, reply, note, tc.reply, tc.note)
			}
		}
		// The customer's own page keeps its plain "Send".
		st, page, _ := tkwPage(t, dan, fmt.Sprintf("/tickets/%d", tk.ID), "en")
		if !strings.Contains(page, `<button type="submit" id="tk-reply-send">Send</button>`) {
			t.Errorf("the customer's page (%d) lost its Send button", st)
		}
	})
}

// TestTicketsNewcomerMail: a staff member who answers and solves in one
// step (the reply form's "Then the request is: Solved") tells the customer
// both in the one mail: the answer, that the request is solved, and that
// they can still answer, reopen and rate it.
func TestTicketsNewcomerMail(t *testing.T) {
	relay := mailtest.Start(t, mailtest.Options{})
	s := ticketsSite(t, func(c *Config) {
		c.Mail.Relay = "smtp+insecure://" + relay.Addr
		c.Mail.From = "Acme <support@acme.test>"
	})
	carol := s.person(t, "carol", site.RoleMember)
	sam := s.person(t, "sam", site.RoleStaff)
	var tk tkTicket
	carol.must(t, http.MethodPost, "/tickets/api/tickets", map[string]any{
		"panel_id": tkwPanels(t, carol)["Problem"], "subject": "No sound", "description": "The video is silent.",
	}, http.StatusCreated, &tk)
	sam.must(t, http.MethodPost, fmt.Sprintf("/tickets/staff/api/tickets/%d/replies", tk.ID),
		map[string]any{"body": "Unmute the tab.", "status": "solved"}, http.StatusCreated, nil)
	m := relay.Wait(t, 1)[0]
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	for _, want := range []string{"Unmute the tab.", "solved", "reopen", fmt.Sprintf("/tickets/%d", tk.ID), "how we did", fmt.Sprintf(`#%d, "No sound",`, tk.ID)} {
		if !strings.Contains(text, want) {
			t.Errorf("the mail of an answer that solves the request lacks %q:\n%s", want, b)
		}
	}
}

package admin

import (
	"net/url"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/internal/locales"
	"github.com/websonic/websonic/runtime/internal/site"
)

// TestAuditRowOf: an audit entry in words: who (a user, an erased one,
// the terminal, a module, the site), what (plain words, else the action's
// name), the address, and the rest of the detail.
func TestAuditRowOf(t *testing.T) {
	cat, err := locales.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	q := &request{p: cat.Printer("en")}
	fr := &request{p: cat.Printer("fr")}
	for _, tc := range []struct {
		name string
		q    *request
		e    site.AuditEntry
		want auditRow
	}{
		{"an admin's ban", q, site.AuditEntry{ID: 7, ActorID: 1, Actor: "root", Action: "user.ban", Subject: "mia",
			Detail: `{"by": "user:1", "ip": "192.0.2.1", "user_id": 2, "reason": "spam"}`},
			auditRow{ID: 7, Who: "root", What: "banned a user", Raw: "user.ban", Subject: "mia", IP: "192.0.2.1", Details: "reason: spam"}},
		{"in French", fr, site.AuditEntry{ID: 7, ActorID: 1, Actor: "root", Action: "user.ban", Subject: "mia", Detail: `{}`},
			auditRow{ID: 7, Who: "root", What: "a banni un utilisateur", Raw: "user.ban", Subject: "mia"}},
		{"an erased actor", q, site.AuditEntry{ActorID: 9, Action: "user.logout", Detail: `{}`},
			auditRow{Who: "user #9 (erased)", What: "signed out", Raw: "user.logout"}},
		{"the terminal", q, site.AuditEntry{Action: "ip.block", Subject: "203.0.113.0/24", Detail: `{"by": "terminal", "until": "x"}`},
			auditRow{Who: "the site owner, at the terminal", What: "blocked an address or network", Raw: "ip.block", Subject: "203.0.113.0/24", Details: "until: x"}},
		{"a module", q, site.AuditEntry{Action: "user.suspend", Detail: `{"by": "module:chat"}`},
			auditRow{Who: "the module chat", What: "suspended a user", Raw: "user.suspend"}},
		{"an unknown action, bad detail", q, site.AuditEntry{Action: "theme.switch", Detail: `[1]`},
			auditRow{Who: "the site itself", What: "theme.switch", Raw: "theme.switch"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := auditRowOf(tc.q, tc.e)
			got.At = ""
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// TestSuspendUntil: a suspension form's end: a date wins over a length;
// nonsense and non-positive lengths are refused.
func TestSuspendUntil(t *testing.T) {
	day := time.Date(2031, 5, 4, 0, 0, 0, 0, time.Local)
	for _, tc := range []struct {
		form   url.Values
		ok     bool
		exact  time.Time
		around time.Duration
	}{
		{url.Values{"for": {"24h0m0s"}}, true, time.Time{}, 24 * time.Hour},
		{url.Values{"for": {"1h0m0s"}, "until": {"2031-05-04"}}, true, day, 0},
		{url.Values{"until": {"04/05/2031"}}, false, time.Time{}, 0},
		{url.Values{"for": {"-1h"}}, false, time.Time{}, 0},
		{url.Values{"for": {"soon"}}, false, time.Time{}, 0},
		{url.Values{}, false, time.Time{}, 0},
	} {
		got, ok := suspendUntil(tc.form)
		switch {
		case ok != tc.ok:
			t.Errorf("%v: ok %v", tc.form, ok)
		case ok && !tc.exact.IsZero() && !got.Equal(tc.exact):
			t.Errorf("%v: %v, want %v", tc.form, got, tc.exact)
		case ok && tc.exact.IsZero() && (got.Before(time.Now().Add(tc.around-time.Minute)) || got.After(time.Now().Add(tc.around))):
			t.Errorf("%v: %v, want about now + %v", tc.form, got, tc.around)
		}
	}
}

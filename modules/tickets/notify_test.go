package main

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMailText(t *testing.T) {
	const link = "https://desk.example/tickets/guest/t/TOKEN"
	for _, tc := range []struct {
		kind mailKind
		text string
		want []string
	}{
		{mailOpened, "", []string{"We received your request #12, \"Printer on fire\"", "private address", link}},
		{mailReplied, "Try turning it off.\nThen on.", []string{"There is an answer to your request #12", "Try turning it off.\nThen on.", "Answer at " + link}},
		{mailSolved, "", []string{"is solved", "reopen it at " + link}},
		{mailRepliedSolved, "Unmute the tab.", []string{"There is an answer to your request #12", "we consider it solved", "Unmute the tab.", "reopen it at " + link, "how we did"}},
		{mailClosed, "", []string{"is closed", "transcript is at " + link}},
		{mailMerged, "ticket #9", []string{"was merged with another one", "ticket #9"}},
	} {
		subject, body := mailText(12, "Printer on fire", tc.kind, tc.text, link)
		if subject != "[#12] Printer on fire" {
			t.Errorf("kind %d: subject %q", tc.kind, subject)
		}
		for _, w := range append(tc.want, "sent automatically by the support desk") {
			if !strings.Contains(body, w) {
				t.Errorf("kind %d: the body lacks %q:\n%s", tc.kind, w, body)
			}
		}
	}

	// Long subjects and bodies are cut to the outbox's limits, on a
	// character's boundary.
	subject, body := mailText(7, strings.Repeat("é", 200), mailReplied, strings.Repeat("ü", 40000), link)
	if len(subject) > 250 || !utf8.ValidString(subject) || !strings.HasPrefix(subject, "[#7] éé") {
		t.Errorf("a long subject: %d bytes, %q", len(subject), subject)
	}
	if len(body) > 65536 || len(body) < 65530 || !utf8.ValidString(body) {
		t.Errorf("a long body: %d bytes, valid %v", len(body), utf8.ValidString(body))
	}
}

func TestTruncateRunes(t *testing.T) {
	for _, tc := range []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abc", 3, "abc"},
		{"abc", 2, "ab"},
		{"aé", 2, "a"},
		{"aé", 3, "aé"},
		{"€", 2, ""},
	} {
		if got := truncateRunes(tc.s, tc.n); got != tc.want {
			t.Errorf("truncateRunes(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

// TestMailLink: the owner's site_url, written as the browser's address bar
// shows it (a trailing slash) or with stray spaces, still makes links that
// open the page (a "//tickets/…" path is the site's "Page not found").
func TestMailLink(t *testing.T) {
	for _, tc := range []struct{ site, want string }{
		{"", "/tickets/12"},
		{"https://support.example.com", "https://support.example.com/tickets/12"},
		{"https://support.example.com/", "https://support.example.com/tickets/12"},
		{" https://support.example.com// ", "https://support.example.com/tickets/12"},
		{"https://example.com/help/", "https://example.com/help/tickets/12"},
	} {
		if got := mailLink(tc.site, "/tickets/12"); got != tc.want {
			t.Errorf("mailLink(%q) = %q, want %q", tc.site, got, tc.want)
		}
	}
}

// TestHeaderText: a subject reaches a mail's Subject line without what the
// runtime's mail.send refuses in a header (it would refuse every try).
func TestHeaderText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Printer on fire", "Printer on fire"},
		{"Facture \u200f\u05d0\u05d1", "Facture \u05d0\u05d1"},
		{"\u202eevil\u202c name", "evil name"},
		{"a \ufffd b", "a b"},
		{"\u2066isolate\u2069\u061c", "isolate"},
		{"x\u2028y\u2029z", "xyz"},
		{"<b>kept</b> & \"quoted\"", "<b>kept</b> & \"quoted\""},
	} {
		if got := headerText(tc.in); got != tc.want {
			t.Errorf("headerText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	subject, body := mailText(3, "\u200fشكرا\u200f \"quoted\"", mailSolved, "", "https://x/")
	if subject != "[#3] شكرا \"quoted\"" || !strings.Contains(body, "#3, \"شكرا \"quoted\"\", is solved") {
		t.Errorf("subject %q, body:\n%s", subject, body)
	}
}

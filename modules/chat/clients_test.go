package main

import (
	"strings"
	"testing"
)

// TestClientSince: show_clients and the moderation page give a
// connection's start as people read it, in UTC to the second (as the
// page's audit table and kick's answer do), not the runtime's RFC 3339
// with nanoseconds.
func TestClientSince(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"2026-12-01T02:38:17.539615003Z", "2026-12-01 02:38:17 UTC"},
		{"2026-12-01T03:38:17+01:00", "2026-12-01 02:38:17 UTC"},
		{"2026-12-01T02:38:17Z", "2026-12-01 02:38:17 UTC"},
		{"", ""},
		{"soon", "soon"}, // not a time: as the runtime gave it
	} {
		if got := clientSince(tc.in); got != tc.want {
			t.Errorf("clientSince(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestBanSentence: the ban's answer tells the owner that the banned user's
// addresses are refused for everyone (a shared office address locks out
// all behind it) and how to lift it.
func TestBanSentence(t *testing.T) {
	got := banSentence("bob", 2)
	for _, want := range []string{"bob is banned for good", "2 connections", "no one can sign in or register any more from the addresses they used", "websonic admin unban bob"} {
		if !strings.Contains(got, want) {
			t.Errorf("the ban says %q, without %q", got, want)
		}
	}
}

// TestModerationAuditFrench: the moderation page's audit table names an
// entry's fields in the page's language (the values stay as they are).
func TestModerationAuditFrench(t *testing.T) {
	detail := map[string]any{"via": "command", "user": float64(7), "reason": "spam", "connections_closed": float64(2)}
	d := map[string]any{
		"Audit": []auditEntry{{At: "2026-12-01 02:26:47", Actor: "terminal", Action: "ban",
			Parts: auditParts(detail, map[int64]string{7: "ann"}, nil)}},
	}
	fr := renderTemplate(t, "admin_moderation.html", d, "fr")
	if want := `<td><bdi>utilisateur: ann; motif: spam; connexions fermées: 2; via: command</bdi></td>`; !strings.Contains(fr, want) {
		t.Errorf("the French audit table lacks %s:\n%s", want, fr)
	}
	en := renderTemplate(t, "admin_moderation.html", d, "en")
	if want := `<td><bdi>user: ann; reason: spam; connections closed: 2; via: command</bdi></td>`; !strings.Contains(en, want) {
		t.Errorf("the English audit table lacks %s:\n%s", want, en)
	}
}

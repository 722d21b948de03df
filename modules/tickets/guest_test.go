package main

import (
	"encoding/base64"
	"strings"
	"testing"
)

func TestCheckEmail(t *testing.T) {
	for _, s := range []string{"a@b.test", "first.last+tag@sub.example.com", "x@localhost"} {
		if got, err := checkEmail(s); err != nil || got != s {
			t.Errorf("checkEmail(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "ann", "Ann <a@b.test>", "<a@b.test>", "a@b.test, c@d.test", " a@b.test", "a@b.test\r\nBcc: x@y.test",
		"\"a b\"@c.test (comment)", strings.Repeat("a", 250) + "@b.test",
		// The runtime's mail.send takes ASCII addresses only: one it
		// refuses would leave the guest without their link, and without
		// every answer, for good.
		"josé@exemple.test", "ann@exémple.test", "用户@例子.test"} {
		if _, err := checkEmail(s); err == nil {
			t.Errorf("checkEmail(%q) accepted it", s)
		} else {
			wantRefused(t, err, "one e-mail address")
		}
	}
}

// The token's shape is checked before any lookup: these never reach the
// database (natively a database call would fail, not answer 404).
func TestGuestTicketShape(t *testing.T) {
	good := base64.RawURLEncoding.EncodeToString(make([]byte, guestTokenBytes))
	if len(good) != 43 {
		t.Fatalf("a token has %d characters, API.md says 43", len(good))
	}
	for _, bad := range []string{"", "abc", good[:42], good + "A", strings.Repeat("*", 43), good[:42] + "=", strings.Repeat("A", 42) + "B"} {
		if _, err := guestTicket(t.Context(), bad); err != errNoGuestTicket {
			t.Errorf("guestTicket(%q) = %v, want errNoGuestTicket", bad, err)
		}
	}
}

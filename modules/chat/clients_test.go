package main

import "testing"

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

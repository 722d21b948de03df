package sitemove

import "testing"

// TestProgressString: the lines the CLI prints, with no trailing space
// for counts without a unit.
func TestProgressString(t *testing.T) {
	for _, c := range []struct {
		p    Progress
		want string
	}{
		{Progress{Step: "dump", Done: 0, Total: 6}, "dump: 0 of 6"},
		{Progress{Step: "tables", Done: 2, Total: 9, Unit: "tables"}, "tables: 2 of 9 tables"},
		{Progress{Step: "read", Done: 1 << 20, Total: 4 << 20, Unit: "bytes"}, "read: 1.0 MiB of 4.0 MiB (25%)"},
		{Progress{Step: "read", Done: 3 << 19, Unit: "bytes"}, "read: 1.5 MiB"},
		{Progress{Step: "reload"}, "reload"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%+v: %q, want %q", c.p, got, c.want)
		}
	}
}

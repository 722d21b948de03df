package main

import (
	"fmt"
	"strings"
	"unicode"
)

// termSafe is s as the owner's terminal may show it, when others chose s
// (a username typed at a failed sign-in, a module's description, an
// audit entry's detail): control characters (escape sequences a terminal
// acts on, tabs and line breaks that fake a table's cells and rows), line
// separators and bidirectional controls are shown escaped (\x1b, \n,
// \u202e) instead.
func termSafe(s string) string {
	if strings.IndexFunc(s, unsafeForTerminal) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x100 && unsafeForTerminal(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeForTerminal(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unsafeForTerminal(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

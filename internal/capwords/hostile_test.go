package capwords_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/websonic/websonic/internal/capwords"
	"github.com/websonic/websonic/sdk/manifest"
)

// TestDescribeHostileStrings: the strings a module chooses (nav labels,
// command descriptions, and whatever an unchecked manifest carries) reach
// the owner's approval page and terminal in these sentences. Control
// characters (a terminal's escape sequences, which could erase the lines
// above, such as "Change users' passwords"; line breaks that fake lines)
// and bidirectional overrides (which reorder what the owner reads) must
// not pass through.
func TestDescribeHostileStrings(t *testing.T) {
	hostile := []string{
		"\x1b[1A\x1b[2K\x1b[1A\x1b[2KHome", // cursor up, erase line
		"Home\r  - Read nothing",           // carriage return overwrites
		"Home\n  - Read nothing",           // a fake line
		"Home\u202egnihton daeR",           // right-to-left override
		"Home\u2066x\u2069\u200f",          // isolates and marks
		"Home\x9b2K",                       // C1 CSI
		"Home\u2028Read nothing",           // line separator
		"Home\x7f",                         // DEL
	}
	for _, s := range hostile {
		caps := manifest.Capabilities{
			Routes:        []manifest.Route{{Path: "/x" + s, Access: manifest.AccessPublic}},
			CoreData:      []string{s},
			Topics:        []string{s},
			OutboundHTTP:  []string{"https://" + s + ":443"},
			Schedules:     []manifest.Schedule{{Name: s, Cron: "0 3 * * *" + s}},
			AdminCommands: []manifest.AdminCommand{{Name: s, Description: s}, {Name: "x", Description: s}},
			UserActions:   []string{s},
			Nav:           []manifest.NavEntry{{Label: s, Path: "/x", Access: manifest.Access(s)}},
			ConfigSchema:  map[string]manifest.ConfigItem{s: {Type: "string"}},
		}
		for _, lang := range []string{"en", "fr"} {
			for _, l := range capwords.Describe(lang, "mod"+s, caps) {
				if i := strings.IndexFunc(l.Text, unsafeRune); i >= 0 {
					t.Errorf("%s: %q holds %U", lang, l.Text, []rune(l.Text[i:])[0])
				}
			}
		}
	}
}

func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' || r == '\u200e' || r == '\u200f'
}

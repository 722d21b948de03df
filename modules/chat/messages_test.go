package main

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name      string
		in        string
		max       int
		multiline bool
		want      string
		ok        bool
	}{
		{"plain", "hello", 10, true, "hello", true},
		{"trimmed", "  hello \n\t", 10, true, "hello", true},
		{"empty is the caller's call", "   ", 10, true, "", true},
		{"newline and tab kept", "a\n\tb", 10, true, "a\n\tb", true},
		{"crlf becomes lf", "a\r\nb", 10, true, "a\nb", true},
		{"lone cr refused", "a\rb", 10, true, "", false},
		{"newline refused on one line", "a\nb", 10, false, "", false},
		{"tab refused on one line", "a\tb", 10, false, "", false},
		{"nul refused", "a\x00b", 10, true, "", false},
		{"escape refused", "a\x1b[31mb", 20, true, "", false},
		{"del refused", "a\x7fb", 10, true, "", false},
		{"c1 refused", "a\u0085b", 10, true, "", false},
		{"line separator refused", "a\u2028b", 10, true, "", false},
		{"bom refused", "\ufeffab", 10, true, "", false},
		{"invalid utf-8", "a\xffb", 10, true, "", false},
		{"html kept as text", "<script>alert(1)</script>", 100, true, "<script>alert(1)</script>", true},
		{"at the limit in runes", strings.Repeat("é", 10), 10, true, strings.Repeat("é", 10), true},
		{"over the limit", strings.Repeat("a", 11), 10, true, "", false},
		{"emoji count as one", strings.Repeat("👍", 3), 3, true, strings.Repeat("👍", 3), true},
		{"a megabyte", strings.Repeat("a", 1<<20), 4000, true, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkText(tc.in, tc.max, tc.multiline)
			if (err == nil) != tc.ok || got != tc.want {
				t.Fatalf("checkText(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestParseMentions(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"hello @ada", []string{"ada"}},
		{"@ada at the start", []string{"ada"}},
		{"@Ada and @ADA once", []string{"ada"}},
		{"@ada, @bob.smith: @carol.", []string{"ada", "bob.smith", "carol"}},
		{"(@ada)", []string{"ada"}},
		{"mail ada@example.com", nil},
		{"@@ada", nil},
		{"@ab too short", nil},
		{"@" + strings.Repeat("a", 33) + " too long", nil},
		{"@" + strings.Repeat("a", 32) + " just right", []string{strings.Repeat("a", 32)}},
		{"@_ada starts badly", nil},
		{"@.ada starts badly", nil},
		{"@ada_ and @bob-", []string{"ada_", "bob-"}},
		{"@ 'ada'", nil},
		{"@", nil},
		{"é@ada after a letter outside ASCII", []string{"ada"}},
		{"@ada\n@bob", []string{"ada", "bob"}},
	} {
		if got := parseMentions(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseMentions(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var many strings.Builder
	for i := range 50 {
		many.WriteString(" @user" + strings.Repeat("x", i%5) + string(rune('a'+i%26)) + string(rune('a'+i/26)))
	}
	if got := parseMentions(many.String()); len(got) != maxMentions {
		t.Errorf("%d mentions kept, want %d", len(got), maxMentions)
	}
}

func FuzzParseMentions(f *testing.F) {
	for _, s := range []string{"hi @ada", "a@b.c", "@@@", "@x.y.z.", "@\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := parseMentions(s)
		if len(got) > maxMentions {
			t.Fatalf("%d mentions", len(got))
		}
		seen := map[string]bool{}
		for _, m := range got {
			if len(m) < 3 || len(m) > 32 || m != strings.ToLower(m) || seen[m] || !strings.Contains(strings.ToLower(s), "@"+m) {
				t.Fatalf("mention %q of %q", m, s)
			}
			for i := 0; i < len(m); i++ {
				if !usernameByte(m[i]) {
					t.Fatalf("mention %q holds %q", m, m[i])
				}
			}
			seen[m] = true
		}
	})
}

func FuzzCheckText(f *testing.F) {
	for _, s := range []string{"hello", " a\r\n", "\x00", "é\u2028", "\xff"} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, multiline bool) {
		got, err := checkText(s, 50, multiline)
		if err != nil {
			if got != "" {
				t.Fatalf("an error with text %q", got)
			}
			return
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > 50 || got != strings.TrimSpace(got) {
			t.Fatalf("checkText(%q) = %q", s, got)
		}
		for _, r := range got {
			if r < 0x20 && !(multiline && (r == '\n' || r == '\t')) || r == 0x7f {
				t.Fatalf("checkText(%q) kept %U", s, r)
			}
		}
	})
}

func TestParseCursor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", math.MaxInt64, true},
		{"1", 1, true},
		{"981", 981, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"0", 0, false},
		{"-5", 0, false},
		{"+5", 0, false},
		{"05", 0, false},
		{"5x", 0, false},
		{" 5", 0, false},
		{"9223372036854775808", 0, false},
		{"1e3", 0, false},
	} {
		got, err := parseCursor(tc.in)
		if (err == nil) != tc.ok || tc.ok && got != tc.want {
			t.Errorf("parseCursor(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestCheckEmoji(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"👍", "👍", true},
		{" 🎉 ", "🎉", true},
		{"👨‍👩‍👧‍👦", "👨‍👩‍👧‍👦", true}, // a family: 7 code points
		{"", "", false},
		{"a b", "", false},
		{"\x00", "", false},
		{strings.Repeat("👍", 17), "", false},
		{"\xff", "", false},
	} {
		got, err := checkEmoji(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("checkEmoji(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestIDList(t *testing.T) {
	if got := idList(nil); got != "" {
		t.Errorf("idList(nil) = %q", got)
	}
	if got := idList([]int64{3, 1, 20}); got != "3,1,20" {
		t.Errorf("idList = %q", got)
	}
}

func TestUnmention(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"hello @ada", "hello [deleted user]"},
		{"@ADA, @Ada and @ada.", "[deleted user], [deleted user] and [deleted user]."},
		{"@adam and @ada_ are others", "@adam and @ada_ are others"},
		{"mail ada@example.com, @@ada", "mail ada@example.com, @@ada"},
		{"(@ada) @ada...", "([deleted user]) [deleted user]..."},
		{"@ada@ada", "[deleted user][deleted user]"},
		{"@ada.@ada", "[deleted user].@ada"},
		{"no mention", "no mention"},
		{"", ""},
	} {
		if got := unmention(tc.in, "ada"); got != tc.want {
			t.Errorf("unmention(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	var many strings.Builder
	for range 3 * maxMentions {
		many.WriteString("@ada ")
	}
	if got := unmention(many.String(), "ada"); strings.Contains(got, "@") {
		t.Errorf("mentions past the %d that notify stay: %q", maxMentions, got)
	}
}

func FuzzUnmention(f *testing.F) {
	for _, s := range []string{"hi @ada", "@ada.@ada", "x@ada @ada_ @@ada", "@ADA\n@bob"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := unmention(s, "ada")
		if slices.Contains(parseMentions(got), "ada") {
			t.Fatalf("unmention(%q) = %q still mentions ada", s, got)
		}
		if !slices.Contains(parseMentions(s), "ada") && len(parseMentions(s)) < maxMentions && got != s {
			t.Fatalf("unmention(%q) = %q changed a text without the mention", s, got)
		}
	})
}

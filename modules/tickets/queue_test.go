package main

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode"
)

func TestSearchQuery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"printer", "printer:*"},
		{"Printer ON fire", "printer:* & on & fire:*"},
		{"a-12", "a & 12"},
		{"it's", "it & s"},
		{`x' | !y & (z:*) <-> 'w`, "x & y & z & w"},
		{"café CAFÉ", "café:*"},
		{"   ;;;  ", ""},
		{"ab ab", "ab"},
	} {
		got, err := searchQuery(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("searchQuery(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{strings.Repeat("a ", 11), strings.Repeat("x", 201), "\xff"} {
		if _, err := searchQuery(in); err == nil {
			t.Errorf("searchQuery(%.20q) accepted", in)
		}
	}
}

func TestCursor(t *testing.T) {
	now := time.Now()
	for _, c := range []cursor{
		{Sort: "updated", Key: now.UnixMicro(), ID: 7},
		{Sort: "created", Asc: true, Key: now.UnixMicro(), ID: 1},
		{Sort: "priority", Key: 4, ID: 99},
		{Sort: "due", Asc: true, Key: noDueTime.UnixMicro(), ID: 12},
	} {
		got, err := decodeCursor(c.encode(), c.Sort, c.Asc)
		if err != nil || *got != c {
			t.Errorf("round trip of %+v: %+v, %v", c, got, err)
		}
		if _, err := decodeCursor(c.encode(), c.Sort, !c.Asc); err == nil {
			t.Errorf("%+v accepted in the other order", c)
		}
	}
	good := cursor{Sort: "updated", Key: 5, ID: 7}.encode()
	for _, bad := range []string{"", "!!", good + "x", good[:len(good)-2],
		enc("updated.d.5"), enc("updated.d.5.0"), enc("updated.d.05.7"), enc("updated.x.5.7"), enc("created.d.5.7"),
		enc("updated.d.5.7.8"), enc("updated.d.9223372036854775808.7"), enc("priority.d.5.7"), enc("updated.d.5.-7")} {
		if c, err := decodeCursor(bad, "updated", false); err == nil && bad != good {
			t.Errorf("decodeCursor(%q) = %+v", bad, c)
		}
	}
}

func enc(s string) string { return cursor{}.encodeRaw(s) }

func TestParseQueue(t *testing.T) {
	ok := []string{"", "status=all", "status=new,open", "sort=due&order=asc", "priority=4&limit=100", "assignee=me&overdue=1", "q=printer"}
	for _, s := range ok {
		v, _ := url.ParseQuery(s)
		if _, err := parseQueue(v); err != nil {
			t.Errorf("%q: %v", s, err)
		}
	}
	bad := []string{"status=nope", "status=new,", "panel=x", "panel=0", "priority=5", "priority=0", "sort=name", "order=up",
		"limit=0", "limit=101", "cursor=abc", "status=open%27%3B--"}
	for _, s := range bad {
		v, _ := url.ParseQuery(s)
		if _, err := parseQueue(v); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}

// FuzzSearchQuery: whatever is typed, the query holds only words of
// letters and digits, prefix marks and ands: nothing read as tsquery
// syntax.
func FuzzSearchQuery(f *testing.F) {
	for _, s := range []string{"printer on fire", `a' | b`, "x:* & !y", "é ü 中文", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := searchQuery(s)
		if err != nil {
			return
		}
		if lit := tsqueryLiteral(q); lit != "'"+q+"'" {
			t.Fatalf("tsqueryLiteral(%q) = %q: it dropped what searchQuery wrote", q, lit)
		}
		for _, term := range strings.Split(q, " & ") {
			w := strings.TrimSuffix(term, ":*")
			if q == "" {
				break
			}
			if w == "" || strings.ContainsFunc(w, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
				t.Fatalf("searchQuery(%q) = %q", s, q)
			}
		}
	})
}

// FuzzDecodeCursor: a cursor the client sends either decodes to one that
// encodes back the same, or is refused; never a panic.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{Sort: "updated", Key: 1700000000000000, ID: 3}.encode())
	f.Add(cursor{Sort: "priority", Asc: true, Key: 2, ID: 9}.encode())
	f.Add("!!")
	f.Add("cHJpb3JpdHkuYS40LjX") // non-canonical base64 of a good cursor
	f.Fuzz(func(t *testing.T, s string) {
		for _, sort := range []string{"updated", "created", "priority", "due"} {
			for _, asc := range []bool{false, true} {
				c, err := decodeCursor(s, sort, asc)
				if err != nil {
					continue
				}
				if c.encode() != s || c.ID <= 0 {
					t.Fatalf("decodeCursor(%q) = %+v, which encodes as %q", s, c, c.encode())
				}
			}
		}
	})
}

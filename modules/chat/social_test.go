package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk"
)

func strp(s string) *string { return &s }

// TestProfileChange: what PATCH /chat/api/profile takes, trimmed, and what
// it refuses, saying why.
func TestProfileChange(t *testing.T) {
	tests := []struct {
		name      string
		c         profileChange
		wantName  string
		wantAbout string
		err       string
	}{
		{"name trimmed", profileChange{DisplayName: strp("  Ada L. ")}, "Ada L.", "", ""},
		{"html kept as text", profileChange{DisplayName: strp("<b>Ada</b>")}, "<b>Ada</b>", "", ""},
		{"about with lines and tabs", profileChange{About: strp("line one\n\tline two ")}, "", "line one\n\tline two", ""},
		{"empty name (the site's)", profileChange{DisplayName: strp("")}, "", "", ""},
		{"60 characters of é", profileChange{DisplayName: strp(strings.Repeat("é", 60))}, strings.Repeat("é", 60), "", ""},
		{"61 characters", profileChange{DisplayName: strp(strings.Repeat("é", 61))}, "", "", "at most 60 characters (this one has 61)"},
		{"about of 301", profileChange{About: strp(strings.Repeat("a", 301))}, "", "", "at most 300 characters"},
		{"newline in a name", profileChange{DisplayName: strp("a\nb")}, "", "", "line breaks"},
		{"tab in a name", profileChange{DisplayName: strp("a\tb")}, "", "", "line breaks"},
		{"bell in about", profileChange{About: strp("a\ab")}, "", "", "control characters (line breaks and tabs are fine)"},
		{"bidi override", profileChange{DisplayName: strp("abc\u202Efdp.exe")}, "", "", "control characters"},
		{"zero-width space", profileChange{DisplayName: strp("ad\u200Bmin")}, "", "", "control characters"},
		{"C1 control", profileChange{About: strp("a\u0085b")}, "", "", "control characters"},
		{"invalid utf-8", profileChange{About: strp("a\xffb")}, "", "", "valid text"},
		{"nothing", profileChange{}, "", "", "Nothing to change"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.c.check()
			if tt.err != "" {
				if apiStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("%v, want 400 saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.c.DisplayName != nil && *tt.c.DisplayName != tt.wantName {
				t.Errorf("name %q, want %q", *tt.c.DisplayName, tt.wantName)
			}
			if tt.c.About != nil && *tt.c.About != tt.wantAbout {
				t.Errorf("about %q, want %q", *tt.c.About, tt.wantAbout)
			}
		})
	}
}

// TestGroupRequest: a group's name and people, normalized and bounded.
func TestGroupRequest(t *testing.T) {
	many := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = "user" + strings.Repeat("x", i)
		}
		return out
	}
	tests := []struct {
		name  string
		g     groupRequest
		names string
		err   string
	}{
		{"ok", groupRequest{Name: " Team ", Usernames: []string{"ann", "@ben"}}, "ann,ben", ""},
		{"self and repeats dropped", groupRequest{Name: "T", Usernames: []string{"ann", "ANN", " ann ", "me", "Me", "ben", ""}}, "ann,ben", ""},
		{"50 others", groupRequest{Name: "T", Usernames: many(50)}, "", ""},
		{"51 others", groupRequest{Name: "T", Usernames: many(51)}, "", "at most 50"},
		{"one other", groupRequest{Name: "T", Usernames: []string{"ann", "me"}}, "", "at least 2"},
		{"none", groupRequest{Name: "T"}, "", "at least 2"},
		{"no name", groupRequest{Name: "   ", Usernames: []string{"ann", "ben"}}, "", "Give the group a name"},
		{"long name", groupRequest{Name: strings.Repeat("n", 81), Usernames: []string{"ann", "ben"}}, "", "at most 80"},
		{"80 characters", groupRequest{Name: strings.Repeat("ñ", 80), Usernames: []string{"ann", "ben"}}, "", ""},
		{"control in name", groupRequest{Name: "a\x1bb", Usernames: []string{"ann", "ben"}}, "", "control characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.g.check("me")
			if tt.err != "" {
				if apiStatus(err) != http.StatusBadRequest || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("%v, want 400 saying %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.names != "" && strings.Join(tt.g.Usernames, ",") != tt.names {
				t.Errorf("usernames %q, want %s", tt.g.Usernames, tt.names)
			}
			if strings.TrimSpace(tt.g.Name) != tt.g.Name {
				t.Errorf("name not trimmed: %q", tt.g.Name)
			}
		})
	}
}

func TestDMKey(t *testing.T) {
	if dmKey(9, 10) != "9:10" || dmKey(10, 9) != "9:10" || dmKey(1, 1) != "1:1" {
		t.Fatalf("%s %s", dmKey(9, 10), dmKey(10, 9))
	}
}

// TestParsePresenceFrame: only {"type": "heartbeat"} is taken.
func TestParsePresenceFrame(t *testing.T) {
	for frame, ok := range map[string]bool{
		`{"type":"heartbeat"}`:            true,
		` {"type": "heartbeat"} `:         true,
		`{"type":"heartbeat","x":1}`:      false,
		`{"type":"typing"}`:               false,
		`{"type":"HEARTBEAT"}`:            false,
		`{}`:                              false,
		`"heartbeat"`:                     false,
		`null`:                            false,
		`{"type":"heartbeat"} {}`:         false,
		`{"type":"heartbeat"`:             false,
		`[{"type":"heartbeat"}]`:          false,
		`{"type":["heartbeat"]}`:          false,
		strings.Repeat(`[`, 10000):        false,
		`{"type":"heartbeat","type":"x"}`: false,
	} {
		if err := parsePresenceFrame([]byte(frame)); (err == nil) != ok {
			t.Errorf("%.40s: %v, want ok=%v", frame, err, ok)
		}
	}
}

// FuzzParsePresenceFrame: a client's frame never panics the decoder, and
// what it takes is a heartbeat.
func FuzzParsePresenceFrame(f *testing.F) {
	f.Add([]byte(`{"type":"heartbeat"}`))
	f.Add([]byte(`{"type":"heartbeat","a":[1,2]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if parsePresenceFrame(data) == nil && !strings.Contains(string(data), "heartbeat") {
			t.Fatalf("took %q", data)
		}
	})
}

func TestValidStatus(t *testing.T) {
	for s, ok := range map[string]bool{"online": true, "away": true, "dnd": true, "offline": true, "": false, "Online": false, "busy": false} {
		if validStatus(s) != ok {
			t.Errorf("%q: %v", s, !ok)
		}
	}
}

func TestInt64Array(t *testing.T) {
	if got := int64Array(nil); got != "{}" {
		t.Error(got)
	}
	if got := int64Array([]int64{1, 22, 333}); got != "{1,22,333}" {
		t.Error(got)
	}
}

// TestGeneratePassword: long, from the alphabet, different each time,
// never holding the username (even a short one that would often appear).
func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	for i := range 200 {
		user := []string{"ab", "x9", "alice"}[i%3]
		pw, err := generatePassword(user)
		if err != nil {
			t.Fatal(err)
		}
		if utf8.RuneCountInString(pw) != passwordGroups*passwordGroup+passwordGroups-1 || len(pw) < 15 {
			t.Fatalf("%q: wrong length", pw)
		}
		for _, c := range strings.ReplaceAll(pw, "-", "") {
			if !strings.ContainsRune(passwordChars, c) {
				t.Fatalf("%q holds %q", pw, c)
			}
		}
		if strings.Contains(strings.ToLower(pw), user) {
			t.Fatalf("%q holds the username %q", pw, user)
		}
		if seen[pw] {
			t.Fatalf("%q twice", pw)
		}
		seen[pw] = true
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Second:                    "1 second",
		59 * time.Second:               "59 seconds",
		2 * time.Minute:                "2 minutes",
		10*time.Minute + 5*time.Second: "10 minutes 5 seconds",
		3 * time.Hour:                  "3 hours",
		26*time.Hour + 30*time.Minute:  "26 hours 30 minutes",
		49 * time.Hour:                 "2 days 1 hour",
		365 * 24 * time.Hour:           "365 days",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("%v: %q, want %q", d, got, want)
		}
	}
}

func TestCheckReason(t *testing.T) {
	for _, tt := range []struct {
		in, out, err string
	}{
		{"  spam  ", "spam", ""},
		{"line\nbreak", "line\nbreak", ""},
		{strings.Repeat("é", 500), strings.Repeat("é", 500), ""},
		{strings.Repeat("é", 501), "", "at most 500"},
		{"a\tb", "", "control"},
		{"a\u202eb", "", "control"},
		{"a\xffb", "", "at most 500"},
	} {
		got, err := checkReason(tt.in)
		if (err != nil) != (tt.err != "") || (err != nil && !strings.Contains(err.Error(), tt.err)) || got != tt.out {
			t.Errorf("%.20q: %q, %v", tt.in, got, err)
		}
	}
}

func TestTargetPrivileged(t *testing.T) {
	for _, tt := range []struct {
		t    target
		want string
	}{
		{target{}, ""},
		{target{admin: true, staff: true}, "an admin"},
		{target{staff: true}, "staff (a chat admin)"},
		{target{auditor: true}, "an auditor"},
	} {
		if got := tt.t.privileged(); got != tt.want {
			t.Errorf("%+v: %q", tt.t, got)
		}
	}
}

func TestFormatStatus(t *testing.T) {
	got := formatStatus(sdk.ServerStatus{
		Replica: "web-1 (pid 42)", StartedAt: "2030-01-01T00:00:00Z", Goroutines: 321, Connections: 12,
		Modules: []sdk.ModuleStatus{{Name: "noticeboard", Version: "1.0.0", Instances: 1}, {Name: "chat", Version: "1.0.0", Instances: 2, Busy: 1, Queued: 3}},
		DBPool:  sdk.DBPoolStatus{Max: 20, Total: 5, Acquired: 2, Idle: 3},
	})
	want := `Replica web-1 (pid 42), running since 2030-01-01T00:00:00Z
Goroutines: 321
Realtime connections: 12
Database pool: 5 of 20 connections open (2 in use, 3 idle)
Modules: 2
  chat 1.0.0: 2 instances, 1 busy, 3 requests waiting
  noticeboard 1.0.0: 1 instances, 0 busy, 0 requests waiting`
	if got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
}

func TestDescribeAudit(t *testing.T) {
	users := map[int64]string{7: "ann", 8: "ben", 9: "deleted user"}
	rooms := map[int64]string{3: "Sales"}
	for in, want := range map[string]string{
		`{"via":"command","user":7,"reason":"spam","connections_closed":2}`: "user: ann; reason: spam; connections closed: 2; via: command",
		`{"a":7,"b":9}`: "a: ann; b: deleted user",
		`{"room":3,"user":8,"zeta":"z","alpha":1,"generated":true}`: "user: ben; room: Sales; generated: true; alpha: 1; zeta: z",
		`{"reason":""}`: "",
		`{"room":4}`:    "room: 4",
	} {
		var m map[string]any
		if err := json.Unmarshal([]byte(in), &m); err != nil {
			t.Fatal(err)
		}
		if got := describeAudit(m, users, rooms); got != want {
			t.Errorf("%s: %q, want %q", in, got, want)
		}
	}
}

func TestSentence(t *testing.T) {
	for in, want := range map[string]string{"": "", "there is no user \"x\"": "There is no user \"x\".", "Done.": "Done."} {
		if got := sentence(in); got != want {
			t.Errorf("%q: %q", in, got)
		}
	}
}

package main

import (
	"archive/zip"
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// TestUserCommands runs the owner's user commands in process against a
// running site (on its embedded PostgreSQL, which the commands share) and
// checks what each did.
func TestUserCommands(t *testing.T) {
	ctx := context.Background()
	data := dataDir(t)
	t.Setenv("WEBSONIC_DATABASE_URL", "")
	cfg := server.Config{DataDir: data}
	srv, err := server.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	if _, err := srv.CreateAdmin(ctx, "boss", "", "", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	console, err := server.OpenConsole(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	if _, err := console.CreateAdmin(ctx, "mia", "", "", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("WEBSONIC_USER_PASSWORD", "a fresh new passphrase")
	t.Setenv("WEBSONIC_SITE_KEY", "")
	site := []string{"--data-dir", data}
	steps := []struct {
		args    []string
		ok      bool
		out     string
		inState func(u *server.UserStatus) bool
	}{
		{[]string{"admin", "role", "mia", "revoke", "admin"}, true, "mia now holds: member", func(u *server.UserStatus) bool { return !u.Has("admin") }},
		{[]string{"admin", "role", "boss", "revoke", "admin"}, false, "last admin", nil},
		{[]string{"admin", "role", "mia", "grant", "auditor"}, true, "auditor, member", func(u *server.UserStatus) bool { return u.Has("auditor") }},
		{[]string{"admin", "role", "mia", "promote", "auditor"}, false, "grant or revoke", nil},
		{[]string{"admin", "ban", "mia", "--reason", "spam"}, true, "banned mia", func(u *server.UserStatus) bool { return u.Banned && u.BanReason == "spam" && u.BannedBy == "terminal" }},
		{[]string{"admin", "user", "mia"}, true, "BANNED by terminal: spam", nil},
		{[]string{"admin", "unban", "mia"}, true, "lifted", func(u *server.UserStatus) bool { return !u.Banned }},
		{[]string{"admin", "suspend", "mia", "7d", "--reason", "cool down"}, true, "suspended mia", func(u *server.UserStatus) bool { return !u.SuspendedUntil.IsZero() }},
		{[]string{"admin", "suspend", "mia", "soon"}, false, "want a duration", nil},
		{[]string{"admin", "suspend", "mia", "--lift"}, true, "lifted", func(u *server.UserStatus) bool { return u.SuspendedUntil.IsZero() }},
		{[]string{"admin", "password", "mia"}, true, "set the password of mia", nil},
		{[]string{"user", "list", "--search", "MI"}, true, "users 1 to 1 of 1", nil},
		{[]string{"user", "list", "--role", "admin", "--sort", "created"}, true, "boss", nil},
		{[]string{"user", "list", "--sort", "age"}, false, "invalid user query", nil},
		{[]string{"user", "sessions", "mia"}, true, "mia has no live session", nil},
		{[]string{"user", "end-session", "mia", "--all"}, true, "ended 0 session(s) of mia", nil},
		{[]string{"user", "end-session", "mia", "0123456789abcdef01234567"}, false, "no such session", nil},
		{[]string{"user", "end-session", "mia"}, false, "want a username and a session ID", nil},
		{[]string{"user", "end-session", "nobody", "--all"}, false, "unknown user", nil},
		{[]string{"admin", "audit", "--action", "user.ban", "--subject", "mia"}, true, "terminal  user.ban  mia", nil},
		{[]string{"admin", "audit", "--actor", "terminal", "--limit", "1"}, true, "older entries: --before", nil},
		{[]string{"admin", "audit", "--since", "31/01/2024"}, false, "want a date", nil},
		{[]string{"admin", "audit", "--until", "2000-01-01"}, true, "ID  WHEN", nil},
		{[]string{"admin", "ban", "nobody"}, false, "unknown user", nil},
		{[]string{"admin", "settings"}, true, "theme:     builtin", nil},
		{[]string{"admin", "settings", "--name", "Boulangerie Martin", "--theme", "harbor", "--language", "fr"}, true, "name:      Boulangerie Martin", nil},
		{[]string{"admin", "settings"}, true, "theme:     harbor", nil},
		{[]string{"admin", "settings", "--theme", "no-such-theme"}, false, "there is no theme", nil},
		{[]string{"admin", "settings", "--accent", "#ffff00"}, false, "too light", nil},
		{[]string{"admin", "settings", "--language", "de"}, false, "unknown language", nil},
		{[]string{"admin", "settings", "--logo", "main.go"}, false, "PNG, JPEG or WebP", nil},
		{[]string{"admin", "settings", "--accent", "none", "--theme", "builtin"}, true, "accent:    (the theme's own)", nil},
		{[]string{"admin", "block-ip", "203.0.113.0/24", "--for", "1d", "--reason", "abuse"}, true, "blocked 203.0.113.0/24", nil},
		{[]string{"admin", "block-ip", "2001:db8::1"}, true, "blocked 2001:db8::1", nil},
		{[]string{"admin", "block-ip", "--list"}, true, "203.0.113.0/24", nil},
		{[]string{"admin", "block-ip", "10.0.0.1/8"}, false, "invalid address", nil},
		{[]string{"admin", "unblock-ip", "203.0.113.0/24"}, true, "lifted the block", nil},
		{[]string{"admin", "unblock-ip", "203.0.113.0/24"}, false, "no such block", nil},
		{[]string{"data-key", "rotate"}, true, "added data key 2", nil},
	}
	for _, st := range steps {
		t.Run(strings.Join(st.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(append(st.args, site...), strings.NewReader(""), &stdout, &stderr)
			if (err == nil) != st.ok {
				t.Fatalf("error %v, want ok=%v; stderr:\n%s", err, st.ok, stderr.String())
			}
			got := stdout.String()
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, st.out) {
				t.Errorf("output lacks %q:\n%s", st.out, got)
			}
			if st.inState != nil {
				u, err := console.User(ctx, "mia")
				if err != nil || !st.inState(u) {
					t.Errorf("mia afterwards: %+v (%v)", u, err)
				}
			}
		})
	}
	if fi, err := os.Stat(filepath.Join(data, "data-keys.json")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v", err)
	}
	// Export and erasure go through the request queue to the running site.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if n, err := console.Listeners(ctx); err == nil && n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the site never answered requests")
		}
	}
	archive := filepath.Join(t.TempDir(), "mia.zip")
	for _, st := range []struct {
		args []string
		ok   bool
		out  string
	}{
		{[]string{"user", "export", "mia", "-o", archive}, true, "wrote mia's data to " + archive},
		{[]string{"user", "export", "mia", "-o", archive}, false, "exists already"},
		{[]string{"user", "erase", "mia"}, false, "pass --yes"},
		{[]string{"user", "erase", "mia", "--yes"}, true, "erased user"},
		{[]string{"user", "export", "mia", "-o", "-"}, false, "unknown user"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(append(st.args, site...), strings.NewReader(""), &stdout, &stderr)
		got := stdout.String()
		if err != nil {
			got = err.Error()
		}
		if (err == nil) != st.ok || !strings.Contains(got, st.out) {
			t.Errorf("%v: %v, output %q, want %q", st.args, err, got, st.out)
		}
	}
	if zr, err := zip.OpenReader(archive); err != nil {
		t.Errorf("archive: %v", err)
	} else {
		var names []string
		for _, f := range zr.File {
			names = append(names, f.Name)
		}
		zr.Close()
		if strings.Join(names, " ") != "manifest.json core.json" {
			t.Errorf("archive holds %v", names)
		}
	}
	blocks, err := console.IPBlocks(ctx)
	if err != nil || len(blocks) != 1 || blocks[0].Prefix.String() != "2001:db8::1/128" {
		t.Errorf("blocks left: %v %v", blocks, err)
	}
}

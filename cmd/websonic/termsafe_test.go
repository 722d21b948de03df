package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode"

	"github.com/websonic/websonic/runtime/server"
	"github.com/websonic/websonic/sdk/manifest"
)

// hostileText is what an anonymous visitor types as a username, a module
// publisher as a description: a terminal's escape sequences (set the
// window title; erase the line above), a carriage return and a line break
// that fake a row of the owner's table.
const hostileText = "\x1b]0;pwned\x07\x1b[1A\x1b[2Kx\r9999  2024-01-01 00:00:00  boss  user.role_grant\nfake\u202e"

// terminalSafe says whether s holds nothing a terminal acts on.
func terminalSafe(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return r != '\n' && r != '\t' && (unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r))
	}) < 0
}

// TestAdminAuditTerminalInjection: a failed sign-in's typed username is
// the audit entry's subject; `websonic admin audit` prints it to the
// owner's terminal, which must not act on it, nor show a row that is not
// an entry.
func TestAdminAuditTerminalInjection(t *testing.T) {
	ctx := context.Background()
	data := dataDir(t)
	t.Setenv("WEBSONIC_DATABASE_URL", "")
	srv, err := server.Open(ctx, server.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	resp, err := http.PostForm(hs.URL+"/login", url.Values{"username": {hostileText[:60]}, "password": {"guess"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var stdout, stderr bytes.Buffer
	if err := run([]string{"admin", "audit", "--action", "user.login_failed", "--data-dir", data}, strings.NewReader(""), &stdout, &stderr); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "user.login_failed") {
		t.Fatalf("no failed sign-in in:\n%s", out)
	}
	if !terminalSafe(out) {
		t.Errorf("the terminal would act on:\n%q", out)
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d lines, want a header and one entry:\n%s", n, out)
	}
}

// TestModulePrintsTerminalSafe: what a module's publisher writes (its
// description, what it asks for) reaches the owner's terminal inert.
func TestModulePrintsTerminalSafe(t *testing.T) {
	if s := termSafe(hostileText); !terminalSafe(s) || strings.ContainsAny(s, "\n\t") || !strings.Contains(s, `\x1b]0;pwned`) {
		t.Errorf("termSafe: %q", s)
	}
	var b bytes.Buffer
	showPreview(&b, "approve", &server.ModulePreview{Module: "news", Version: "1.1.0", Installed: "1.0.0",
		Capabilities: manifest.Capabilities{Nav: []manifest.NavEntry{{Label: hostileText, Path: "/news"}}, Topics: []string{hostileText}},
		New:          []string{"topic " + hostileText}})
	if !terminalSafe(b.String()) {
		t.Errorf("the approval printed:\n%q", b.String())
	}
}

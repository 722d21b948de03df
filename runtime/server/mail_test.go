package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/mail/mailtest"
	"github.com/websonic/websonic/sdk/abi"
)

// mailerBuild builds the mailer test module once per test binary.
var mailerBuild = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "mailer-build", "mailer")
	return dir, modbuild.Package(context.Background(), "../internal/testmodules/mailer", dir)
})

// mailerSite starts a site with the mailer test module and, with
// nomailer, a copy of it named nomailer on /nomailer whose manifest does
// not ask for mail.
func mailerSite(t *testing.T, nomailer bool, options ...func(*Config)) *testSite {
	t.Helper()
	built, err := mailerBuild()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	names := []string{"mailer"}
	if nomailer {
		names = append(names, "nomailer")
	}
	for _, name := range names {
		if err := os.CopyFS(filepath.Join(dir, name), os.DirFS(built)); err != nil {
			t.Fatal(err)
		}
	}
	if nomailer {
		path := filepath.Join(dir, "nomailer", "module.json")
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		m["name"] = "nomailer"
		caps := m["capabilities"].(map[string]any)
		delete(caps, "mail")
		caps["routes"] = []map[string]any{{"path": "/nomailer", "methods": []string{"POST"}, "access": "public"}}
		if raw, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return newSiteWith(t, dir, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), options...)
}

// mailOutcome is what the mailer module saw.
type mailOutcome struct {
	ID     string `json:"id"`
	Error  string `json:"error"`
	Code   string `json:"code"`
	Denied bool   `json:"denied"`
}

// sendVia has the module on route prefix send m.
func (s *testSite) sendVia(t *testing.T, prefix string, m map[string]any) mailOutcome {
	t.Helper()
	b, _ := json.Marshal(m)
	resp, err := http.Post(s.URL+prefix+"/send", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out mailOutcome
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s/send: %s", prefix, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMailEndToEnd: a compiled module whose manifest asks for mail sends,
// through sdk.SendMail and the site's relay (a real SMTP server on
// loopback), a message that arrives with the owner's sender; the same
// module without the capability is denied; a header injection through the
// SDK is refused; the admin area's settings page says where mail goes.
func TestMailEndToEnd(t *testing.T) {
	relay := mailtest.Start(t, mailtest.Options{})
	s := mailerSite(t, true, func(c *Config) {
		c.Mail.Relay = "smtp+insecure://" + relay.Addr
		c.Mail.From = "Test Site <noreply@site.test>"
	})

	out := s.sendVia(t, "/mailer", map[string]any{
		"to": []string{"ana@example.com"}, "subject": "Your ticket #7", "text": "Bo answered.", "html": "<p>Bo answered.</p>",
		"fromname": "Support", "headers": map[string]string{"X-Ticket": "7"},
	})
	if out.Error != "" || !strings.HasSuffix(out.ID, "@site.test") {
		t.Fatalf("send: %+v", out)
	}
	msg := relay.Wait(t, 1)[0]
	for field, want := range map[string]string{
		"From": `"Support" <noreply@site.test>`, "To": "<ana@example.com>", "Subject": "Your ticket #7",
		"Message-Id": "<" + out.ID + ">", "X-Websonic-Module": "mailer", "X-Ticket": "7", "Auto-Submitted": "auto-generated",
	} {
		if got := msg.Header.Get(field); got != want {
			t.Errorf("%s: %q, want %q", field, got, want)
		}
	}
	if !strings.Contains(string(msg.Raw), "Bo answered.") || !strings.Contains(msg.Header.Get("Content-Type"), "multipart/alternative") {
		t.Errorf("message:\n%s", msg.Raw)
	}

	out = s.sendVia(t, "/nomailer", map[string]any{"to": []string{"ana@example.com"}, "subject": "Hi", "text": "x"})
	if !out.Denied || out.Code != abi.HostErrDenied || out.ID != "" {
		t.Fatalf("without the capability: %+v", out)
	}
	out = s.sendVia(t, "/mailer", map[string]any{"to": []string{"ana@example.com"}, "subject": "Hi\r\nBcc: victim@example.com", "text": "x"})
	if out.Code != abi.HostErrInvalid || !strings.Contains(out.Error, "subject") {
		t.Fatalf("header injection: %+v", out)
	}
	if n := len(relay.Messages()); n != 1 {
		t.Fatalf("%d messages reached the relay, want 1", n)
	}
	as := httptest.NewServer(s.srv.AdminHandler())
	defer as.Close()
	c, _ := adminSession(t, s.srv, as.URL)
	if _, b := c.do("GET", "/admin/settings", nil, map[string]string{"Accept-Language": "en"}); !strings.Contains(b, "through the mail relay "+relay.Addr+" (plain, unencrypted) as &#34;Test Site&#34; &lt;noreply@site.test&gt;.") {
		t.Fatalf("the settings page does not say where mail goes:\n%s", b)
	}
	if _, b := c.do("GET", "/admin/settings", nil, map[string]string{"Accept-Language": "fr"}); !strings.Contains(b, "par le relais de messagerie "+relay.Addr) {
		t.Fatalf("the settings page in French:\n%s", b)
	}
}

// TestMailNoRelay: on a site without a relay, a module that may send is
// told so, and the runtime keeps serving it.
func TestMailNoRelay(t *testing.T) {
	s := mailerSite(t, false)
	as := httptest.NewServer(s.srv.AdminHandler())
	defer as.Close()
	c, _ := adminSession(t, s.srv, as.URL)
	if _, b := c.do("GET", "/admin/settings", nil, map[string]string{"Accept-Language": "en"}); !strings.Contains(b, "The site has no mail relay") {
		t.Fatalf("the settings page does not say there is no relay:\n%s", b)
	}
	for range 2 {
		out := s.sendVia(t, "/mailer", map[string]any{"to": []string{"ana@example.com"}, "subject": "Hi", "text": "x"})
		if out.Code != abi.HostErrFailed || !strings.Contains(out.Error, "the site has no mail relay") {
			t.Fatalf("without a relay: %+v", out)
		}
	}
}

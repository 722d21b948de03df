package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/logstore"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/runtime/internal/telemetry"
)

// TestTelemetry: real calls into real modules show in the sampler's
// figures (calls, failures, latency, memory) and the site's, and the
// failures' log lines in the log store under the module's logger; the
// access log's lines do not crowd the store.
func TestTelemetry(t *testing.T) {
	mods, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: testLog{t}}))
	tel := s.srv.Telemetry()
	start := time.Now()
	if err := tel.Sample(start); err != nil { // the baseline: health calls at start
		t.Fatal(err)
	}
	get := func(path string, want int) {
		t.Helper()
		resp, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for range 5 {
		get("/guestbook", http.StatusOK)
	}
	for range 2 {
		get("/hostile/panic", http.StatusInternalServerError)
	}
	if err := tel.Sample(start.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}

	hello := tel.ModuleStats("hello")
	if hello.RecentCalls < 5 || hello.Calls < hello.RecentCalls || hello.Errors != 0 || hello.P95 <= 0 || hello.Memory <= 0 || hello.Instances < 1 {
		t.Errorf("hello %+v", hello)
	}
	reqs := tel.Series("hello", telemetry.Requests, start.Add(time.Second))
	if len(reqs) != 1 || reqs[0].Value < 5 {
		t.Errorf("hello's requests in the last minute: %+v", reqs)
	}
	hostile := tel.ModuleStats("hostile")
	if hostile.RecentErrors != 2 {
		t.Errorf("hostile %+v, want 2 failed calls", hostile)
	}
	siteStats := tel.Site()
	if siteStats.RecentRequests < 7 || siteStats.RecentServerErrors != 2 {
		t.Errorf("site %+v", siteStats)
	}
	if got := tel.Modules(); !contains(got, "hello") || !contains(got, "hostile") {
		t.Errorf("modules %v", got)
	}

	logs := s.srv.Logs()
	page := logs.Query(logstore.Query{Component: logstore.ModuleComponent("hostile"), Level: hclog.Error})
	if len(page.Entries) != 2 || page.Entries[0].Message != "module call failed" {
		t.Errorf("hostile's errors in the log store: %+v", page.Entries)
	}
	if p := logs.Query(logstore.Query{Text: "/guestbook"}); len(p.Entries) != 0 {
		t.Errorf("access log lines kept: %+v", p.Entries)
	}
	if p := logs.Query(logstore.Query{Component: logstore.ModuleComponent("hello"), Text: "module started"}); len(p.Entries) != 1 {
		t.Errorf("hello's start: %+v", p.Entries)
	}

	// The admin area shows them: the dashboard and the system logs, to an
	// admin and an auditor.
	ctx := context.Background()
	if _, err := s.srv.CreateAdmin(ctx, "root", "Root", "", "admin-password-1234"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.srv.site.Store().CreateUser(ctx, site.NewUser{Username: "audrey", DisplayName: "Audrey", Password: "auditor-password-1234", Role: site.RoleAuditor}); err != nil {
		t.Fatal(err)
	}
	as := httptest.NewServer(s.srv.AdminHandler())
	defer as.Close()
	for _, who := range []struct{ user, pass string }{{"root", "admin-password-1234"}, {"audrey", "auditor-password-1234"}} {
		c := &adminClient{t: t, origin: as.URL}
		if resp := c.login(who.user, who.pass); c.cookie == nil {
			t.Fatalf("%s: login %d", who.user, resp.StatusCode)
		}
		resp, b := c.do("GET", "/admin/", nil, nil)
		for _, want := range []string{"1 thing needs your attention", "hostile failed 2 requests in the last hour.", "<th scope=\"row\">hello</th>",
			`role="img"`, "Requests per module", "<title id=\"chart-latency-title\">"} {
			if resp.StatusCode != 200 || !strings.Contains(b, want) {
				t.Errorf("%s: dashboard %d: no %q in\n%s", who.user, resp.StatusCode, want, b)
			}
		}
		resp, b = c.do("GET", "/admin/logs?level=error&component=module.hostile", nil, nil)
		if resp.StatusCode != 200 || strings.Count(b, "<td>module call failed<br>") != 2 || strings.Contains(b, "module started") {
			t.Errorf("%s: system logs %d:\n%s", who.user, resp.StatusCode, b)
		}
		resp, b = c.do("GET", "/admin/logs?text=started&level=info", nil, map[string]string{"Accept-Language": "fr"})
		if resp.StatusCode != 200 || !strings.Contains(b, "Journaux système") || !strings.Contains(b, "Module hello") {
			t.Errorf("%s: system logs in French %d:\n%s", who.user, resp.StatusCode, b)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

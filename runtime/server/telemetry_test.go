package server

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/logstore"
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
	site := tel.Site()
	if site.RecentRequests < 7 || site.RecentServerErrors != 2 {
		t.Errorf("site %+v", site)
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
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

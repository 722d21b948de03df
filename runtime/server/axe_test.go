package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/go-hclog"
)

// The axe-core accessibility engine, vendored (make vendor-axe) at a
// pinned version and checked against its recorded digest: tests never
// fetch it.
const (
	axeFile       = "testdata/axe/axe.min.js"
	axeDigestFile = "testdata/axe/axe.min.js.sha256"
)

// axeSource reads the vendored axe-core and checks its digest.
func axeSource(t testing.TB) string {
	t.Helper()
	src, err := os.ReadFile(axeFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(axeDigestFile)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	if got := hex.EncodeToString(sum[:]); !strings.HasPrefix(string(want), got) {
		t.Fatalf("%s: digest %s is not the vendored one (%s): run make vendor-axe", axeFile, got, strings.TrimSpace(string(want)))
	}
	return string(src)
}

// axeViolation is one rule axe found broken, with the elements breaking it.
type axeViolation struct {
	ID, Impact, Help string
	Nodes            []struct {
		HTML   string `json:"html"`
		Target []any  `json:"target"`
	}
}

// checkAccessible runs axe-core (WCAG 2.0–2.2 A and AA rules and axe's
// best practices) over the browser's current page and fails the test on
// every serious or critical violation. DevTools evaluation is not bound by
// the page's Content-Security-Policy, so pages that allow no script at all
// are checked as they are.
func (b *browser) checkAccessible(page string) {
	b.t.Helper()
	for _, v := range b.axeSerious(page) {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprintf("%v %.160s", n.Target, n.HTML))
		}
		b.t.Errorf("%s: axe (%s) %s: %s\n  %s", page, v.Impact, v.ID, v.Help, strings.Join(where, "\n  "))
	}
}

// axeSerious runs axe over the current page and returns its serious and
// critical violations (the others are logged).
func (b *browser) axeSerious(page string) []axeViolation {
	b.t.Helper()
	if !run(b, page+": is axe loaded", chromedp.Evaluate[bool](`typeof axe !== "undefined"`)) {
		run(b, page+": load axe", chromedp.Evaluate[json.RawMessage](axeSource(b.t)+";true"))
	}
	raw := run(b, page+": run axe", chromedp.Evaluate[json.RawMessage](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => JSON.stringify(r.violations))`, chromedp.EvalAwaitPromise))
	var text string
	if err := json.Unmarshal(raw, &text); err != nil {
		b.t.Fatalf("%s: axe answered %.200s: %v", page, raw, err)
	}
	var vs []axeViolation
	if err := json.Unmarshal([]byte(text), &vs); err != nil {
		b.t.Fatalf("%s: axe answered %.200s: %v", page, text, err)
	}
	var serious []axeViolation
	for _, v := range vs {
		if v.Impact != "serious" && v.Impact != "critical" {
			b.t.Logf("%s: axe (%s) %s: %s", page, v.Impact, v.ID, v.Help)
			continue
		}
		serious = append(serious, v)
	}
	return serious
}

// TestBrowserAccessibleSitePages: the site's own pages and the admin
// area's sign-in page pass axe-core with no serious or critical violation.
func TestBrowserAccessibleSitePages(t *testing.T) {
	b := newBrowser(t)
	s := newSiteWith(t, "", hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: testLog{t}}))
	for _, path := range []string{"/", "/login", "/register"} {
		b.do("open "+path, chromedp.Navigate(s.URL+path), chromedp.WaitVisible(chromedp.CSS(`main`)))
		b.checkAccessible("site " + path)
	}
	as := httptest.NewServer(s.srv.AdminHandler())
	defer as.Close()
	b.do("open the admin sign-in", chromedp.Navigate(as.URL+"/admin/login"), chromedp.WaitVisible(chromedp.CSS(`main`)))
	b.checkAccessible("admin sign-in")
	// The check can fail: a page with an unlabelled field and an image
	// without text has serious violations.
	b.do("open a broken page", chromedp.Navigate(`data:text/html,<!doctype html><html lang="en"><title>x</title><main><img src="x.png"><input></main></html>`))
	if vs := b.axeSerious("broken page"); len(vs) < 2 {
		t.Fatalf("axe found %d serious violations on a broken page: %+v", len(vs), vs)
	}
}

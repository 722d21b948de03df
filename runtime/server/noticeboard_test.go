package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/modbuild"
	"github.com/websonic/websonic/runtime/internal/realtime"
	"github.com/websonic/websonic/runtime/internal/site"
)

// noticeboardModules builds examples/noticeboard once per test binary.
var noticeboardModules = sync.OnceValues(func() (string, error) {
	dir := filepath.Join(scratch, "nbmodules")
	return dir, modbuild.Package(context.Background(), "../../examples/noticeboard", filepath.Join(dir, "noticeboard"))
})

// TestNoticeboardExample runs the SDK walkthrough examples/noticeboard in a
// real runtime: every host service it shows does what its README says.
func TestNoticeboardExample(t *testing.T) {
	mods, err := noticeboardModules()
	if err != nil {
		t.Fatal(err)
	}
	clk := newFakeClock(time.Date(2030, 1, 1, 2, 59, 30, 0, time.UTC))
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}), func(c *Config) { c.JobClock = clk.now })
	ctx := context.Background()
	alice, aliceID := signIn(t, s, "alice")
	bob, _ := signIn(t, s, "bob")
	admin := s.user(t, "root_admin", site.RoleAdmin)

	post := func(c *http.Client, text string) {
		t.Helper()
		resp := postForm(t, c, s.URL+"/noticeboard", url.Values{"text": {text}})
		if b := body(t, resp); resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("post %q: %d %s", text, resp.StatusCode, b)
		}
	}

	// Realtime: members may follow the board, anonymous sockets may not.
	ws := dial(t, s.URL, bob)
	ws.subscribe("noticeboard.new")
	anon := dial(t, s.URL, nil)
	anon.send(`{"type":"subscribe","topic":"noticeboard.new"}`)
	anon.expect(realtime.TypeRefused, "noticeboard.new")

	const secret = "The boiler is serviced on Tuesday"
	post(alice, secret)
	ev := ws.expect(realtime.TypeEvent, "noticeboard.new")
	var got struct{ Author, Text string }
	if err := json.Unmarshal(ev.Data, &got); err != nil || got.Text != secret || got.Author != "alice" {
		t.Fatalf("event %s (%v)", ev.Data, err)
	}
	resp, err := alice.Get(s.URL + "/noticeboard")
	if err != nil {
		t.Fatal(err)
	}
	if page := body(t, resp); resp.StatusCode != 200 || !strings.Contains(page, secret) || !strings.Contains(page, "/static/modules/noticeboard/") {
		t.Fatalf("the board: %d\n%s", resp.StatusCode, page)
	}

	// The admin page is rendered by the host too (sdk.Render through a
	// host call): the fragment lists the notice.
	mod, err := s.srv.AdminPage(ctx, admin, "noticeboard", "moderation", AdminPageCall{Method: http.MethodGet, Lang: "fr"})
	if err != nil {
		t.Fatal(err)
	}
	if f := string(mod.Fragment); mod.Status != 200 || !strings.Contains(f, "<caption>Newest notices</caption>") ||
		!strings.Contains(f, secret) || strings.Contains(f, `"Notices"`) {
		t.Fatalf("the moderation page: %d\n%s", mod.Status, f)
	}

	// Seal: the text is not in the database in clear.
	var sealed []byte
	if err := s.srv.Module("noticeboard").DB().Pool().QueryRow(ctx, `SELECT sealed FROM notices`).Scan(&sealed); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("boiler")) {
		t.Fatalf("the notice is stored in clear: %q", sealed)
	}

	// Commands, as an admin would run them.
	res, err := s.srv.RunCommand(ctx, admin, "noticeboard", "stats", nil)
	if err != nil || len(res.Rows) != 1 || fmt.Sprintf("%v %v", res.Rows[0][0], res.Rows[0][1]) != "alice 1" {
		t.Fatalf("stats: %+v, %v", res, err)
	}
	res, err = s.srv.RunCommand(ctx, admin, "noticeboard", "purge", map[string]json.RawMessage{
		"older_than_days": json.RawMessage(`0`), "dry_run": json.RawMessage(`true`),
	})
	if err != nil || !strings.Contains(res.Text, "1 notice is older than 0 days (nothing deleted)") {
		t.Fatalf("purge --dry_run: %+v, %v", res, err)
	}
	if _, err := s.srv.RunCommand(ctx, admin, "noticeboard", "purge", map[string]json.RawMessage{"older_than_days": json.RawMessage(`"x"`)}); err == nil {
		t.Fatal("purge ran with a text for an integer argument")
	}

	// The nightly job: seen before 03:00, run once at its tick.
	pollAll(s.srv)
	clk.set(time.Date(2030, 1, 1, 3, 0, 5, 0, time.UTC))
	pollAll(s.srv)
	if runs := jobRuns(t, s.srv, "noticeboard", "expire"); len(runs) != 1 || runs[0] != "03:00 ok" {
		t.Fatalf("expire runs: %q", runs)
	}

	// A member's data: exported with the notice opened, then erased.
	var archive bytes.Buffer
	if err := s.srv.ExportUser(ctx, aliceID, &archive); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(archive.Bytes()), int64(archive.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var part []byte
	for _, f := range zr.File {
		if f.Name == "modules/noticeboard.json" {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			part, _ = io.ReadAll(rc)
			rc.Close()
		}
	}
	if !bytes.Contains(part, []byte(secret)) {
		t.Fatalf("the export's noticeboard part: %s", part)
	}
	if err := s.srv.EraseUser(ctx, aliceID); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := s.srv.Module("noticeboard").DB().Pool().QueryRow(ctx, `SELECT count(*) FROM notices`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d notices left after erasing their author (%v)", left, err)
	}
}

// TestBrowserNoticeboard: in Chromium, the board's asset script (the only
// script its page may run) receives a notice posted elsewhere and shows it
// without a reload.
func TestBrowserNoticeboard(t *testing.T) {
	b := newBrowser(t)
	mods, err := noticeboardModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	signIn(t, s, "carol") // the password of signIn's members
	bob, _ := signIn(t, s, "bob")
	type css = chromedp.CSS
	b.do("sign in",
		chromedp.Navigate(s.URL+"/login?next=/noticeboard"),
		chromedp.WaitVisible(css(`#username`)),
		chromedp.SendKeys(css(`#username`), "carol"),
		chromedp.SendKeys(css(`#password`), "correct horse battery"),
		chromedp.Submit(css(`#password`)),
		chromedp.WaitVisible(css(`#notices`)),
	)
	run(b, "wait until the board is live", chromedp.Poll[bool](`document.getElementById("live").textContent === "live"`))
	resp := postForm(t, bob, s.URL+"/noticeboard", url.Values{"text": {"Fire drill at <b>noon</b>"}})
	resp.Body.Close()
	run(b, "wait for bob's notice", chromedp.Poll[bool](`document.querySelector("#notices li p")?.textContent === "Fire drill at <b>noon</b>"`))
	if run(b, "look for injected markup", chromedp.Evaluate[bool](`document.querySelector("#notices b") !== null`)) {
		t.Fatal("the notice's text became markup")
	}
}

package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"

	"github.com/websonic/websonic/runtime/internal/site"
)

// TestBrowserAccountDeletion walks a real Chromium through a member's
// privacy page: the download button saves their data (a zip of their
// account); deleting the account asks for their password (a wrong one is
// refused, nothing changes), then signs them out; signing in during the
// grace period leads to the page offering to cancel, and nothing else of
// the site opens (the guestbook leads back there); cancelling keeps the
// account, and the site serves them again.
func TestBrowserAccountDeletion(t *testing.T) {
	findBrowser(t) // without a browser, skip before starting a site
	s := newSite(t)
	b := newBrowser(t) // its time budget starts now, the site ready
	ctx := context.Background()
	const username, password = "ada_privacy", "analytical-engine-1843"
	u, err := s.srv.site.Store().CreateUser(ctx, site.NewUser{Username: username, Password: password, Email: "ada@example.test"})
	if err != nil {
		t.Fatal(err)
	}
	type css = chromedp.CSS
	downloads := t.TempDir()
	signIn := func(step string, then chromedp.Action[chromedp.Void]) {
		b.do(step,
			chromedp.Navigate(s.URL+"/login"),
			chromedp.WaitVisible(css(`form[action="/login"] #username`)),
			chromedp.SendKeys(css(`#username`), username),
			chromedp.SendKeys(css(`#password`), password),
			chromedp.Submit(css(`form[action="/login"]`)),
			then,
		)
	}

	signIn("sign in", chromedp.WaitVisible(css(`form[action="/logout"]`)))
	b.do("open the privacy page and download the data",
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := cdp.Call(ctx, tg, cdpbrowser.SetDownloadBehavior, cdpbrowser.SetDownloadBehaviorParams{
				Behavior: cdpbrowser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads})
			return err
		}),
		chromedp.Navigate(s.URL+"/account/privacy"),
		chromedp.WaitVisible(css(`#download-data`)),
		chromedp.Click(css(`#download-data`)),
	)
	zipPath := filepath.Join(downloads, username+"-data.zip")
	archive := waitFile(t, b, zipPath)
	files := unzip(t, archive)
	if !strings.Contains(string(files["core.json"]), "ada@example.test") || !strings.Contains(string(files["manifest.json"]), `"hello"`) {
		t.Fatalf("the downloaded archive lacks the account or hello's part: %v", keysOf(files))
	}

	b.do("delete with a wrong password",
		chromedp.SendKeys(css(`#erase-password`), "not my password"),
		chromedp.Click(css(`#delete-account`)),
		chromedp.WaitVisible(css(`p.error[role="alert"]`)),
	)
	if due, _ := s.srv.site.Store().ErasurePending(ctx, u.ID); !due.IsZero() {
		t.Fatal("a wrong password scheduled the erasure")
	}
	b.do("delete with the password",
		chromedp.SendKeys(css(`#erase-password`), password),
		chromedp.Click(css(`#delete-account`)),
		chromedp.WaitVisible(css(`main a.button[href="/login"]`)),
	)
	if got := b.text("read the answer", "main"); !strings.Contains(got, "You have been signed out everywhere") {
		t.Fatalf("after the deletion: %q", got)
	}
	if run(b, "look for a logout form", chromedp.Evaluate[bool](`document.querySelector('form[action="/logout"]') !== null`)) {
		t.Fatal("still signed in after asking to delete the account")
	}
	if due, _ := s.srv.site.Store().ErasurePending(ctx, u.ID); due.IsZero() {
		t.Fatal("no erasure scheduled")
	}

	signIn("sign in during the grace period", chromedp.WaitVisible(css(`#cancel-erasure`)))
	b.do("open the guestbook meanwhile",
		chromedp.Navigate(s.URL+"/guestbook"),
		chromedp.WaitVisible(css(`#cancel-erasure`)),
	)
	if loc := run(b, "where the guestbook led", chromedp.Location()); !strings.HasSuffix(loc, "/account/privacy") {
		t.Fatalf("the guestbook during the grace period led to %s", loc)
	}
	b.do("keep the account",
		chromedp.Click(css(`#cancel-erasure`)),
		chromedp.WaitVisible(css(`#delete-account`)),
	)
	if got := b.text("read the notice", `p.notice`); !strings.Contains(got, "the deletion is cancelled") {
		t.Fatalf("after cancelling: %q", got)
	}
	b.do("open the guestbook again",
		chromedp.Navigate(s.URL+"/guestbook"),
		chromedp.WaitVisible(css(`textarea[name="message"]`)),
	)
	if due, _ := s.srv.site.Store().ErasurePending(ctx, u.ID); !due.IsZero() {
		t.Fatal("the erasure is still pending after cancelling")
	}
}

// waitFile waits, within a browser step's time, for the browser to finish
// saving path, and returns its bytes.
func waitFile(t *testing.T, b *browser, path string) []byte {
	t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	for {
		if data, err := os.ReadFile(path); err == nil && len(data) > 0 {
			if _, err := os.Stat(path + ".crdownload"); errors.Is(err, os.ErrNotExist) {
				return data
			}
		}
		select {
		case <-ctx.Done():
			entries, _ := os.ReadDir(filepath.Dir(path))
			t.Fatalf("the browser saved no %s (the folder holds %v)", filepath.Base(path), entries)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

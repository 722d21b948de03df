package server

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/movelink"
)

// TestBrowserMigrationUpload drives the import page in a real Chromium:
// the owner chooses an archive file and uploads it; the page's script
// sends it in chunks with a progress bar, then the page offers the check.
func TestBrowserMigrationUpload(t *testing.T) {
	b := newBrowser(t)
	s := newSite(t)
	const pass = "admin-password-1234"
	if _, err := s.srv.CreateAdmin(context.Background(), "owner", "Owner", "", pass); err != nil {
		t.Fatal(err)
	}
	as := httptest.NewServer(s.srv.AdminHandler())
	t.Cleanup(as.Close)
	archive := make([]byte, 2*uploadChunk+4321)
	rand.Read(archive)
	file := filepath.Join(t.TempDir(), "site.age")
	if err := os.WriteFile(file, archive, 0o600); err != nil {
		t.Fatal(err)
	}
	type css = chromedp.CSS
	b.do("sign in",
		chromedp.Navigate(as.URL+"/admin/login"),
		chromedp.SendKeys(css(`#username`), "owner"),
		chromedp.SendKeys(css(`#password`), pass),
		chromedp.Submit(css(`#password`)),
		chromedp.WaitVisible(css(`nav.side`)),
	)
	b.do("open the import page", chromedp.Navigate(as.URL+"/admin/migration/import"), chromedp.WaitVisible(css(`#upload`)))
	b.do("upload the archive",
		chromedp.SetUploadFiles(css(`#archive`), []string{file}),
		chromedp.Click(css(`#upload`)),
		chromedp.WaitVisible(css(`#incoming-complete`)),
		chromedp.WaitVisible(css(`#check`)),
	)
	path, err := s.srv.portal.incomingPath(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != string(archive) {
		t.Fatalf("the uploaded archive (%d bytes) differs from the file (%d bytes)", len(got), len(archive))
	}
	b.checkAccessible("admin migration import")
}

// TestBrowserMigrationImport drives the target's import page in a real
// Chromium from a source's one-time link to the final report: the owner
// pastes the link (the target downloads the archive from the source
// runtime), checks it (the dry run's report), types the source's
// fingerprint and imports over the target's own data; the page follows
// the import, its session goes with the replaced data, and the source's
// owner, signed in on the target, finds the report and what to do next.
func TestBrowserMigrationImport(t *testing.T) {
	br := newBrowser(t)
	ctx := context.Background()
	log := hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}})
	a := newSiteWith(t, "", log)
	const pass = "admin-password-1234"
	if _, err := a.srv.CreateAdmin(ctx, "owner", "Owner", "", pass); err != nil {
		t.Fatal(err)
	}
	b := newSiteWith(t, "", log)
	grantCreateDB(t, b.db)
	if _, err := b.srv.CreateAdmin(ctx, "newowner", "New owner", "", "target-password-1234"); err != nil {
		t.Fatal(err)
	}
	as := httptest.NewServer(b.srv.AdminHandler())
	t.Cleanup(as.Close)

	// The source's export, as its page makes it: a link, then the archive.
	rcpt, err := b.srv.PrepareImport()
	if err != nil {
		t.Fatal(err)
	}
	links := a.srv.portal.links
	token, id, err := links.CreateLink(ctx, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	arch, err := links.CreateArchive()
	if err != nil {
		t.Fatal(err)
	}
	exp, err := a.srv.ExportSite(ctx, arch, rcpt, MoveOptions{Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if err := links.Attach(ctx, id, arch); err != nil {
		t.Fatal(err)
	}
	link := a.URL + movelink.LinkPath + token

	type css = chromedp.CSS
	signIn := func(user, password string) []chromedp.Action[chromedp.Void] {
		return []chromedp.Action[chromedp.Void]{
			chromedp.Navigate(as.URL + "/admin/login"),
			chromedp.SendKeys(css(`#username`), user),
			chromedp.SendKeys(css(`#password`), password),
			chromedp.Submit(css(`#password`)),
			chromedp.WaitVisible(css(`nav.side`)),
		}
	}
	br.do("sign in to the target", signIn("newowner", "target-password-1234")...)
	br.do("paste the link",
		chromedp.Navigate(as.URL+"/admin/migration/import"),
		chromedp.SendKeys(css(`#link`), link),
		chromedp.Click(css(`#fetch`)),
		chromedp.WaitVisible(css(`#incoming-complete`)),
	)
	br.do("check the archive", chromedp.Click(css(`#check`)), chromedp.WaitVisible(css(`#report-ok`)))
	if got := br.text("the report's signer", `#report-fingerprint`); got != exp.Fingerprint {
		t.Fatalf("the report names %q, the source %q", got, exp.Fingerprint)
	}
	br.checkAccessible("admin migration import report")
	br.do("import",
		chromedp.SendKeys(css(`#fingerprint`), exp.Fingerprint),
		chromedp.Click(css(`input[name=replace]`)),
		chromedp.Click(css(`#import`)),
		chromedp.WaitVisible(css(`#job-step`)),
	)
	if j := waitMoveJob(t, b, "import"); j.Err != "" { // longer than a browser step
		t.Fatalf("import: %s", j.Err)
	}
	br.do("the page follows the import to its end", chromedp.WaitVisible(css(`#password`))) // the target's session went with its data
	br.do("sign in as the source's owner", signIn("owner", pass)...)
	br.do("the report", chromedp.Navigate(as.URL+"/admin/migration/import"), chromedp.WaitVisible(css(`#next`)), chromedp.WaitVisible(css(`#report-ok`)))
	br.checkAccessible("admin migration import done")
}

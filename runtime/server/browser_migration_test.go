package server

import (
	"context"
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/chromedp/chromedp"
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

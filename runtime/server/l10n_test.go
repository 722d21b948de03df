package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestNavTranslated: a module's navigation entry reads in the page's
// language, through the module's own catalogue (examples/noticeboard
// ships fr), on the site's pages.
func TestNavTranslated(t *testing.T) {
	mods, err := noticeboardModules()
	if err != nil {
		t.Fatal(err)
	}
	s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testLog{t}}))
	alice, _ := signIn(t, s, "alice")
	for _, tc := range []struct{ lang, want, not string }{
		{"fr", `href="/noticeboard">Tableau d&#39;annonces</a>`, ">Noticeboard</a>"},
		{"en", `href="/noticeboard">Noticeboard</a>`, "Tableau"},
	} {
		t.Run(tc.lang, func(t *testing.T) {
			req, err := http.NewRequest("GET", s.URL+"/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Accept-Language", tc.lang)
			resp, err := alice.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			page := body(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, tc.want) || strings.Contains(page, tc.not) {
				t.Errorf("%d, want %q and not %q in\n%s", resp.StatusCode, tc.want, tc.not, page)
			}
		})
	}
}

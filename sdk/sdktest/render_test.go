package sdktest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/websonic/websonic/sdk"
)

// TestRender: Do renders sdk.Render's pages from assets/templates/ of the
// working directory as the runtime does: one Content-Type, t translating
// through assets/locales/ in the language the request's Accept-Language
// picks (English, with its placeholders filled, otherwise), lang, escaping;
// a missing template or data that is not an object is a 500 saying why.
func TestRender(t *testing.T) {
	type page struct {
		Name  string
		Count int
		Tags  []string
	}
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			sdk.Render(w, http.StatusOK, "missing.html", page{})
		case "/list":
			sdk.Render(w, http.StatusOK, "greeting.html", []string{"not an object"})
		default:
			sdk.Render(w, http.StatusOK, "greeting.html", page{Name: "<Ada>", Count: 1, Tags: []string{"a&b"}})
		}
	}))
	for _, tc := range []struct {
		path, lang string
		status     int
		want       []string
	}{
		{"/", "", 200, []string{`<h1 lang="en">Hello, &lt;Ada&gt;!</h1>`, "<p>1 new messages</p>", "<li>a&amp;b</li>"}},
		{"/", "fr-CA,fr;q=0.9", 200, []string{`<h1 lang="fr">Bonjour, &lt;Ada&gt; !</h1>`, "<p>1 nouveau message</p>"}},
		{"/", "de", 200, []string{`<h1 lang="en">Hello, &lt;Ada&gt;!</h1>`}},
		{"/missing", "", 500, []string{"no template templates/missing.html"}},
		{"/list", "", 500, []string{"page data must be a JSON object"}},
	} {
		r := httptest.NewRequest("GET", tc.path, nil)
		if tc.lang != "" {
			r.Header.Set("Accept-Language", tc.lang)
		}
		resp := Do(r, nil)
		b := body(t, resp)
		if resp.StatusCode != tc.status {
			t.Errorf("%s (%s): status %d, want %d: %s", tc.path, tc.lang, resp.StatusCode, tc.status, b)
		}
		for _, w := range tc.want {
			if !strings.Contains(b, w) {
				t.Errorf("%s (%s): body lacks %q:\n%s", tc.path, tc.lang, w, b)
			}
		}
		if ct := resp.Header.Values("Content-Type"); tc.status == 200 && (len(ct) != 1 || ct[0] != "text/html; charset=utf-8") {
			t.Errorf("%s: Content-Type %q, want one text/html", tc.path, ct)
		}
	}
}

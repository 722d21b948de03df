package site

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSuspendedToldWhy: the sign-in form tells a suspended user until
// when and why (the reason whoever suspended them gave), as text, in the
// page's language; without a reason it says until when only; a wrong
// password tells neither.
func TestSuspendedToldWhy(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	alice := e.user("alice", goodPassword, RoleMember)
	bob := e.user("bob", goodPassword, RoleMember)
	until := time.Now().Add(90 * time.Minute)
	const reason = `Flooding <script>alert("x")</script> & "spam"`
	if err := e.site.Store().Suspend(ctx, Actor{Module: "chat"}, alice.ID, until, reason); err != nil {
		t.Fatal(err)
	}
	if err := e.site.Store().Suspend(ctx, Actor{}, bob.ID, until, ""); err != nil {
		t.Fatal(err)
	}
	login := func(lang, user, password string) result {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/login", strings.NewReader(url.Values{"username": {user}, "password": {password}}.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", lang)
		return e.do(e.client(), req)
	}
	when := until.UTC().Format("2006-01-02 15:04")
	escaped := `Flooding &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;spam&#34;`
	tests := []struct {
		name, lang, user, password string
		status                     int
		want, not                  []string
	}{
		{"with a reason", "en", "alice", goodPassword, http.StatusForbidden,
			[]string{"suspended until " + when + " (UTC), for this reason: “" + escaped + "”. You can sign in again after that."}, []string{"<script>"}},
		{"with a reason, in French", "fr", "alice", goodPassword, http.StatusForbidden,
			[]string{"suspendu jusqu&#39;au " + when + " (UTC), pour ce motif : « " + escaped + " »"}, []string{"<script>", "for this reason"}},
		{"without a reason", "en", "bob", goodPassword, http.StatusForbidden,
			[]string{"suspended until " + when + " (UTC). You can sign in again after that."}, []string{"for this reason"}},
		{"without a reason, in French", "fr", "bob", goodPassword, http.StatusForbidden,
			[]string{"suspendu jusqu&#39;au " + when + " (UTC). Vous pourrez"}, []string{"motif"}},
		{"wrong password", "en", "alice", "not the password at all", http.StatusUnauthorized,
			[]string{"Wrong password"}, []string{"suspended", "Flooding", when}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := login(tt.lang, tt.user, tt.password)
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d", res.StatusCode, tt.status)
			}
			for _, w := range tt.want {
				if !strings.Contains(res.body, w) {
					t.Errorf("the page lacks %q:\n%s", w, res.body)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(res.body, n) {
					t.Errorf("the page shows %q:\n%s", n, res.body)
				}
			}
		})
	}
}

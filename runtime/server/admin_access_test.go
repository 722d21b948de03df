package server

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/site"
)

// TestAdminRouteAccess walks the admin area's whole route table and asks
// every route as a member, staff, an auditor and an admin, each holding an
// admin session (as a user whose role was taken away after signing in
// would): a route answers 403 exactly to those its rule leaves out. A
// route added without a rule fails here.
func TestAdminRouteAccess(t *testing.T) {
	s := newSiteWith(t, "", hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: testLog{t}}))
	as := httptest.NewServer(s.srv.AdminHandler())
	defer as.Close()
	roles := []site.Role{site.RoleMember, site.RoleStaff, site.RoleAuditor, site.RoleAdmin}
	cookies := map[site.Role]*http.Cookie{}
	for _, role := range roles {
		u := s.mkUser(t, "user-"+string(role), role)
		token := make([]byte, 32)
		rand.Read(token)
		if _, err := s.srv.db.Pool.Exec(t.Context(), `INSERT INTO websonic.admin_sessions (token_hash, user_id, expires_at)
			VALUES (sha256($1), $2, now() + interval '1 hour')`, token, u.ID); err != nil {
			t.Fatal(err)
		}
		cookies[role] = &http.Cookie{Name: admin.AdminCookie, Value: base64.RawURLEncoding.EncodeToString(token)}
	}
	csrf := map[site.Role]string{}
	for _, role := range roles {
		c := &adminClient{t: t, origin: as.URL, cookie: cookies[role]}
		_, b := c.do("GET", "/admin/login", nil, nil) // the layout carries no token when signed out…
		_, b = c.do("GET", "/admin/", nil, nil)       // …the dashboard does, for readers
		if m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(b); m != nil {
			csrf[role] = m[1]
		}
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	routes := s.srv.adminArea.Routes()
	if len(routes) == 0 {
		t.Fatal("no routes")
	}
	for _, rt := range routes {
		if rt.Access.String() == "no one" {
			t.Errorf("%s %s has no access rule", rt.Method, rt.Pattern)
			continue
		}
		path := admin.Prefix + param.ReplaceAllString(rt.Pattern, "no-such-thing")
		for _, role := range roles {
			c := &adminClient{t: t, origin: as.URL, cookie: cookies[role]}
			var form url.Values
			var headers map[string]string
			token := csrf[role]
			if token == "" { // a member never sees a page: any token is as good
				token = "x"
			}
			switch rt.Method {
			case http.MethodGet, http.MethodHead:
			case http.MethodPost:
				form = url.Values{"csrf": {token}}
			default: // the area's scripts send the token in a header
				headers = map[string]string{"X-CSRF-Token": token}
			}
			resp, body := c.do(rt.Method, path, form, headers)
			refused := resp.StatusCode == 403 && strings.Contains(body, "Your role does not give access to this page.")
			signedOut := strings.Contains(body, "Please sign in") || strings.Contains(resp.Header.Get("Location"), "/login")
			switch want := rt.Access.Allows(role); {
			case want && (refused || signedOut):
				t.Errorf("%s %s as %s: %d, want allowed:\n%.300s", rt.Method, path, role, resp.StatusCode, body)
			case !want && !refused:
				t.Errorf("%s %s as %s: %d, want 403 by the route's rule:\n%.300s", rt.Method, path, role, resp.StatusCode, body)
			}
		}
	}
}

// TestAdminSpeaksFrench: the area's pages follow the browser's language
// (no owner's choice yet), with English the fallback.
func TestAdminSpeaksFrench(t *testing.T) {
	s := newSiteWith(t, "", hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: testLog{t}}))
	as := httptest.NewServer(s.srv.AdminHandler())
	defer as.Close()
	c := &adminClient{t: t, origin: as.URL}
	for accept, want := range map[string]string{
		"fr-FR,fr;q=0.9": `<html lang="fr">`, "de": `<html lang="en">`, "": "Admin sign-in",
		"fr": "Connexion à l&#39;administration",
	} {
		if _, b := c.do("GET", "/admin/login", nil, map[string]string{"Accept-Language": accept}); !strings.Contains(b, want) {
			t.Errorf("Accept-Language %q: no %q in\n%.400s", accept, want, b)
		}
	}
}

package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/internal/site"
)

// TestModuleNeverSeesDeviceCookie: the login guard's device cookie, which
// vouches for a browser that signed in before, is the site's own like the
// session cookie: a module neither reads it (it would hand the ids of its
// visitors' browsers to whoever tries passwords) nor sets it (a planted id
// would be vouched for by the victim's next sign-in), over HTTP and HTTPS.
func TestModuleNeverSeesDeviceCookie(t *testing.T) {
	s := newSite(t)
	tlsSrv := httptest.NewTLSServer(s.srv.Handler())
	t.Cleanup(tlsSrv.Close)
	for _, tt := range []struct{ base, cookie, user string }{
		{s.URL, site.DeviceCookie, "ada"},
		{tlsSrv.URL, site.HostDeviceCookie, "grace"},
	} {
		t.Run(tt.cookie, func(t *testing.T) {
			c := s.client(t)
			c.Transport = tlsSrv.Client().Transport
			resp := postForm(t, c, tt.base+"/register", url.Values{"username": {tt.user}, "password": {"analytical-engine-1843"}})
			body(t, resp)
			u, _ := url.Parse(tt.base)
			var device string
			for _, ck := range c.Jar.Cookies(u) {
				if ck.Name == tt.cookie {
					device = ck.Value
				}
			}
			if resp.StatusCode != http.StatusSeeOther || device == "" {
				t.Fatalf("register: %d, no %s cookie", resp.StatusCode, tt.cookie)
			}
			resp, err := c.Get(tt.base + "/hostile/setcookie")
			if err != nil {
				t.Fatal(err)
			}
			seen := body(t, resp)
			if strings.Contains(seen, "websonic_device") || strings.Contains(seen, device) {
				t.Errorf("the module saw the device cookie: %q", seen)
			}
			if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
				t.Errorf("the module set cookies: %q", sc)
			}
		})
	}
}

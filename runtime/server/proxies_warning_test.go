package server

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// TestUntrustedProxyWarned: a new site behind its own proxy, with the
// proxy not named in TrustedProxies, sees every client as the proxy (one
// login bucket for all): the owner is told once, when the first forwarded
// request arrives, and not when the proxy is trusted.
func TestUntrustedProxyWarned(t *testing.T) {
	mods, err := modulesDir()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		trusted []netip.Prefix
		warned  bool
	}{
		{"not trusted", nil, true},
		{"trusted", []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			log := newLogLines(t)
			s := newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: log}),
				func(c *Config) { c.TrustedProxies = tt.trusted })
			for range 3 {
				req, _ := http.NewRequest("GET", s.URL+"/healthz", nil)
				req.Header.Set("X-Forwarded-For", "203.0.113.5")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body(t, resp)
			}
			n := 0
			for from := 0; ; n++ {
				_, next, ok, _ := log.find(from, "--trusted-proxies")
				if !ok {
					break
				}
				from = next
			}
			if want := map[bool]int{true: 1, false: 0}[tt.warned]; n != want {
				t.Errorf("%d warnings about the proxy, want %d", n, want)
			}
		})
	}
}

package site

import (
	"net/http"
	"net/url"
	"strconv"
	"testing"
)

// TestOwnerBrowserNotLockedOut is the lock-out attack against an owner
// whose address changes (a phone on another network, a laptop at the
// office) or is shared (carrier NAT, an office, a proxy the site does not
// trust): what the guard knows her by is the browser she signed in with,
// not an address. An attacker failing many times on her username from
// many addresses, some from the very address she last signed in from,
// must be slowed, and her browser must still get in from any address.
func TestOwnerBrowserNotLockedOut(t *testing.T) {
	e := newGuardedEnv(t, Config{}, testGuard)
	e.user("alice", goodPassword, RoleMember)
	const home, cafe = "203.0.113.10", "192.0.2.77"
	browser := e.client()
	if res := e.loginFrom(browser, home, "alice", goodPassword); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first login: %d", res.StatusCode)
	}
	if res := e.postFrom(browser, home, "/logout", url.Values{}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.StatusCode)
	}
	// The attack: enough failures from many addresses to slow the username
	// for unfamiliar clients, and failures from alice's own address.
	for i := range testGuard.user.free {
		e.loginFrom(e.client(), "198.51.100."+strconv.Itoa(i+1), "alice", "wrong password")
	}
	for range testGuard.pair.free + 1 {
		e.loginFrom(e.client(), home, "alice", "wrong password")
	}
	if res := e.loginFrom(e.client(), home, "alice", "wrong password"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("an attacker at alice's address, without her browser, is not slowed: %d", res.StatusCode)
	}
	for _, addr := range []string{home, cafe} {
		if res := e.loginFrom(browser, addr, "alice", goodPassword); res.StatusCode != http.StatusSeeOther {
			t.Errorf("alice's browser from %s during the attack: %d\n%s", addr, res.StatusCode, res.body)
		}
		e.postFrom(browser, addr, "/logout", url.Values{})
	}
}

// jarCookie returns the cookie name that c's jar holds for u.
func jarCookie(t *testing.T, c *http.Client, u *url.URL, name string) *http.Cookie {
	t.Helper()
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	t.Fatalf("no cookie %s for %s", name, u)
	return nil
}

// TestPlantedDeviceIDNotVouched: a device id the browser brought but the
// guard never gave this user (planted by a sibling subdomain over plain
// HTTP, or chosen by an attacker) is replaced at sign-in, so the victim's
// sign-in never makes an id the attacker knows familiar.
func TestPlantedDeviceIDNotVouched(t *testing.T) {
	e := newGuardedEnv(t, Config{}, testGuard)
	e.user("alice", goodPassword, RoleMember)
	u, _ := url.Parse(e.srv.URL)
	const planted = "AAAAAAAAAAAAAAAAAAAAAA"
	victim := e.client()
	victim.Jar.SetCookies(u, []*http.Cookie{{Name: DeviceCookie, Value: planted, Path: "/"}})
	if res := e.loginFrom(victim, "203.0.113.10", "alice", goodPassword); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", res.StatusCode)
	}
	if got := jarCookie(t, victim, u, DeviceCookie).Value; got == planted {
		t.Fatal("the planted device id was kept")
	}
	for i := range testGuard.user.free {
		e.loginFrom(e.client(), "198.51.100."+strconv.Itoa(i+1), "alice", "wrong password")
	}
	attacker := e.client()
	attacker.Jar.SetCookies(u, []*http.Cookie{{Name: DeviceCookie, Value: planted, Path: "/"}})
	if res := e.loginFrom(attacker, "198.51.100.99", "alice", "wrong password"); res.StatusCode != http.StatusTooManyRequests {
		t.Errorf("the attacker with the planted id: %d, want 429 like any unfamiliar client", res.StatusCode)
	}
}

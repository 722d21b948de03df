package respcache

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

func TestParseCacheControl(t *testing.T) {
	for _, c := range []struct {
		in   []string
		want Directives
	}{
		{nil, Directives{}},
		{[]string{"public, max-age=60"}, Directives{Public: true, MaxAge: time.Minute, HasMaxAge: true}},
		{[]string{"Private", "MAX-AGE=\"5\""}, Directives{Private: true, MaxAge: 5 * time.Second, HasMaxAge: true}},
		{[]string{"max-age=10, s-maxage=20"}, Directives{MaxAge: 10 * time.Second, HasMaxAge: true, SMaxAge: 20 * time.Second, HasSMaxAge: true}},
		{[]string{"max-age=10, max-age=10"}, Directives{MaxAge: 10 * time.Second, HasMaxAge: true}},
		{[]string{"max-age=10", "max-age=20"}, Directives{MaxAge: 20 * time.Second, HasMaxAge: true, Invalid: true}},
		{[]string{"max-age=-1"}, Directives{Invalid: true}},
		{[]string{"max-age"}, Directives{Invalid: true}},
		{[]string{"max-age=1e3"}, Directives{Invalid: true}},
		{[]string{"max-age=99999999999999999999"}, Directives{MaxAge: maxSeconds * time.Second, HasMaxAge: true}},
		{[]string{`private="Set-Cookie, X", max-age=5`}, Directives{Private: true, MaxAge: 5 * time.Second, HasMaxAge: true}},
		{[]string{`no-cache="a,b"`}, Directives{NoCache: true}},
		{[]string{"no-store,,,public"}, Directives{NoStore: true, Public: true}},
		{[]string{`ext="max-age=5, x", public`}, Directives{Public: true}},
	} {
		if got := ParseCacheControl(c.in); got != c.want {
			t.Errorf("%q: got %+v, want %+v", c.in, got, c.want)
		}
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"public, max-age=60", `private="a,b", s-maxage="3"`, `x="\"", no-store`, "max-age=99999999999999999999", ","} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := ParseCacheControl([]string{s})
		if d.MaxAge < 0 || d.SMaxAge < 0 || d.MaxAge > maxSeconds*time.Second || d.SMaxAge > maxSeconds*time.Second {
			t.Fatalf("%q: lifetime out of range: %+v", s, d)
		}
		if ttl, ok := d.Lifetime(); ok != (d.HasMaxAge || d.HasSMaxAge) || ttl < 0 {
			t.Fatalf("%q: Lifetime %v %v of %+v", s, ttl, ok, d)
		}
		// Adding a no-store directive always wins.
		if !ParseCacheControl([]string{s, "no-store"}).NoStore {
			t.Fatalf("%q: no-store lost", s)
		}
		r := &Request{Module: "m", Gen: 1, Method: "GET", URI: "/", User: &abi.User{ID: 1}}
		resp := &abi.HTTPResponse{Status: 200, Headers: []abi.Header{{Name: "Cache-Control", Value: s}}}
		if dec := Decide(Config{}, r, resp); dec.Store && (d.NoStore || d.NoCache || d.Invalid) {
			t.Fatalf("%q: stored %+v despite %+v", s, dec, d)
		}
	})
}

func FuzzETagMatch(f *testing.F) {
	f.Add(`"a", W/"b"`, `"b"`)
	f.Add(`*`, `"x"`)
	f.Fuzz(func(t *testing.T, inm, etag string) {
		if ETagMatch([]string{inm}, "") {
			t.Fatal("an empty etag matched")
		}
		ETagMatch([]string{inm}, etag)
	})
}

var (
	ada   = &abi.User{ID: 1, Username: "ada", DisplayName: "Ada", Roles: []string{"member"}}
	grace = &abi.User{ID: 2, Username: "grace", DisplayName: "Grace", Roles: []string{"member"}}
)

func resp(cc string, extra ...abi.Header) *abi.HTTPResponse {
	h := append([]abi.Header{{Name: "Cache-Control", Value: cc}}, extra...)
	return &abi.HTTPResponse{Status: 200, Headers: h, Body: []byte("body")}
}

func TestDecide(t *testing.T) {
	get := func(u *abi.User, h ...abi.Header) *Request {
		return &Request{Module: "m", Gen: 1, Method: "GET", Host: "h", URI: "/p", User: u, Headers: h}
	}
	shared := abi.Header{Name: "Websonic-Cache-Scope", Value: "shared"}
	for _, c := range []struct {
		name  string
		req   *Request
		resp  *abi.HTTPResponse
		scope string // "" : not stored
	}{
		{"anonymous public", get(nil), resp("public, max-age=60"), "anonymous"},
		{"anonymous neither public nor private", get(nil), resp("max-age=60"), ""},
		{"anonymous private", get(nil), resp("private, max-age=60"), ""},
		{"anonymous shared", get(nil), resp("max-age=60", shared), "shared"},
		{"user public", get(ada), resp("public, max-age=60"), "user"},
		{"user private", get(ada), resp("private, max-age=60"), "user"},
		{"user shared", get(ada), resp("public, max-age=60", shared), "shared"},
		{"private beats shared", get(ada), resp("private, max-age=60", shared), "user"},
		{"private beats shared anonymous", get(nil), resp("private, max-age=60", shared), ""},
		{"s-maxage alone", get(nil), resp("public, s-maxage=60"), "anonymous"},
		{"no lifetime", get(nil), resp("public"), ""},
		{"max-age=0", get(nil), resp("public, max-age=0"), ""},
		{"no-store", get(ada), resp("public, max-age=60, no-store"), ""},
		{"no-cache", get(ada), resp("public, max-age=60, no-cache"), ""},
		{"set-cookie", get(nil), resp("public, max-age=60", abi.Header{Name: "set-cookie", Value: "a=b"}), ""},
		{"vary star", get(nil), resp("public, max-age=60", abi.Header{Name: "Vary", Value: "Accept, *"}), ""},
		{"head", &Request{Module: "m", Method: "HEAD", URI: "/"}, resp("public, max-age=60"), ""},
		{"post", &Request{Module: "m", Method: "POST", URI: "/"}, resp("public, max-age=60"), ""},
		{"authorization", get(nil, abi.Header{Name: "authorization", Value: "Bearer x"}), resp("public, max-age=60"), ""},
		{"status 500", get(nil), &abi.HTTPResponse{Status: 500, Headers: []abi.Header{{Name: "Cache-Control", Value: "public, max-age=60"}}}, ""},
		{"status 302", get(nil), &abi.HTTPResponse{Status: 302, Headers: []abi.Header{{Name: "Cache-Control", Value: "public, max-age=60"}}}, ""},
		{"status 404", get(nil), &abi.HTTPResponse{Status: 404, Headers: []abi.Header{{Name: "Cache-Control", Value: "public, max-age=60"}}}, "anonymous"},
		{"too large", get(nil), &abi.HTTPResponse{Status: 200, Headers: []abi.Header{{Name: "Cache-Control", Value: "public, max-age=60"}}, Body: make([]byte, 1<<20+1)}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(Config{}, c.req, c.resp)
			if d.Store != (c.scope != "") || d.Scope != c.scope && c.scope != "" {
				t.Fatalf("got %+v, want scope %q", d, c.scope)
			}
		})
	}
	if d := Decide(Config{MaxTTL: time.Minute}, get(nil), resp("public, max-age=3600")); d.TTL != time.Minute {
		t.Errorf("TTL %v not capped", d.TTL)
	}
}

// clock is a test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func req(module string, gen uint64, uri string, u *abi.User, h ...abi.Header) *Request {
	return &Request{Module: module, Gen: gen, Method: "GET", Host: "site", URI: uri, User: u, Headers: h}
}

// store looks r up (expecting a miss) and stores rs.
func store(t *testing.T, c *Cache, r *Request, rs *abi.HTTPResponse) *Entry {
	t.Helper()
	_, tk := c.Lookup(r)
	e, why := c.Store(tk, r, rs)
	if e == nil {
		t.Fatalf("not stored: %s", why)
	}
	return e
}

func TestUsersNeverCross(t *testing.T) {
	c := New(Config{})
	store(t, c, req("m", 1, "/p", ada), resp("public, max-age=60"))
	for _, r := range []*Request{req("m", 1, "/p", grace), req("m", 1, "/p", nil),
		req("m", 1, "/p", &abi.User{ID: 1, Username: "ada", DisplayName: "Ada", Roles: []string{"member", "staff"}})} {
		if e, _ := c.Lookup(r); e != nil {
			t.Errorf("%+v was served ada's page", r.User)
		}
	}
	if e, _ := c.Lookup(req("m", 1, "/p", ada)); e == nil {
		t.Error("ada's own page missed")
	}
	// An anonymous public page is not served to a signed-in user…
	store(t, c, req("m", 1, "/anon", nil), resp("public, max-age=60"))
	if e, _ := c.Lookup(req("m", 1, "/anon", ada)); e != nil {
		t.Error("a user was served the anonymous copy")
	}
	// …a shared one is served to everyone.
	store(t, c, req("m", 1, "/shared", ada), resp("public, max-age=60", abi.Header{Name: "Websonic-Cache-Scope", Value: "shared"}))
	for _, u := range []*abi.User{nil, ada, grace} {
		if e, _ := c.Lookup(req("m", 1, "/shared", u)); e == nil {
			t.Errorf("%v missed the shared page", u)
		}
	}
	// Other generations, modules, hosts never see it.
	for _, r := range []*Request{req("m", 2, "/shared", nil), req("other", 1, "/shared", nil),
		{Module: "m", Gen: 1, Method: "GET", Host: "evil", URI: "/shared"}} {
		if e, _ := c.Lookup(r); e != nil {
			t.Errorf("%+v was served the page", r)
		}
	}
}

func TestVary(t *testing.T) {
	c := New(Config{})
	fr := abi.Header{Name: "Accept-Language", Value: "fr"}
	store(t, c, req("m", 1, "/p", nil, fr), resp("public, max-age=60", abi.Header{Name: "Vary", Value: "accept-language"}))
	if e, _ := c.Lookup(req("m", 1, "/p", nil, abi.Header{Name: "accept-language", Value: "fr"})); e == nil {
		t.Error("fr missed")
	}
	if e, _ := c.Lookup(req("m", 1, "/p", nil, abi.Header{Name: "Accept-Language", Value: "en"})); e != nil {
		t.Error("en was served fr")
	}
	if e, _ := c.Lookup(req("m", 1, "/p", nil)); e != nil {
		t.Error("no language was served fr")
	}
}

func TestFreshnessAndRefresh(t *testing.T) {
	clk := &clock{now: time.Unix(1000, 0)}
	c := New(Config{Now: clk.Now})
	r := req("m", 1, "/p", nil)
	store(t, c, r, resp("public, max-age=60", abi.Header{Name: "ETag", Value: `"v1"`}))
	clk.Add(59 * time.Second)
	if e, _ := c.Lookup(r); e == nil || !e.Fresh(clk.Now()) || e.Age(clk.Now()) != 59*time.Second {
		t.Fatal("not fresh at 59s")
	}
	clk.Add(time.Second)
	e, tk := c.Lookup(r)
	if e == nil || e.Fresh(clk.Now()) {
		t.Fatal("a stale entry with an ETag must come back, stale")
	}
	merged, ne := c.Refresh(tk, r, e, &abi.HTTPResponse{Status: 304, Headers: []abi.Header{
		{Name: "Cache-Control", Value: "public, max-age=10"}, {Name: "Content-Length", Value: "0"}}})
	if ne == nil || string(merged.Body) != "body" || merged.Status != 200 || !ne.Fresh(clk.Now()) {
		t.Fatalf("refresh: %+v %+v", merged, ne)
	}
	var cc []string
	for _, h := range merged.Headers {
		if h.Name == "Cache-Control" {
			cc = append(cc, h.Value)
		}
	}
	if fmt.Sprint(cc) != "[public, max-age=10]" {
		t.Errorf("Cache-Control after refresh %v", cc)
	}
	clk.Add(11 * time.Second)
	// Stale without an ETag: dropped.
	store(t, c, req("m", 1, "/q", nil), resp("public, max-age=1"))
	clk.Add(2 * time.Second)
	if e, _ := c.Lookup(req("m", 1, "/q", nil)); e != nil {
		t.Error("a stale entry without ETag came back")
	}
	s := c.Stats()["m"]
	if s.Revalidated != 1 || s.Hits != 1 || s.Entries != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestPurge(t *testing.T) {
	c := New(Config{})
	for _, p := range []string{"/blog/1", "/blog/2", "/news"} {
		store(t, c, req("a", 1, p, nil), resp("public, max-age=60"))
		store(t, c, req("b", 1, p, nil), resp("public, max-age=60"))
	}
	if n := c.Purge("a", "/blog/"); n != 2 {
		t.Fatalf("purged %d", n)
	}
	for _, c2 := range []struct {
		r    *Request
		want bool
	}{{req("a", 1, "/blog/1", nil), false}, {req("a", 1, "/news", nil), true}, {req("b", 1, "/blog/1", nil), true}} {
		if e, _ := c.Lookup(c2.r); (e != nil) != c2.want {
			t.Errorf("%s %s: present %v", c2.r.Module, c2.r.URI, e != nil)
		}
	}
	// A response computed before a purge is not stored after it.
	r := req("a", 1, "/blog/3", nil)
	_, tk := c.Lookup(r)
	c.Purge("a", "/elsewhere")
	if e, _ := c.Store(tk, r, resp("public, max-age=60")); e != nil {
		t.Error("stored across a purge")
	}
	c.Drop("b", 1)
	if st := c.Stats()["b"]; st.Entries != 0 || st.Bytes != 0 {
		t.Errorf("b after Drop: %+v", st)
	}
}

func TestBudget(t *testing.T) {
	c := New(Config{MaxBytes: 100_000, MaxEntryBytes: 5000})
	big := func() *abi.HTTPResponse {
		return &abi.HTTPResponse{Status: 200, Headers: []abi.Header{{Name: "Cache-Control", Value: "public, max-age=60"}}, Body: make([]byte, 4000)}
	}
	for i := range 5 { // within its share (25 000 bytes)
		store(t, c, req("quiet", 1, fmt.Sprint("/", i), nil), big())
	}
	for i := range 200 {
		store(t, c, req("noisy", 1, fmt.Sprint("/", i), nil), big())
	}
	st := c.Stats()
	if st["noisy"].Bytes > c.Config().ModuleBytes || st["quiet"].Entries != 5 {
		t.Errorf("noisy %+v, quiet %+v", st["noisy"], st["quiet"])
	}
	for i := range 200 {
		store(t, c, req(fmt.Sprint("m", i%10), 1, "/", nil), big())
	}
	if c.Bytes() > 100_000 {
		t.Errorf("%d bytes over budget", c.Bytes())
	}
	if st := c.Stats(); st["noisy"].Evicted == 0 {
		t.Errorf("no evictions: %+v", st)
	}
}

// TestHammer looks up, stores, refreshes, purges and drops from many
// goroutines at once (run with -race): the accounting stays exact.
func TestHammer(t *testing.T) {
	c := New(Config{MaxBytes: 200_000})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			users := []*abi.User{nil, ada, grace}
			for i := range 2000 {
				mod := fmt.Sprint("m", (g+i)%3)
				r := req(mod, uint64(i%2), fmt.Sprint("/p/", i%50), users[i%3])
				e, tk := c.Lookup(r)
				switch {
				case i%97 == 0:
					c.Purge(mod, "/p/1")
				case i%501 == 0:
					c.Drop(mod, 0)
				case e != nil && !strings.HasPrefix(string(e.Response.Body), "body"):
					t.Error("bad body")
					return
				case e == nil:
					c.Store(tk, r, resp("public, max-age=60", abi.Header{Name: "ETag", Value: `"x"`}))
				default:
					c.Refresh(tk, r, e, &abi.HTTPResponse{Status: 304})
				}
			}
		}()
	}
	wg.Wait()
	var sum int64
	for _, s := range c.Stats() {
		sum += s.Bytes
	}
	if sum != c.Bytes() || c.Bytes() > 200_000 || c.Bytes() < 0 {
		t.Errorf("module bytes %d, total %d", sum, c.Bytes())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) != c.lru.Len() {
		t.Errorf("%d entries, %d in the LRU", len(c.entries), c.lru.Len())
	}
	refs := 0
	for _, r := range c.index {
		refs += r.refs
	}
	if refs != len(c.entries) {
		t.Errorf("index refs %d, entries %d", refs, len(c.entries))
	}
}

// TestAnonymousVisitorsCookies: anonymous visitors are told apart only by
// cookies (the module's own: a cart, a draft, a preference), so a public
// response to a request that carried cookies is filed under those cookies
// even when the module forgot "Vary: Cookie": visitor B is never served
// the page the module made from visitor A's cookie. Visitors without
// cookies still share one copy.
func TestAnonymousVisitorsCookies(t *testing.T) {
	c := New(Config{})
	cookie := func(v string) abi.Header { return abi.Header{Name: "Cookie", Value: v} }
	store(t, c, req("m", 1, "/cart", nil, cookie("cart=alice-secret")), resp("public, max-age=60"))
	for _, r := range []*Request{req("m", 1, "/cart", nil, cookie("cart=bob")), req("m", 1, "/cart", nil)} {
		if e, _ := c.Lookup(r); e != nil {
			t.Errorf("%v was served the page made for another visitor's cookie", r.Headers)
		}
	}
	if e, _ := c.Lookup(req("m", 1, "/cart", nil, cookie("cart=alice-secret"))); e == nil {
		t.Error("the same visitor missed")
	}
	store(t, c, req("m", 1, "/home", nil), resp("public, max-age=60"))
	if e, _ := c.Lookup(req("m", 1, "/home", nil)); e == nil {
		t.Error("cookieless visitors do not share the page")
	}
	if e, _ := c.Lookup(req("m", 1, "/home", nil, cookie("x=1"))); e != nil {
		t.Error("a visitor with cookies was served the cookieless copy")
	}
	// A page the module declared shared is one copy for everyone.
	store(t, c, req("m", 1, "/news", nil, cookie("cart=alice")), resp("public, max-age=60", abi.Header{Name: "Websonic-Cache-Scope", Value: "shared"}))
	if e, _ := c.Lookup(req("m", 1, "/news", nil, cookie("cart=bob"))); e == nil {
		t.Error("a shared page missed")
	}
}

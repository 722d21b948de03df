package server

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// Time limits of the browser tests: the whole browser session, one step,
// and the failure report, which gets its own time after a step timed out.
// They guard against a hung browser, not for speed: the budget is ample
// for the longest journey on a loaded machine (make test runs two browser
// tests at once; the owner's journey once took 52 s under 50), and a step
// may take long when the other test packages load the machine.
const (
	browserBudget      = 3 * time.Minute
	browserStepTimeout = 30 * time.Second
	browserDumpTimeout = 5 * time.Second
)

// browserArtifactsEnv names a folder that keeps the test's screenshots. Unset,
// they go to t.TempDir(), which the test removes when it ends.
const browserArtifactsEnv = "WEBSONIC_BROWSER_ARTIFACTS"

// findBrowser returns the path of a Chromium or Chrome. Without one the test
// is skipped on a developer's machine and fails in CI, where .ci/run installs
// the chromium package.
func findBrowser(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	const msg = "no browser: none of chromium, chromium-browser, google-chrome is on PATH (apt-get install chromium)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// browser drives one headless Chromium tab against a test site.
type browser struct {
	t        testing.TB
	ctx      context.Context // the tab; cancelled in t.Cleanup
	deadline time.Time       // end of the whole session
	dir      string          // where screenshots go

	mu  sync.Mutex
	net []string // requests the page made, with their status, for failure reports
}

// newBrowser starts Chromium with a fresh profile and no background traffic:
// the test machine has no network, and Chromium's own connections would be
// refused. The browser outlives t.Context() so that a failure can still be
// photographed in t.Cleanup.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(findBrowser(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Env("TMPDIR="+t.TempDir()), // its singleton socket folder, left behind when it is killed
		chromedp.WindowSize(1024, 768),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx, deadline: time.Now().Add(browserBudget), dir: os.Getenv(browserArtifactsEnv)}
	if b.dir == "" {
		b.dir = t.TempDir()
	} else if err := os.MkdirAll(b.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Start the browser with the tab's own context: the context of the first
	// run owns the process, so it must not be a step's, which ends. A
	// watchdog bounds the start instead.
	watchdog := time.AfterFunc(browserStepTimeout, cancelAlloc)
	err := chromedp.Do(ctx)
	if !watchdog.Stop() {
		t.Fatalf("starting the browser took more than %v: %v", browserStepTimeout, err)
	}
	if err != nil {
		t.Fatalf("starting the browser: %v", err)
	}
	if err := chromedp.Listen(ctx, b.record); err != nil {
		t.Fatalf("listening to the browser: %v", err)
	}
	t.Cleanup(b.reportFailure) // runs before the browser is closed
	return b
}

// record keeps the method, URL and status of every request, and the headers
// that reached the wire for each form post, in case the server refuses one.
func (b *browser) record(ev any) {
	var line string
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSentExtraInfo:
		for k := range ev.Headers {
			if strings.EqualFold(k, "origin") { // form posts
				line = fmt.Sprintf("%s headers: %v", ev.RequestID, ev.Headers)
			}
		}
		if line == "" {
			return
		}
	case *network.EventRequestWillBeSent:
		line = fmt.Sprintf("%s %s %s", ev.RequestID, ev.Request.Method, ev.Request.URL)
	case *network.EventResponseReceived:
		line = fmt.Sprintf("%s -> %d %s", ev.RequestID, ev.Response.Status, ev.Response.URL)
	default:
		return
	}
	b.mu.Lock()
	b.net = append(b.net, line)
	b.mu.Unlock()
}

// do does one step, bounded by browserStepTimeout and the session deadline.
func (b *browser) do(step string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", step, err)
	}
}

// run runs one action that returns a value, bounded as do is.
func run[T any](b *browser, step string, action chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := b.step()
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		b.t.Fatalf("%s: %v", step, err)
	}
	return v
}

// step returns the context of one step.
func (b *browser) step() (context.Context, context.CancelFunc) {
	d := time.Now().Add(browserStepTimeout)
	if d.After(b.deadline) {
		d = b.deadline
	}
	return context.WithDeadline(b.ctx, d)
}

// text returns the visible text of the first element that the CSS selector
// sel matches, with its white space collapsed.
func (b *browser) text(step, sel string) string {
	b.t.Helper()
	s := run(b, step, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	return strings.Join(strings.Fields(s), " ")
}

// screenshot saves the whole page as name.png and returns its path.
func (b *browser) screenshot(ctx context.Context, name string) (string, error) {
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		return "", err
	}
	p := filepath.Join(b.dir, name+".png")
	return p, os.WriteFile(p, png, 0o644)
}

// reportFailure logs a screenshot's path, the page's HTML and the requests
// the page made, if the test failed.
func (b *browser) reportFailure() {
	if !b.t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, browserDumpTimeout)
	defer cancel()
	if p, err := b.screenshot(ctx, "failure"); err != nil {
		b.t.Logf("no screenshot: %v", err)
	} else {
		b.t.Logf("screenshot: %s", p)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if html, err := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("html"))); err != nil {
		b.t.Logf("no page HTML: %v", err)
	} else {
		b.t.Logf("page %s:\n%s", loc, html)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Logf("requests:\n%s", strings.Join(b.net, "\n"))
}

// TestBrowserGuestbook walks a real Chromium through the site: register,
// sign the hello module's guestbook, log out. It checks what a visitor sees,
// and that a real browser's form posts pass the cross-origin protection.
func TestBrowserGuestbook(t *testing.T) {
	b := newBrowser(t) // first: without a browser, skip before starting a site
	s := newSite(t)

	const (
		username    = "grace"
		displayName = "Grace Hopper"
		password    = "compiler-a-0-1952"
		message     = "It is easier to ask forgiveness than permission."
	)
	type css = chromedp.CSS
	// button finds a button by its label, as a visitor does.
	button := func(label string) chromedp.Search {
		return chromedp.Search(fmt.Sprintf(`//button[normalize-space()=%q]`, label))
	}

	b.do("open the home page",
		chromedp.Navigate(s.URL+"/"),
		chromedp.WaitVisible(css(`nav a.button[href="/register"]`)),
	)
	if got := b.text("read the home page", "main"); !strings.Contains(got, "You are not signed in") {
		t.Fatalf("home page, signed out: %q", got)
	}

	b.do("follow the Register link",
		chromedp.Click(css(`nav a.button[href="/register"]`)),
		chromedp.WaitVisible(css(`form[action="/register"] #username`)),
	)
	if got := b.text("read the register page", "main h1"); got != "Create an account" {
		t.Fatalf("register page heading: %q", got)
	}

	b.do("fill and submit the registration form",
		chromedp.SendKeys(css(`#username`), username),
		chromedp.SendKeys(css(`#display_name`), displayName),
		chromedp.SendKeys(css(`#password`), password),
		chromedp.Click(button("Register")),
		chromedp.WaitVisible(button("Log out")),
	)
	if got := b.text("read the signed-in nav", "nav .who"); !strings.Contains(got, "Signed in as "+username) {
		t.Fatalf("nav after registering: %q", got)
	}
	if got := b.text("read the signed-in home page", "main"); !strings.Contains(got, "Hello, "+displayName) {
		t.Fatalf("home page after registering: %q", got)
	}

	b.do("follow the Guestbook nav link",
		chromedp.Click(css(`nav a[href="/guestbook"]`)),
		chromedp.WaitVisible(css(`textarea[name="message"]`)),
	)
	if got := b.text("read the empty guestbook", "#entries"); got != "No entries yet." {
		t.Fatalf("entries of a new guestbook: %q", got)
	}

	b.do("sign the guestbook",
		chromedp.SendKeys(css(`textarea[name="message"]`), message),
		chromedp.Click(button("Sign the guestbook")),
		chromedp.WaitVisible(chromedp.Search(fmt.Sprintf(`//ul[@id="entries"]/li/strong[normalize-space()=%q]`, displayName))),
	)
	if got := b.text("read the entries", "#entries"); !strings.HasPrefix(got, displayName+" ") || !strings.HasSuffix(got, message) {
		t.Fatalf("entries after signing: %q", got)
	}
	// The module's page is framed by the site: navigation and sign-in state.
	if got := b.text("read the nav on the module page", "nav .who"); !strings.Contains(got, "Signed in as "+username) {
		t.Fatalf("nav on the guestbook: %q", got)
	}
	ctx, cancel := b.step()
	defer cancel()
	if p, err := b.screenshot(ctx, "guestbook"); err != nil {
		t.Errorf("screenshot of the guestbook: %v", err)
	} else {
		t.Logf("guestbook screenshot: %s", p)
	}

	b.do("log out from the module's page",
		chromedp.Click(button("Log out")),
		chromedp.WaitVisible(css(`nav a.button[href="/register"]`)),
	)
	if got := b.text("read the signed-out home page", "main"); !strings.Contains(got, "You are not signed in") {
		t.Fatalf("home page after logging out: %q", got)
	}
	if run(b, "look for a logout form", chromedp.Evaluate[bool](`document.querySelector('form[action="/logout"]') !== null`)) {
		t.Fatal("the page still offers to log out after logging out")
	}
	b.do("open the guestbook signed out",
		chromedp.Navigate(s.URL+"/guestbook"),
		chromedp.WaitVisible(css(`a[href="/login?next=/guestbook"]`)),
	)
	if got := b.text("read the signed-out guestbook", "main"); strings.Contains(got, "Sign the guestbook") ||
		!strings.Contains(got, displayName) || !strings.Contains(got, message) {
		t.Fatalf("guestbook after logging out: %q", got)
	}
}

package server

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/sdk/abi"
)

// serveWatching serves s on a fresh listener with Serve (which watches the
// modules folder) until the test ends, and returns its URL.
func serveWatching(t *testing.T, s *testSite) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.srv.Serve(ctx, ln) }()
	t.Cleanup(func() { // before the site closes (cleanups run last first)
		cancel()
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// replaceIn rewrites a file, replacing old (which must be there) by new.
func replaceIn(t *testing.T, name, old, new string) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", name, old)
	}
	if err := os.WriteFile(name, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadRebuiltModule is `make run-local`'s edit-build loop: a module
// built from a folder outside the repository, linked into the modules
// folder, is served with Serve while clients keep requesting its page. It
// is rebuilt with a change: the new page comes, no request fails. It is
// rebuilt broken (as a command): the previous build keeps serving and
// /readyz says why. It is rebuilt right: it serves again and /readyz is
// clean.
func TestReloadRebuiltModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module to wasm three times")
	}
	src := newModule(t, "shop")
	mods := t.TempDir()
	if err := os.Symlink(src, filepath.Join(mods, "shop")); err != nil {
		t.Fatal(err)
	}
	log := newLogLines(t)
	base := serveWatching(t, newSiteWith(t, mods, hclog.New(&hclog.LoggerOptions{Level: hclog.Info, Output: log})))

	page := func() string {
		t.Helper()
		status, b := get(t, http.DefaultClient, base+"/shop")
		if status != 200 {
			t.Fatalf("GET /shop = %d %s", status, b)
		}
		return b
	}
	if b := page(); !strings.Contains(b, "No notes yet.") {
		t.Fatalf("first build: %s", b)
	}

	// A client requests the page all along; no request may fail. (One
	// client: with the test's own requests that is the pool's two
	// instances, so no request waits for an instance, however slow the
	// machine.)
	var (
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		mu       sync.Mutex
		failures []string
		served   int
	)
	wg.Go(func() {
		c := &http.Client{Transport: &http.Transport{}}
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := c.Get(base + "/shop")
			var b []byte
			if err == nil {
				b, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			served++
			if err != nil || resp.StatusCode != 200 {
				failures = append(failures, fmt.Sprintf("%v %v %.200s", err, resp, b))
			}
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		close(stop)
		wg.Wait()
		if len(failures) > 0 {
			t.Errorf("%d of %d requests failed during the reloads, e.g. %s", len(failures), served, failures[0])
		} else {
			t.Logf("%d requests during the reloads, none failed", served)
		}
	})

	// 1. A rebuild with a change is swapped in.
	replaceIn(t, filepath.Join(src, "assets", "templates", "notes.html"), "No notes yet.", "Nothing noted yet.")
	runLine(t, src, abi.GoBuildCommand)
	_, at := log.waitFor(t, 0, "reloaded a rebuilt module", "module=shop")
	if b := page(); !strings.Contains(b, "Nothing noted yet.") {
		t.Fatalf("after the rebuild: %s", b)
	}

	// 2. A broken rebuild keeps the previous one serving, and says why.
	buildCommand(t, src, filepath.Join(src, "module.wasm"))
	_, at = log.waitFor(t, at, "a rebuilt local module did not start", "module=shop", "stage=compile", "built as a command")
	if b := page(); !strings.Contains(b, "Nothing noted yet.") {
		t.Fatalf("after the broken rebuild: %s", b)
	}
	_, ready := get(t, http.DefaultClient, base+"/readyz")
	if want := "module shop (" + filepath.Join(mods, "shop") + "): serves 0.1.0; its new build failed at stage compile"; !strings.Contains(ready, want) ||
		!strings.Contains(ready, "built as a command") {
		t.Fatalf("/readyz = %q, want it to say %q", ready, want)
	}

	// 3. A good rebuild serves again and clears the problem.
	replaceIn(t, filepath.Join(src, "assets", "templates", "notes.html"), "Nothing noted yet.", "Empty for now.")
	runLine(t, src, abi.GoBuildCommand)
	log.waitFor(t, at, "reloaded a rebuilt module", "module=shop")
	if b := page(); !strings.Contains(b, "Empty for now.") {
		t.Fatalf("after the fixed rebuild: %s", b)
	}
	if _, ready := get(t, http.DefaultClient, base+"/readyz"); ready != "ready\n" {
		t.Fatalf("/readyz = %q after the fix", ready)
	}
}

package main

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestModuleNewStepsAsPrinted follows the next steps `websonic module new`
// prints for a module in a folder of its own, exactly as printed, and gets
// the module's page from the site they start. The module's folder, which
// its author commits, holds the module and its build only: the site's
// database and caches live beside it, not in it.
func TestModuleNewStepsAsPrinted(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	parent := dataDir(t) // reachable by the embedded PostgreSQL's user when root
	dir := filepath.Join(parent, "shop")
	r := cliRun(t, ctx, bin, "", nil, "", "module", "new", "shop", "--dir", dir)
	if r.code != 0 {
		t.Fatalf("module new: exit %d\n%s", r.code, r.stderr)
	}
	_, steps, ok := strings.Cut(r.stdout, "next steps (README.md says more):\n")
	if !ok {
		t.Fatalf("no next steps:\n%s", r.stdout)
	}
	var serve []string
	for _, line := range strings.Split(strings.TrimSpace(steps), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(line, "cd "): // the steps run in the module's folder
		case strings.HasPrefix(line, "websonic serve"):
			serve = append(strings.Fields(line)[1:], "--addr", "127.0.0.1:0")
		default:
			c := exec.CommandContext(ctx, "sh", "-c", line)
			c.Dir = dir
			if out, err := c.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", line, err, out)
			}
		}
	}
	if serve == nil {
		t.Fatalf("no `websonic serve` step:\n%s", steps)
	}
	site := launch(t, ctx, bin, dir, []string{"WEBSONIC_DATABASE_URL="}, regexp.MustCompile(`serving: url=(http://\S+)`), nil, serve...)
	resp, err := http.Get(site.url + "/shop")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /shop: %v %v", err, resp)
	}
	resp.Body.Close()
	site.stop(t)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	built := map[string]bool{"README.md": true, "assets": true, "go.mod": true, "go.sum": true, "main.go": true, "migrations": true, "module.json": true, "module.wasm": true}
	for _, e := range entries {
		if !built[e.Name()] {
			t.Errorf("the module's folder holds %s: the site's data went into it", e.Name())
		}
	}
}

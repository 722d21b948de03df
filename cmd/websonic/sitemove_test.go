package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// moveRun runs a command in the process; it returns stdout, stderr and
// the error.
func moveRun(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	err := run(args, strings.NewReader(""), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// TestSiteMoveCommands moves a site with `websonic site …` from one site
// (on its embedded PostgreSQL) to another that is running: import
// --prepare prints the recipient (the same again), export --to writes the
// archive and prints the fingerprint, fetch downloads it from a link and,
// cut off with no retries left, resumes where it stopped when run again;
// a dry run prints the report and changes nothing; the wrong source key
// exits 1 with a clear error and changes nothing; the import switches the
// site in, and the running target lets the source's users sign in.
func TestSiteMoveCommands(t *testing.T) {
	ctx := context.Background()
	t.Setenv("WEBSONIC_DATABASE_URL", "")
	t.Setenv("WEBSONIC_SITE_KEY", "")
	srcDir, dstDir := dataDir(t), dataDir(t)
	src, err := server.Open(ctx, server.Config{DataDir: srcDir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateAdmin(ctx, "owner", "", "", "correct horse battery"); err != nil {
		t.Fatal(err)
	}
	src.Close(ctx)
	dst, err := server.Open(ctx, server.Config{DataDir: dstDir})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close(ctx)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- dst.Serve(sctx, ln) }()
	defer func() { stop(); <-served }()
	dstURL := "http://" + ln.Addr().String()

	// The target's recipient.
	rcpt, _, err := moveRun("site", "import", "--prepare", "--data-dir", dstDir)
	rcpt = strings.TrimSpace(rcpt)
	if err != nil || !strings.HasPrefix(rcpt, "age1") {
		t.Fatalf("site import --prepare: %q %v", rcpt, err)
	}
	if again, _, _ := moveRun("site", "import", "--prepare", "--data-dir", dstDir); strings.TrimSpace(again) != rcpt {
		t.Fatalf("prepared again: %q, want %q", again, rcpt)
	}

	// The source's export.
	archive := filepath.Join(t.TempDir(), "site.move.age")
	if _, _, err := moveRun("site", "export", "--to", "age1notarecipient", "--out", archive, "--data-dir", srcDir); err == nil || !strings.Contains(err.Error(), "--to") {
		t.Fatalf("export to a bad recipient: %v", err)
	}
	_, stderr, err := moveRun("site", "export", "--to", rcpt, "--out", archive, "--data-dir", srcDir)
	fm := regexp.MustCompile(`source fingerprint: (SHA256:\S+)`).FindStringSubmatch(stderr)
	if err != nil || fm == nil {
		t.Fatalf("site export: %v\n%s", err, stderr)
	}
	fp := fm[1]
	raw, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}

	// The download: cut in the middle, no retries left; run again, it
	// resumes from what it has (Range, If-Range).
	var cut atomic.Bool
	var ranges atomic.Int32
	link := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "" {
			ranges.Add(1)
		}
		w.Header().Set("ETag", `"the-archive"`)
		if cut.CompareAndSwap(false, true) {
			w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
			w.WriteHeader(http.StatusOK)
			w.Write(raw[:len(raw)/2])
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		http.ServeContent(w, r, "site.move.age", time.Time{}, bytes.NewReader(raw))
	}))
	defer link.Close()
	fetched := filepath.Join(t.TempDir(), "fetched.move.age")
	if _, _, err := moveRun("site", "fetch", link.URL+"/l/token", "--out", fetched, "--retries", "0"); err == nil || !strings.Contains(err.Error(), "run it again to resume") {
		t.Fatalf("a cut download: %v", err)
	}
	if fi, err := os.Stat(fetched + ".part"); err != nil || fi.Size() != int64(len(raw)/2) {
		t.Fatalf("after the cut: %v %v", fi, err)
	}
	if _, _, err := moveRun("site", "fetch", link.URL+"/l/token", "--out", fetched); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(fetched); !bytes.Equal(got, raw) || ranges.Load() != 1 {
		t.Fatalf("fetched %d bytes (want the archive's %d) with %d range requests (want 1)", len(got), len(raw), ranges.Load())
	}

	// Nothing changes before the import: a dry run, the wrong key.
	users := func() string {
		c, err := server.OpenConsole(ctx, server.Config{DataDir: dstDir})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		us, _, err := c.ListUsers(ctx, server.UserQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, u := range us {
			names = append(names, u.Username)
		}
		return strings.Join(names, ",")
	}
	before := users()
	out, _, err := moveRun("site", "import", fetched, "--dry-run", "--data-dir", dstDir)
	if err != nil || !strings.Contains(out, "dry run: everything checks; nothing was changed") || !strings.Contains(out, "websonic.users") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	wrongKey := "SHA256:" + strings.Repeat("A", 43)
	bin := buildBinary(t)
	r := cliRun(t, ctx, bin, "", []string{"WEBSONIC_DATA_DIR=" + dstDir}, "", "site", "import", fetched, "--source-key", wrongKey)
	if r.code != 1 || !strings.Contains(r.stderr, "not signed by the confirmed source") || !strings.Contains(r.stderr, wrongKey) {
		t.Fatalf("the wrong source key: exit %d\n%s", r.code, r.stderr)
	}
	if got := users(); got != before {
		t.Fatalf("the target changed: users %q, was %q", got, before)
	}

	// The import; the running target takes it up.
	out, _, err = moveRun("site", "import", fetched, "--source-key", fp, "--data-dir", dstDir)
	if err != nil || !strings.Contains(out, "this site now serves the moved data") || !strings.Contains(out, "Next:") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if got := users(); got != "owner" {
		t.Fatalf("the target's users: %q", got)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(dstURL+"/login", url.Values{"username": {"owner"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the source's owner signs in on the target: %s", resp.Status)
	}
}

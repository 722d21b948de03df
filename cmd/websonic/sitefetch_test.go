package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// TestSiteFetchWaitsForTheExport: a source still writing its export answers
// 503 with Retry-After; fetch waits as asked, without spending a retry, and
// then downloads. Past --wait it gives up with the source's words.
func TestSiteFetchWaitsForTheExport(t *testing.T) {
	raw := bytes.Repeat([]byte("age-encryption.org/v1 archive "), 1000)
	var notReady atomic.Int32
	notReady.Store(2)
	link := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if notReady.Add(-1) >= 0 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "the export is not finished yet: try again in a moment", http.StatusServiceUnavailable)
			return
		}
		http.ServeContent(w, r, "site.move.age", time.Time{}, bytes.NewReader(raw))
	}))
	defer link.Close()

	out := filepath.Join(t.TempDir(), "site.move.age")
	_, stderr, err := moveRun("site", "fetch", link.URL+"/l/token", "--out", out, "--retries", "0")
	if err != nil {
		t.Fatalf("fetch: %v\n%s", err, stderr)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, raw) {
		t.Fatalf("fetched %d bytes, want %d", len(got), len(raw))
	}
	if n := strings.Count(stderr, "the export is not finished yet: try again in a moment; trying again in 1s"); n != 2 {
		t.Errorf("want two waits reported, got %d:\n%s", n, stderr)
	}

	notReady.Store(1 << 20)
	out = filepath.Join(t.TempDir(), "site.move.age")
	_, stderr, err = moveRun("site", "fetch", link.URL+"/l/token", "--out", out, "--wait", "500ms")
	if err == nil || !strings.Contains(err.Error(), "the export is not finished yet") || strings.Contains(err.Error(), "resume") || strings.Contains(stderr, "resuming") {
		t.Fatalf("past --wait: %v\n%s", err, stderr)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a file was left after giving up: %v", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{" 2 ", 2 * time.Second, true},
		{"0", time.Second, true},
		{"86400", 5 * time.Minute, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), time.Second, true},
		{"", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
	} {
		if got, ok := retryAfter(tc.in, now); got != tc.want || ok != tc.ok {
			t.Errorf("retryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestWriteArchiveNeverOverwrites: an archive's file is new or refused
// with words that say so (the flag's name differs between commands).
func TestWriteArchiveNeverOverwrites(t *testing.T) {
	out := filepath.Join(t.TempDir(), "site.move.age")
	if err := os.WriteFile(out, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	called := false
	_, err := writeArchive(out, nil, func(w io.Writer) error { called = true; return nil })
	if err == nil || !strings.Contains(err.Error(), out+" exists already") || strings.Contains(err.Error(), "-o:") || called {
		t.Fatalf("writing over an existing file: %v (write called: %v)", err, called)
	}
	if got, _ := os.ReadFile(out); string(got) != "keep me" {
		t.Fatalf("the existing file now holds %q", got)
	}
}

// TestSiteFetchStalledSource: a source that stops sending mid-body ends
// the attempt after the stall time (rather than hanging until ^C), keeps
// what arrived, and the next attempt resumes from there.
func TestSiteFetchStalledSource(t *testing.T) {
	raw := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	var stall atomic.Bool
	stall.Store(true)
	link := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"the-archive"`)
		if stall.CompareAndSwap(true, false) {
			w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
			w.WriteHeader(http.StatusOK)
			w.Write(raw[:len(raw)/2])
			w.(http.Flusher).Flush()
			<-r.Context().Done() // sends nothing more
			return
		}
		http.ServeContent(w, r, "site.move.age", time.Time{}, bytes.NewReader(raw))
	}))
	defer link.Close()
	out := filepath.Join(t.TempDir(), "site.move.age")
	f := fetcher{client: link.Client(), url: link.URL, out: out, progress: func(server.MoveProgress) {}, stall: 300 * time.Millisecond}
	err := f.fetch(context.Background())
	if !errors.Is(err, errStalled) {
		t.Fatalf("a stalled source: %v, want errStalled", err)
	}
	if fi, err := os.Stat(out + ".part"); err != nil || fi.Size() != int64(len(raw)/2) {
		t.Fatalf("after the stall: %v %v", fi, err)
	}
	if err := f.fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, raw) {
		t.Fatalf("fetched %d bytes, want %d", len(got), len(raw))
	}
}

package distribution_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/registry/internal/distribution"
)

// patience bounds the waits of these tests; it only guards against a
// hang and asserts no speed.
const patience = 30 * time.Second

// TestSlowUploadsHoldNoConnection: more slow chunk uploads than the pool
// has connections, all in the middle of their bodies, while pulls still
// answer; then every upload completes.
func TestSlowUploadsHoldNoConnection(t *testing.T) {
	const poolSize = 4
	cfg, err := pgxpool.ParseConfig(pgtest.NewDB(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = poolSize
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	if err := distribution.Migrate(context.Background(), pool); err != nil {
		t.Fatal(err)
	}
	e := newEnvOn(t, distribution.Config{Pool: pool})
	ctx := context.Background()
	repo := e.repo(t, "pulled")
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test", oras.PackManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, desc, "v1"); err != nil {
		t.Fatal(err)
	}

	const n = poolSize + 2
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Hour, MaxConnsPerHost: 0}}
	reached := make(chan int, n)
	type answer struct {
		resp *http.Response
		err  error
	}
	type slow struct {
		w    *io.PipeWriter
		done chan answer
	}
	uploads := make([]slow, n)
	locations := make([]string, n)
	for i := range locations {
		resp, body := e.do(t, http.MethodPost, "/v2/slow/blobs/uploads/", nil, nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("start: %d %s", resp.StatusCode, body)
		}
		locations[i] = resp.Header.Get("Location")
	}
	for i := range uploads {
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) }) // before the server's Close, which waits for requests
		uploads[i] = slow{w: pw, done: make(chan answer, 1)}
		trace := &httptrace.ClientTrace{Got100Continue: func() { reached <- i }}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPatch, e.srv.URL+locations[i], pr)
		req.Header.Set("Expect", "100-continue")
		req.Header.Set("Content-Type", "application/octet-stream")
		go func() {
			resp, err := client.Do(req)
			uploads[i].done <- answer{resp, err}
		}()
	}
	// The server asks for a body (100 Continue) only once its handler
	// reads it: every upload is then in the middle of its body.
	deadline := time.After(patience)
	for got := 0; got < n; got++ {
		select {
		case <-reached:
		case <-deadline:
			t.Fatalf("only %d of %d slow uploads reached their body (a pool of %d): each one before holds a database connection", got, n, poolSize)
		}
	}
	// Pulls answer meanwhile (both query the database).
	pctx, cancel := context.WithTimeout(ctx, patience)
	defer cancel()
	for _, path := range []string{"/v2/pulled/manifests/v1", "/v2/pulled/blobs/" + digest.FromString("unknown").String()} {
		req, _ := http.NewRequestWithContext(pctx, http.MethodGet, e.srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s while %d uploads are slow: %v", path, n, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
	}
	for i, u := range uploads {
		go func() {
			u.w.Write(bytes.Repeat([]byte{byte('a' + i)}, 1000))
			u.w.Close()
		}()
	}
	for i, u := range uploads {
		select {
		case a := <-u.done:
			if a.err != nil {
				t.Fatalf("upload %d: %v", i, a.err)
			}
			resp := a.resp
			resp.Body.Close()
			if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-999" {
				t.Errorf("upload %d: %s, Range %q", i, resp.Status, resp.Header.Get("Range"))
			}
		case <-time.After(patience):
			t.Fatalf("upload %d never answered", i)
		}
	}
}

// TestConcurrentChunks: two chunks for the same place of one session,
// the first still streaming when the second completes: the second wins,
// the first is refused with 416 and leaves nothing behind.
func TestConcurrentChunks(t *testing.T) {
	e := newEnv(t)
	resp, body := e.do(t, http.MethodPost, "/v2/race/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	reached := make(chan struct{})
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	trace := &httptrace.ClientTrace{Got100Continue: func() { close(reached) }}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPatch, e.srv.URL+loc, pr)
	req.Header.Set("Expect", "100-continue")
	slowDone := make(chan *http.Response, 1)
	go func() {
		client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: time.Hour}}
		resp, err := client.Do(req)
		if err != nil {
			resp = &http.Response{Status: err.Error(), Body: http.NoBody}
		}
		slowDone <- resp
	}()
	select {
	case <-reached:
	case <-time.After(patience):
		t.Fatal("the slow chunk never reached its body")
	}
	resp, body = e.do(t, http.MethodPatch, loc, map[string]string{"Content-Range": "0-4"}, []byte("fast!"))
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Range") != "0-4" {
		t.Fatalf("fast chunk: %d %s", resp.StatusCode, body)
	}
	pw.Write([]byte("slow one"))
	pw.Close()
	slow := <-slowDone
	slow.Body.Close()
	if slow.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Fatalf("slow chunk after the fast one: %s, want 416", slow.Status)
	}
	d := digest.FromString("fast!")
	resp, body = e.do(t, http.MethodPut, loc+"?digest="+d.String(), nil, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish: %d %s", resp.StatusCode, body)
	}
	if resp, body := e.do(t, http.MethodGet, "/v2/race/blobs/"+d.String(), nil, nil); string(body) != "fast!" {
		t.Fatalf("blob: %d %q", resp.StatusCode, body)
	}
}

// TestDeclaredLengthOverLimit: a body declared larger than the endpoint
// takes is refused at once with 413, before any of it is sent.
func TestDeclaredLengthOverLimit(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.do(t, http.MethodPost, "/v2/big/blobs/uploads/", nil, nil)
	loc := resp.Header.Get("Location")
	d := digest.FromString("x").String()
	for _, head := range []string{
		"POST /v2/big/blobs/uploads/?digest=" + d,
		"PATCH " + loc,
		"PUT " + loc + "?digest=" + d,
		"PUT /v2/big/manifests/latest",
	} {
		t.Run(head, func(t *testing.T) {
			conn, err := net.Dial("tcp", e.host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(patience))
			fmt.Fprintf(conn, "%s HTTP/1.1\r\nHost: registry\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
				head, ocispec.MediaTypeImageManifest, int64(1)<<40)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer before the body: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s, want 413", resp.Status)
			}
		})
	}
	// The session is as it was.
	if resp, _ := e.do(t, http.MethodGet, loc, nil, nil); resp.StatusCode != http.StatusNoContent || resp.Header.Get("Range") != "0-0" {
		t.Fatalf("session after refused chunks: %d %q", resp.StatusCode, resp.Header.Get("Range"))
	}
}

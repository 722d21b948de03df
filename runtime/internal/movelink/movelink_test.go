package movelink_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/runtime/internal/movelink"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// site is one runtime's Store on its own database, its links served over
// real HTTP as the runtime's site origin serves them. A request's
// X-Test-Client header stands for another client address (what the
// runtime's clientaddr middleware sets RemoteAddr to).
type site struct {
	store *movelink.Store
	pool  *pgxpool.Pool
	srv   *httptest.Server
	// cutAfter, when positive, cuts the next link response after that
	// many bytes of body.
	cutAfter atomic.Int64
}

func newSite(t *testing.T, cfg movelink.Config) *site {
	t.Helper()
	cdb, _ := coredbtest.Open(t)
	cfg.Pool, cfg.DataDir = cdb.Pool, t.TempDir()
	st, err := movelink.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := &site{store: st, pool: cdb.Pool}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c := r.Header.Get("X-Test-Client"); c != "" {
			r.RemoteAddr = c + ":1234"
		}
		if n := s.cutAfter.Swap(0); n > 0 {
			w = &cutWriter{ResponseWriter: w, left: n}
		}
		token, ok := bytes.CutPrefix([]byte(r.URL.Path), []byte(movelink.LinkPath))
		if !ok {
			http.NotFound(w, r)
			return
		}
		st.ServeLink(w, r, string(token))
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// cutWriter fails every write after left bytes: the connection is then
// closed by net/http (the body is shorter than its Content-Length).
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		n, _ := c.ResponseWriter.Write(p[:c.left])
		c.left = 0
		return n, errors.New("cut")
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}

// export makes a link and attaches a random archive of size bytes to it.
func (s *site) export(t *testing.T, size int) (link string, archive []byte) {
	t.Helper()
	ctx := context.Background()
	token, id, err := s.store.CreateLink(ctx, 0, false)
	if err != nil {
		t.Fatal(err)
	}
	link = s.srv.URL + movelink.LinkPath + token
	if resp := get(t, link, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("before the export finished: %d, want 503", resp.StatusCode)
	}
	archive = make([]byte, size)
	rand.Read(archive)
	a, err := s.store.CreateArchive()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write(archive); err != nil {
		t.Fatal(err)
	}
	if err := s.store.Attach(ctx, id, a); err != nil {
		t.Fatal(err)
	}
	return link, archive
}

type response struct {
	StatusCode int
	Header     http.Header
	Body       []byte
	Err        error // reading the body
}

func get(t *testing.T, url string, header map[string]string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b, err}
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// TestLinkOnce: a link serves its archive once, to one client; the second
// download, and any other client, get 410; unknown tokens 404.
func TestLinkOnce(t *testing.T) {
	s := newSite(t, movelink.Config{})
	link, archive := s.export(t, 300<<10)
	if r := get(t, link, map[string]string{"X-Test-Client": "192.0.2.7"}); r.StatusCode != http.StatusOK || !bytes.Equal(r.Body, archive) {
		t.Fatalf("first download: %d, %d bytes", r.StatusCode, len(r.Body))
	} else if r.Header.Get("ETag") != `"`+sum(archive)+`"` {
		t.Fatalf("ETag %s", r.Header.Get("ETag"))
	}
	if r := get(t, link, map[string]string{"X-Test-Client": "192.0.2.7"}); r.StatusCode != http.StatusGone {
		t.Fatalf("second download: %d, want 410", r.StatusCode)
	}
	if r := get(t, link[:len(link)-2]+"AA", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown token: %d", r.StatusCode)
	}
	if r := get(t, s.srv.URL+movelink.LinkPath+"short", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("malformed token: %d", r.StatusCode)
	}
	l, err := s.store.NewestLink(context.Background())
	if err != nil || l.Completed.IsZero() || l.Client != "192.0.2.7" || l.Delivered != int64(len(archive)) {
		t.Fatalf("link after download: %+v, %v", l, err)
	}

	t.Run("another client", func(t *testing.T) {
		link, _ := s.export(t, 1000)
		if r := get(t, link, map[string]string{"X-Test-Client": "192.0.2.8", "Range": "bytes=0-9"}); r.StatusCode != http.StatusPartialContent {
			t.Fatalf("first client: %d", r.StatusCode)
		}
		if r := get(t, link, map[string]string{"X-Test-Client": "198.51.100.1"}); r.StatusCode != http.StatusGone {
			t.Fatalf("second client: %d, want 410", r.StatusCode)
		}
	})
	t.Run("expired", func(t *testing.T) {
		link, _ := s.export(t, 1000)
		if _, err := s.pool.Exec(context.Background(), `UPDATE websonic.move_links SET expires_at = now() - interval '1 second'`); err != nil {
			t.Fatal(err)
		}
		if r := get(t, link, nil); r.StatusCode != http.StatusGone {
			t.Fatalf("expired link: %d, want 410", r.StatusCode)
		}
	})
	t.Run("a new link revokes the old one", func(t *testing.T) {
		old, archive := s.export(t, 1000)
		token, _, err := s.store.CreateLink(context.Background(), 0, true)
		if err != nil {
			t.Fatal(err)
		}
		if r := get(t, old, nil); r.StatusCode != http.StatusGone {
			t.Fatalf("old link: %d, want 410", r.StatusCode)
		}
		if r := get(t, s.srv.URL+movelink.LinkPath+token, nil); r.StatusCode != 200 || !bytes.Equal(r.Body, archive) {
			t.Fatalf("new link on the same archive: %d", r.StatusCode)
		}
	})
}

// TestLinkResume: a download cut mid-way continues with Range and
// If-Range, and the link is spent once the rest arrived; a Range with a
// stale If-Range gets the whole archive.
func TestLinkResume(t *testing.T) {
	s := newSite(t, movelink.Config{})
	link, archive := s.export(t, 3<<20)
	s.cutAfter.Store(1 << 20)
	first := get(t, link, nil)
	if first.StatusCode != 200 || first.Err == nil || len(first.Body) != 1<<20 {
		t.Fatalf("cut download: %d, %d bytes, %v", first.StatusCode, len(first.Body), first.Err)
	}
	rest := get(t, link, map[string]string{"Range": fmt.Sprintf("bytes=%d-", len(first.Body)), "If-Range": first.Header.Get("ETag")})
	if rest.StatusCode != http.StatusPartialContent || rest.Header.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", 1<<20, 3<<20-1, 3<<20) {
		t.Fatalf("resumed: %d, Content-Range %q", rest.StatusCode, rest.Header.Get("Content-Range"))
	}
	if got := append(first.Body, rest.Body...); !bytes.Equal(got, archive) {
		t.Fatalf("the resumed download differs from the archive (%d of %d bytes)", len(got), len(archive))
	}
	if r := get(t, link, map[string]string{"Range": "bytes=0-"}); r.StatusCode != http.StatusGone {
		t.Fatalf("after the resumed download completed: %d, want 410", r.StatusCode)
	}

	t.Run("stale If-Range", func(t *testing.T) {
		link, archive := s.export(t, 5000)
		if r := get(t, link, map[string]string{"Range": "bytes=10-19", "If-Range": `"stale"`}); r.StatusCode != 200 || !bytes.Equal(r.Body, archive) {
			t.Fatalf("stale If-Range: %d, %d bytes; want the whole archive", r.StatusCode, len(r.Body))
		}
	})
	t.Run("no range past what was delivered", func(t *testing.T) {
		// Otherwise the tail, then the head, read the whole archive
		// without ever spending the link.
		link, archive := s.export(t, 5000)
		if r := get(t, link, map[string]string{"Range": "bytes=4000-"}); r.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("the tail first: %d, want 416", r.StatusCode)
		}
		if r := get(t, link, map[string]string{"Range": "bytes=0-3999"}); r.StatusCode != 206 || !bytes.Equal(r.Body, archive[:4000]) {
			t.Fatalf("the head: %d", r.StatusCode)
		}
		if r := get(t, link, map[string]string{"Range": "bytes=1000-1999"}); r.StatusCode != 206 || !bytes.Equal(r.Body, archive[1000:2000]) {
			t.Fatalf("again a part already delivered: %d", r.StatusCode)
		}
		if r := get(t, link, map[string]string{"Range": "bytes=4000-"}); r.StatusCode != 206 || !bytes.Equal(r.Body, archive[4000:]) {
			t.Fatalf("the rest: %d", r.StatusCode)
		}
		if r := get(t, link, nil); r.StatusCode != http.StatusGone {
			t.Fatalf("after the whole archive was delivered: %d, want 410", r.StatusCode)
		}
		link, _ = s.export(t, 5000)
		if r := get(t, link, map[string]string{"Range": "bytes=6000-"}); r.StatusCode != http.StatusRequestedRangeNotSatisfiable {
			t.Fatalf("a range past the end: %d, want 416", r.StatusCode)
		}
	})
}

// TestUploadChunks: an upload arrives in chunks; a chunk cut mid-way
// changes nothing, the next attempt resumes from what the store says it
// has; out-of-order and oversized chunks are refused.
func TestUploadChunks(t *testing.T) {
	s := newSite(t, movelink.Config{MaxChunk: 1 << 20, MaxArchive: 10 << 20})
	ctx := context.Background()
	archive := make([]byte, 3<<20+123)
	rand.Read(archive)
	total := int64(len(archive))
	if _, err := s.store.NewUpload(ctx, 0, "big.age", 11<<20); !errors.Is(err, movelink.ErrTooLarge) {
		t.Fatalf("an archive over MaxArchive: %v", err)
	}
	id, err := s.store.NewUpload(ctx, 0, "site.age", total)
	if err != nil {
		t.Fatal(err)
	}
	chunk := func(first, last int64) movelink.ContentRange {
		return movelink.ContentRange{First: first, Last: last, Total: total}
	}
	put := func(first, last int64, body io.Reader) (int64, error) {
		return s.store.PutChunk(ctx, 0, id, chunk(first, last), body)
	}
	if _, err := put(0, 2<<20, bytes.NewReader(archive)); !errors.Is(err, movelink.ErrTooLarge) {
		t.Fatalf("a chunk over MaxChunk: %v", err)
	}
	if got, err := put(0, 1<<20-1, bytes.NewReader(archive[:1<<20])); err != nil || got != 1<<20 {
		t.Fatalf("first chunk: %d, %v", got, err)
	}
	// The network fails half-way through the second chunk.
	cut := io.MultiReader(bytes.NewReader(archive[1<<20:1<<20+5000]), errReader{})
	if _, err := put(1<<20, 2<<20-1, cut); err == nil {
		t.Fatal("a cut chunk was accepted")
	}
	in, err := s.store.Current(ctx)
	if err != nil || in.Received != 1<<20 || in.Complete {
		t.Fatalf("after the cut chunk: %+v, %v", in, err)
	}
	// A chunk while another of the same upload is still being written
	// (a client retrying before the server noticed the cut): busy, and
	// it says where the upload stands, so the client does not start over.
	pr, pw := io.Pipe()
	slow := make(chan error, 1)
	go func() { _, err := put(1<<20, 2<<20-1, pr); slow <- err }()
	if _, err := pw.Write(archive[1<<20 : 1<<20+10]); err != nil { // being read: the chunk is being written
		t.Fatal(err)
	}
	if got, err := put(2<<20, 3<<20-1, bytes.NewReader(archive[2<<20:3<<20])); !errors.Is(err, movelink.ErrBusy) || got != 1<<20 {
		t.Fatalf("a chunk while another is written: %d, %v; want ErrBusy at %d", got, err, 1<<20)
	}
	pw.CloseWithError(errors.New("connection reset"))
	if err := <-slow; err == nil {
		t.Fatal("a cut chunk was accepted")
	}
	var off *movelink.OffsetError
	if _, err := put(2<<20, 3<<20-1, bytes.NewReader(archive[2<<20:3<<20])); !errors.As(err, &off) || off.Received != 1<<20 {
		t.Fatalf("a chunk past the received bytes: %v", err)
	}
	if got, err := put(0, 1<<20-1, bytes.NewReader(archive[:1<<20])); err != nil || got != 1<<20 {
		t.Fatalf("a retried first chunk: %d, %v", got, err)
	}
	for at := in.Received; at < total; at += 1 << 20 {
		last := min(at+1<<20, total) - 1
		if _, err := put(at, last, bytes.NewReader(archive[at:last+1])); err != nil {
			t.Fatalf("chunk at %d: %v", at, err)
		}
	}
	in, err = s.store.Current(ctx)
	if err != nil || !in.Complete || in.Received != total {
		t.Fatalf("after the last chunk: %+v, %v", in, err)
	}
	path, err := s.store.Path(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, archive) {
		t.Fatal("the uploaded file differs from the archive")
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'site.import_upload' AND subject = $1`, id).Scan(&n); err != nil || n != 2 {
		t.Fatalf("audit entries for the upload: %d, %v (want started and complete)", n, err)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestFetchResumes: a target fetches a source's link; the first response
// is cut, the fetch resumes with Range and completes, byte for byte, and
// the source's link is spent.
func TestFetchResumes(t *testing.T) {
	src := newSite(t, movelink.Config{})
	dst := newSite(t, movelink.Config{})
	link, archive := src.export(t, 6<<20+7)
	src.cutAfter.Store(2 << 20)
	ctx := context.Background()
	id, err := dst.store.StartFetch(ctx, 0, link)
	if err != nil {
		t.Fatal(err)
	}
	var last int64
	if err := dst.store.Fetch(ctx, 0, id, func(done, total int64) { last = done }); err != nil {
		t.Fatal(err)
	}
	path, err := dst.store.Path(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, archive) || last != int64(len(archive)) {
		t.Fatalf("fetched %d bytes (progress said %d), want the %d of the archive", len(got), last, len(archive))
	}
	if r := get(t, link, nil); r.StatusCode != http.StatusGone {
		t.Fatalf("the link after the fetch: %d, want 410", r.StatusCode)
	}
	in, _ := dst.store.Current(ctx)
	if in.Origin != src.srv.URL+"/…" {
		t.Fatalf("the page would show the link as %q (its token must not show)", in.Origin)
	}

	t.Run("spent link refused", func(t *testing.T) {
		id, err := dst.store.StartFetch(ctx, 0, link)
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.store.Fetch(ctx, 0, id, nil); !errors.Is(err, movelink.ErrGone) {
			t.Fatalf("fetching a spent link: %v, want ErrGone", err)
		}
	})
	t.Run("bad links", func(t *testing.T) {
		for _, l := range []string{"ftp://x/y", "http://example.com/api/site-move/x", "not a url", "https://user:pw@example.com/x"} {
			if _, err := dst.store.StartFetch(ctx, 0, l); !errors.Is(err, movelink.ErrURL) {
				t.Errorf("StartFetch(%q) = %v, want ErrURL", l, err)
			}
		}
	})
}

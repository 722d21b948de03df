package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/movelink"
)

// portalEnv is a runtime with an admin signed in to its admin area.
type portalEnv struct {
	site  *testSite
	admin *adminClient
	csrf  string
}

func newPortalEnv(t *testing.T) *portalEnv {
	t.Helper()
	s := newSite(t)
	const pass = "admin-password-1234"
	if _, err := s.srv.CreateAdmin(context.Background(), "owner", "Owner", "", pass); err != nil {
		t.Fatal(err)
	}
	as := httptest.NewServer(s.srv.AdminHandler())
	t.Cleanup(as.Close)
	c := &adminClient{t: t, origin: as.URL}
	if resp := c.login("owner", pass); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	resp, body := c.do("GET", "/admin/migration/import", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("import page: %d", resp.StatusCode)
	}
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no CSRF token on the import page")
	}
	return &portalEnv{site: s, admin: c, csrf: m[1]}
}

// export attaches a random archive of size bytes to a new link of the
// runtime's portal, as a finished export does, and returns the link.
func (e *portalEnv) export(t *testing.T, size int) (string, []byte) {
	t.Helper()
	links := e.site.srv.portal.links
	token, id, err := links.CreateLink(context.Background(), 0, false)
	if err != nil {
		t.Fatal(err)
	}
	archive := make([]byte, size)
	rand.Read(archive)
	a, err := links.CreateArchive()
	if err != nil {
		t.Fatal(err)
	}
	a.Write(archive)
	if err := links.Attach(context.Background(), id, a); err != nil {
		t.Fatal(err)
	}
	return e.site.URL + movelink.LinkPath + token, archive
}

// put sends one upload chunk as the page's script does.
func (e *portalEnv) put(t *testing.T, id string, first, last, total int64, body io.Reader, csrf string) (int, int64, error) {
	t.Helper()
	req, _ := http.NewRequest("PUT", e.admin.origin+"/admin/migration/upload/"+id, body)
	req.ContentLength = last - first + 1
	req.Header.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, total))
	req.Header.Set("X-CSRF-Token", csrf)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", e.admin.origin)
	req.AddCookie(e.admin.cookie)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var out struct{ Received int64 }
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Received, nil
}

func (e *portalEnv) status(t *testing.T) (received, size int64, complete bool) {
	t.Helper()
	_, body := e.admin.do("GET", "/admin/migration/status", nil, nil)
	var st struct {
		Received, Size int64
		Complete       bool
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("status %q: %v", body, err)
	}
	return st.Received, st.Size, st.Complete
}

func fetchLink(t *testing.T, link string, header map[string]string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", link, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// TestMigrationPortalTransfers drives the portal's transfers over a real
// runtime's two origins: a one-time link on the site's origin (cut and
// resumed with Range, refused the second time and once expired), and a
// chunked upload through the admin area that survives a cut chunk.
func TestMigrationPortalTransfers(t *testing.T) {
	e := newPortalEnv(t)

	t.Run("pages", func(t *testing.T) {
		resp, body := e.admin.do("GET", "/admin/migration/import", nil, nil)
		if !strings.Contains(body, `id="recipient" readonly value="age1`) || !strings.Contains(body, "/admin/static/migration.js") {
			t.Fatalf("the import page lacks the recipient or its script:\n%s", body)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Fatalf("the import page's CSP does not allow its script: %s", csp)
		}
		if resp, _ := e.admin.do("GET", "/admin/users", nil, nil); strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
			t.Fatal("another admin page allows scripts")
		}
		resp, body = e.admin.do("POST", "/admin/migration/export", url.Values{"csrf": {e.csrf}, "recipient": {"age1notarecipient"}}, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "age1notarecipient") {
			t.Fatalf("a bad recipient: %d", resp.StatusCode)
		}
	})

	t.Run("one-time link", func(t *testing.T) {
		link, archive := e.export(t, 3<<20)
		code, head := fetchLink(t, link, map[string]string{"Range": "bytes=0-1048575"})
		if code != http.StatusPartialContent {
			t.Fatalf("first part: %d", code)
		}
		code, tail := fetchLink(t, link, map[string]string{"Range": "bytes=1048576-"})
		if code != http.StatusPartialContent || !bytes.Equal(append(head, tail...), archive) {
			t.Fatalf("resumed part: %d; together they differ from the archive", code)
		}
		if code, _ := fetchLink(t, link, nil); code != http.StatusGone {
			t.Fatalf("the link used twice: %d, want 410", code)
		}
		l, err := e.site.srv.portal.links.NewestLink(context.Background())
		if err != nil || l.Completed.IsZero() {
			t.Fatalf("the link is not spent: %+v, %v", l, err)
		}
	})

	t.Run("expired link", func(t *testing.T) {
		link, _ := e.export(t, 1000)
		if _, err := e.site.srv.db.Pool.Exec(context.Background(), `UPDATE websonic.move_links SET expires_at = now() - interval '1 second'`); err != nil {
			t.Fatal(err)
		}
		if code, _ := fetchLink(t, link, nil); code != http.StatusGone {
			t.Fatalf("an expired link: %d, want 410", code)
		}
	})

	t.Run("no upload while an import runs", func(t *testing.T) {
		resp, body := e.admin.do("POST", "/admin/migration/upload", url.Values{"csrf": {e.csrf}, "name": {"site.age"}, "size": {"1000"}}, nil)
		var up struct{ ID string }
		if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &up) != nil {
			t.Fatalf("start upload: %d %s", resp.StatusCode, body)
		}
		p := e.site.srv.portal
		p.mu.Lock()
		p.job = &admin.MoveJob{Kind: "import", Running: true}
		p.mu.Unlock()
		defer func() { p.mu.Lock(); p.job = nil; p.mu.Unlock() }()
		if code, _, err := e.put(t, up.ID, 0, 499, 1000, bytes.NewReader(make([]byte, 500)), e.csrf); err != nil || code != http.StatusConflict {
			t.Fatalf("a chunk while an import runs: %d %v, want 409", code, err)
		}
		if resp, _ := e.admin.do("POST", "/admin/migration/upload", url.Values{"csrf": {e.csrf}, "name": {"site.age"}, "size": {"1000"}}, nil); resp.StatusCode != http.StatusConflict {
			t.Fatalf("an upload started while an import runs: %d, want 409", resp.StatusCode)
		}
		if received, _, _ := e.status(t); received != 0 {
			t.Fatalf("the incoming archive changed during the import: %d bytes", received)
		}
	})

	t.Run("chunked upload resumed", func(t *testing.T) {
		archive := make([]byte, 2*uploadChunk+1234)
		rand.Read(archive)
		total := int64(len(archive))
		resp, body := e.admin.do("POST", "/admin/migration/upload", url.Values{"csrf": {e.csrf}, "name": {"site.age"}, "size": {fmt.Sprint(total)}}, nil)
		var up struct{ ID string }
		if resp.StatusCode != http.StatusCreated || json.Unmarshal([]byte(body), &up) != nil {
			t.Fatalf("start upload: %d %s", resp.StatusCode, body)
		}
		if code, _, _ := e.put(t, up.ID, 0, uploadChunk-1, total, bytes.NewReader(archive[:uploadChunk]), "wrong"); code != http.StatusForbidden {
			t.Fatalf("a chunk without the CSRF token: %d, want 403", code)
		}
		if code, got, err := e.put(t, up.ID, 0, uploadChunk-1, total, bytes.NewReader(archive[:uploadChunk]), e.csrf); err != nil || code != 200 || got != uploadChunk {
			t.Fatalf("first chunk: %d, %d, %v", code, got, err)
		}
		// The network fails in the middle of the second chunk.
		cut := io.MultiReader(bytes.NewReader(archive[uploadChunk:uploadChunk+100000]), failingReader{})
		if _, _, err := e.put(t, up.ID, uploadChunk, 2*uploadChunk-1, total, cut, e.csrf); err == nil {
			t.Fatal("the cut chunk went through")
		}
		received, size, complete := e.status(t)
		if received != uploadChunk || size != total || complete {
			t.Fatalf("after the cut: received %d of %d, complete %v", received, size, complete)
		}
		if code, got, _ := e.put(t, up.ID, 2*uploadChunk, total-1, total, bytes.NewReader(archive[2*uploadChunk:]), e.csrf); code != http.StatusConflict || got != uploadChunk {
			t.Fatalf("a chunk past the gap: %d, received %d; want 409 and where to resume", code, got)
		}
		for at := received; at < total; at += uploadChunk {
			last := min(at+uploadChunk, total) - 1
			if code, _, err := e.put(t, up.ID, at, last, total, bytes.NewReader(archive[at:last+1]), e.csrf); err != nil || code != 200 {
				t.Fatalf("chunk at %d: %d, %v", at, code, err)
			}
		}
		if received, _, complete := e.status(t); !complete || received != total {
			t.Fatalf("after the last chunk: %d, complete %v", received, complete)
		}
		path, err := e.site.srv.portal.incomingPath(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); !bytes.Equal(got, archive) {
			t.Fatal("the uploaded archive differs from the file")
		}
		if _, body := e.admin.do("GET", "/admin/migration/import", nil, nil); !strings.Contains(body, `id="incoming-complete"`) || !strings.Contains(body, `id="check"`) {
			t.Fatal("the import page does not offer the check once the archive is here")
		}
	})
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("network down") }

package limit

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestRequests: a client past its cap gets 429, any client past the cap
// in all 503, both with Retry-After; requests that end free their place.
func TestRequests(t *testing.T) {
	q := NewRequests(3, 2, func(r *http.Request) string { return r.Header.Get("Client") }, 2*time.Second)
	entered, release := make(chan struct{}), make(chan struct{})
	h := q.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	var wg sync.WaitGroup
	hold := func(client string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Client", client)
			h.ServeHTTP(httptest.NewRecorder(), req)
		}()
		<-entered
	}
	refused := func(client string, status int) {
		t.Helper()
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Client", client)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != status || rec.Header().Get("Retry-After") != "2" {
			t.Fatalf("client %s: %d, Retry-After %q; want %d, 2", client, rec.Code, rec.Header().Get("Retry-After"), status)
		}
	}
	hold("a")
	hold("a")
	refused("a", http.StatusTooManyRequests)
	hold("b")
	refused("c", http.StatusServiceUnavailable)
	if q.Open() != 3 || q.Refused() != 2 {
		t.Fatalf("open %d, refused %d; want 3, 2", q.Open(), q.Refused())
	}
	close(release)
	wg.Wait()
	if q.Open() != 0 {
		t.Fatalf("open %d after every request ended", q.Open())
	}
	release = make(chan struct{})
	hold("a") // places are free again
	hold("a")
	close(release)
	wg.Wait()
}

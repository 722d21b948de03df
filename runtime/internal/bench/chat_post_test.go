package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	coresite "github.com/websonic/websonic/runtime/internal/site"
)

// BenchmarkChatPost posts messages into one room (POST
// /chat/api/rooms/ID/messages, a short text without mentions): through
// the chat module (module: the module host, as the runtime mounts it, the
// user in the request's context; fullstack: the runtime's whole handler
// with the poster's session cookie) against a native Go handler on the
// same chi router (chatNative.post) doing the same work: the room check,
// the same insert, room and read-marker updates in one transaction, the
// message read back with the same SQL, and the same publish through the
// host's realtime.publish (the events table and its NOTIFY). 32 clients.
//
// cpu/module and cpu/native are sequential calls straight into the router
// (an httptest recorder: no sockets), reporting the process's CPU time per
// post (PostgreSQL is another process), as BenchmarkCallCost does.
func BenchmarkChatPost(b *testing.B) {
	s := newChatSite(b)
	admin, _ := s.signIn(b, "bench_admin", coresite.RoleAdmin)
	room := s.newRoom(b, admin, "Posting")
	posterClient, poster := s.signIn(b, "poster", coresite.RoleMember)
	nat := s.newChatNative()
	router, base := s.chatRouter(b, poster, map[string]http.Handler{"/native": nat.routes()})
	path := fmt.Sprintf("/chat/api/rooms/%d/messages", room.ID)
	body := func(i int) string {
		return fmt.Sprintf(`{"text":"message %d: the release is done, please check the report before the meeting"}`, i)
	}
	post := func(u string) request {
		return func(c *http.Client, i int) error {
			return drain(c.Post(u, "application/json", strings.NewReader(body(i))))(http.StatusCreated, "POST "+u)
		}
	}
	// Same answer both ways (but for the message's id and time).
	answer := func(u string) []byte {
		resp, err := http.Post(u, "application/json", strings.NewReader(body(0)))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusCreated {
			b.Fatalf("POST %s: %s %s", u, resp.Status, got)
		}
		var m map[string]any
		if err := json.Unmarshal(got, &m); err != nil {
			b.Fatal(err)
		}
		delete(m, "id")
		delete(m, "created_at")
		j, _ := json.Marshal(m)
		return j
	}
	sameJSON(b, "POST "+path, answer(base+"/native"+path), answer(base+path))

	native := post(base + "/native" + path)
	b.Run("native", func(b *testing.B) {
		measureFunc(b, newLoadgen(b), native)
	})
	b.Run("module", func(b *testing.B) {
		measurePairFunc(b, newLoadgen(b), native, post(base+path), "module/native")
	})
	b.Run("fullstack", func(b *testing.B) {
		measurePairFunc(b, newLoadgenN(b, concurrency, posterClient.Jar), native, post(s.URL+path), "full/native")
	})
	direct := func(p string) func() {
		i := 0
		return func() {
			i++
			w := httptest.NewRecorder()
			r := httptest.NewRequest("POST", p, strings.NewReader(body(i)))
			r.Header.Set("Content-Type", "application/json")
			router.ServeHTTP(w, r)
			if w.Code != http.StatusCreated {
				b.Fatalf("POST %s: %d %s", p, w.Code, w.Body)
			}
		}
	}
	b.Run("cpu/module", func(b *testing.B) { cpuPerCall(b, direct(path)) })
	b.Run("cpu/native", func(b *testing.B) { cpuPerCall(b, direct("/native"+path)) })
}

package realtime_test

import (
	"strings"
	"testing"

	"github.com/websonic/websonic/runtime/internal/coredb/coredbtest"
	"github.com/websonic/websonic/runtime/internal/realtime"
)

// TestCatchUpBytes: a catch-up is bounded in bytes too. Its frames are
// the connection's own (live frames are shared), so 1000 events of up to
// 64 KiB each would queue 64 MiB for one socket that need not read, for
// every subscribe frame of every connection: past MaxCatchUpBytes (4 MiB)
// the client is told to reload.
func TestCatchUpBytes(t *testing.T) {
	db, _ := coredbtest.Open(t)
	s := newHub(t, db.Pool, realtime.Limits{})
	if got := s.hub.Limits().MaxCatchUpBytes; got != 4<<20 {
		t.Fatalf("MaxCatchUpBytes = %d, want 4 MiB", got)
	}
	data := []byte(`"` + strings.Repeat("x", 60<<10) + `"`)
	var last int64
	for range 80 { // 4.8 MiB
		id, err := s.hub.Publish(t.Context(), "t.big", data)
		if err != nil {
			t.Fatal(err)
		}
		last = id
	}
	c := s.dial(t)
	c.ws.SetReadLimit(8 << 20)
	c.send(`{"type":"subscribe","topic":"t.big","last_id":0}`)
	c.expect(realtime.TypeSubscribed, "t.big")
	f, err := c.next()
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != realtime.TypeReload || f.ID < last {
		t.Fatalf("got %s %d, want a reload at %d or later", f.Type, f.ID, last)
	}
}

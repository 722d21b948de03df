package bench

import (
	"context"
	"encoding/binary"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/server"
)

// startTimes is one start of the runtime.
type startTimes struct{ open, first time.Duration }

// start opens a runtime with hello on db, serves it on loopback and GETs
// /guestbook once; it returns how long Open and that first request took,
// and a function that shuts everything down.
func start(b *testing.B, db *pgtest.DB, dataDir string) (startTimes, func()) {
	b.Helper()
	var t startTimes
	t0 := time.Now()
	srv, err := server.Open(context.Background(), server.Config{
		DataDir:             dataDir,
		DatabaseURL:         db.URL,
		ModulesDir:          modulesDir(b, "hello"),
		ApproveLocalModules: true,
		RolePrefix:          db.Prefix(),
		Logger:              logger(),
	})
	if err != nil {
		b.Fatal(err)
	}
	t.open = time.Since(t0)
	hs := httptest.NewServer(srv.Handler())
	stop := func() {
		hs.Close()
		srv.Close(context.Background())
	}
	resp, err := http.Get(hs.URL + "/guestbook")
	if err != nil {
		stop()
		b.Fatal(err)
	}
	resp.Body.Close()
	t.first = time.Since(t0) - t.open
	if resp.StatusCode != http.StatusOK {
		stop()
		b.Fatalf("first GET /guestbook: %s", resp.Status)
	}
	return t, stop
}

// BenchmarkStartup times server.Open with hello plus the first GET
// /guestbook served (over loopback, through the module and its database),
// against a PostgreSQL that is already running and already migrated: a
// restart. cold starts with an empty compilation cache (a new install or
// runtime upgrade), warm with the cache the previous start left. The
// default pool (1 warm instance) is used. Shutdown is not timed.
func BenchmarkStartup(b *testing.B) {
	db := pgtest.NewDB(b)
	dataDir := b.TempDir()
	cache := filepath.Join(dataDir, "cache")
	_, stop := start(b, db, dataDir) // migrate, provision hello, fill the cache
	stop()
	for _, cold := range []bool{true, false} {
		name := "warm"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			var sum startTimes
			b.ResetTimer()
			for range b.N {
				if cold {
					b.StopTimer()
					if err := os.RemoveAll(cache); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				t, stop := start(b, db, dataDir)
				b.StopTimer()
				stop()
				b.StartTimer()
				sum.open += t.open
				sum.first += t.first
			}
			b.StopTimer()
			n := float64(b.N)
			b.ReportMetric(float64((sum.open+sum.first).Milliseconds())/n, "ms/start")
			b.ReportMetric(float64(sum.open.Milliseconds())/n, "open-ms")
			b.ReportMetric(float64(sum.first.Milliseconds())/n, "first-req-ms")
		})
	}
}

// withCustomSection returns wasm with a custom section appended, so that
// copies of one module have different bytes and so different compiled code,
// as different modules would.
func withCustomSection(wasm []byte, name, payload string) []byte {
	body := binary.AppendUvarint(nil, uint64(len(name)))
	body = append(body, name...)
	body = append(body, payload...)
	out := append([]byte(nil), wasm...)
	out = append(out, 0) // custom section id
	out = binary.AppendUvarint(out, uint64(len(body)))
	return append(out, body...)
}

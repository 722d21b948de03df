package server

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// installedEnv is an update env serving the versioned module's 1.0.0,
// installed from the registry.
func installedEnv(t *testing.T) *updateEnv {
	t.Helper()
	e := newUpdateEnv(t)
	e.publishVersion("1.0.0")
	if _, err := e.updater().Install(context.Background(), "versioned", "", tufrepo.ChannelStable, updater.PolicyAuto); err != nil {
		t.Fatal(err)
	}
	return e
}

// restart stops the runtime and starts it again under limits.
func (e *updateEnv) restart(limits updater.Limits) {
	e.t.Helper()
	e.site.srv.Close(context.Background())
	e.limits = limits
	e.start()
}

// checkServes runs an update check, which must succeed, and wants version
// v serving.
func (e *updateEnv) checkServes(t *testing.T, v string) {
	t.Helper()
	if err := e.updater().Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, v)
}

// drip is an attacker's proxy answer that starts and never finishes: it
// sends the headers and the first byte, then one more byte per tick, and
// holds the last one back until the client leaves.
type drip struct {
	held chan struct{} // closed once the first byte is out
	gone chan struct{} // closed once the client has left
}

// dripOnce arms the proxy to drip the first GET of path (body gives the
// genuine answer); later requests pass. noHeaders holds even the headers.
func (e *updateEnv) dripOnce(path string, body func() []byte, noHeaders bool) *drip {
	d := &drip{held: make(chan struct{}), gone: make(chan struct{})}
	var once atomic.Bool
	f := func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
		if r.Method != http.MethodGet || r.URL.Path != path || !once.CompareAndSwap(false, true) {
			return false
		}
		defer close(d.gone)
		if noHeaders {
			close(d.held)
			<-r.Context().Done()
			return true
		}
		b := body()
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if strings.Contains(path, "/manifests/") {
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		}
		w.Write(b[:1])
		w.(http.Flusher).Flush()
		close(d.held)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 1; ; {
			select {
			case <-r.Context().Done():
				return true
			case <-tick.C:
			}
			if i < len(b)-1 {
				if _, err := w.Write(b[i : i+1]); err != nil {
					return true
				}
				w.(http.Flusher).Flush()
				i++
			}
		}
	}
	e.tamper.Store(&f)
	return d
}

// request sends an owner's request the way the CLI does and wants it done.
func (e *updateEnv) request(t *testing.T, r ModuleRequest) string {
	t.Helper()
	res, err := Request(context.Background(), Config{DataDir: e.dataDir, DatabaseURL: e.siteDB.URL}, r, time.Minute)
	if err != nil {
		t.Fatalf("%s request: %v", r.Action, err)
	}
	return res
}

// TestStalledTransferDoesNotHoldRequests: while a background check's
// transfer from the registry is held open by a dripping attacker, the
// owner's rollback and install requests complete; the stalled transfer is
// still open when they do.
func TestStalledTransferDoesNotHoldRequests(t *testing.T) {
	for _, tt := range []struct {
		name string
		path func(e *updateEnv) (string, func() []byte)
	}{
		{"blob", func(e *updateEnv) (string, func() []byte) {
			_, _, wasm := e.artifact("1.2.0")
			return "/v2/modules/versioned/blobs/" + wasm, func() []byte { return e.blob(wasm) }
		}},
		{"metadata", func(e *updateEnv) (string, func() []byte) {
			return "/v1/tuf/timestamp.json", func() []byte { return e.metaFiles()["timestamp.json"] }
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := installedEnv(t)
			ctx := context.Background()
			// Limits far above the test's length: the drip is never
			// abandoned while the requests run.
			e.restart(updater.Limits{StallWindow: time.Hour})
			e.publishVersion("1.1.0", withDistinctWasm("1.1.0"))
			e.checkServes(t, "1.1.0")
			e.publishVersion("1.2.0", withDistinctWasm("1.2.0"))
			path, body := tt.path(e)
			d := e.dripOnce(path, body, false)
			defer e.tamper.Store(nil)
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			go e.updater().Run(runCtx)
			e.updater().Kick()
			<-d.held
			// The queue's listener connects on its own goroutine: a request
			// sent before it listens finds no runtime.
			waitFor(t, func() bool {
				n, err := requestq.Listeners(ctx, e.site.srv.db.Pool)
				return err == nil && n > 0
			})

			if res := e.request(t, ModuleRequest{Action: "rollback", Module: "versioned"}); !strings.Contains(res, "1.0.0") {
				t.Fatalf("rollback answered %q", res)
			}
			select {
			case <-d.gone:
				t.Fatal("the stalled transfer had ended when the rollback completed: the rollback waited for it")
			default:
			}
			e.site.wantServing(t, "1.0.0")

			e.request(t, ModuleRequest{Action: "install", Module: "versioned", Version: "1.2.0"})
			if tt.name == "blob" {
				select {
				case <-d.gone:
					t.Fatal("the stalled transfer had ended when the install completed: the install waited for it")
				default:
				}
			}
			e.site.wantServing(t, "1.2.0")
			cancel()
			<-d.gone
		})
	}
}

// TestDrippingRegistryIsAbandoned: a registry answer that drips (or never
// comes) is abandoned by the runtime's transfer limits, on TUF metadata, the
// TUF target, the OCI manifest and the blobs alike, and the owner sees why.
func TestDrippingRegistryIsAbandoned(t *testing.T) {
	e := installedEnv(t)
	ctx := context.Background()
	e.restart(updater.Limits{HeaderTimeout: 5 * time.Second, MinRate: 64 << 10, StallWindow: time.Second})
	// Small answers meet their deadline (the window plus their length at
	// the minimum rate) about when the window ends, so either bound may
	// be the one reported; the wasm's deadline is far off, so the rate
	// must be what abandons it.
	cases := []struct {
		name      string
		path      func(v string) (string, func() []byte)
		noHeaders bool
		outcome   string
		want      string
	}{
		{"timestamp drips", func(string) (string, func() []byte) {
			return "/v1/tuf/timestamp.json", func() []byte { return e.metaFiles()["timestamp.json"] }
		}, false, "alert", "too slow"},
		{"snapshot never answers", func(string) (string, func() []byte) {
			return "/v1/tuf/snapshot.json", nil
		}, true, "alert", "too slow: no answer within"},
		{"TUF target drips", func(v string) (string, func() []byte) {
			_, body, _ := e.artifact(v)
			return "/v1/tuf/targets/modules/versioned/" + v, func() []byte { return body }
		}, false, "failed", "too slow"},
		{"OCI manifest drips", func(v string) (string, func() []byte) {
			d, body, _ := e.artifact(v)
			return "/v2/modules/versioned/manifests/" + d, func() []byte { return body }
		}, false, "failed", "too slow"},
		{"wasm blob drips", func(v string) (string, func() []byte) {
			_, _, wasm := e.artifact(v)
			return "/v2/modules/versioned/blobs/" + wasm, func() []byte { return e.blob(wasm) }
		}, false, "failed", "too slow: under 64 KiB/s"},
	}
	for i, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			v := fmt.Sprintf("1.1.%d", i)
			e.publishVersion(v, withDistinctWasm(v))
			path, body := tt.path(v)
			d := e.dripOnce(path, body, tt.noHeaders)
			defer e.tamper.Store(nil)
			err := e.updater().Check(ctx)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check = %v, want the transfer abandoned: %q", err, tt.want)
			}
			<-d.gone
			if ev := e.lastEvent(); ev.Outcome != tt.outcome || !strings.Contains(ev.Reason, tt.want) {
				t.Fatalf("last event %+v, want %s saying %q", ev, tt.outcome, tt.want)
			}
			e.site.wantServing(t, "1.0.0")
		})
	}
	e.checkServes(t, fmt.Sprintf("1.1.%d", len(cases)-1))
}

package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/websonic/websonic/runtime/internal/updater"
)

// storeDir is the runtime's package store.
func (e *updateEnv) storeDir() string { return filepath.Join(e.dataDir, "updates", "oci") }

// storeFiles lists every file in the package store with its size.
func (e *updateEnv) storeFiles(t *testing.T) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.WalkDir(e.storeDir(), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(e.storeDir(), p)
		out[rel] = fi.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// storeBlobs lists the digests of the blobs in the package store.
func (e *updateEnv) storeBlobs(t *testing.T) []string {
	t.Helper()
	var out []string
	for p := range e.storeFiles(t) {
		if hexDigest, ok := strings.CutPrefix(p, filepath.Join("blobs", "sha256")+string(filepath.Separator)); ok {
			out = append(out, "sha256:"+hexDigest)
		}
	}
	slices.Sort(out)
	return out
}

// packageBlobs lists the digests of a published version's manifest and of
// every blob it names.
func (e *updateEnv) packageBlobs(version string) []string {
	e.t.Helper()
	manifestDigest, body, _ := e.artifact(version)
	var im struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(body, &im); err != nil {
		e.t.Fatal(err)
	}
	out := []string{manifestDigest, im.Config.Digest}
	for _, l := range im.Layers {
		out = append(out, l.Digest)
	}
	return out
}

// wantStore wants the package store to hold what it held before.
func (e *updateEnv) wantStore(t *testing.T, before map[string]int64) {
	t.Helper()
	if after := e.storeFiles(t); !maps.Equal(before, after) {
		t.Fatalf("the package store changed:\nbefore %v\nafter  %v", before, after)
	}
}

// TestRefusedDownloadsLeaveNothing: every forged watch notice makes the
// runtime check (Check is what a notice runs); the attacker then refuses the
// download in a new way each round. The package store ends each round as it
// started: no partial file, no orphaned blob.
func TestRefusedDownloadsLeaveNothing(t *testing.T) {
	e := installedEnv(t)
	ctx := context.Background()
	before := e.storeFiles(t)
	e.publishVersion("1.1.0", withDistinctWasm("1.1.0"), withMigrations(migNotes))
	_, _, wasmDigest := e.artifact("1.1.0")
	wasm := e.blob(wasmDigest)
	attacks := []struct {
		name string
		with func(w http.ResponseWriter)
	}{
		{"tampered wasm", func(w http.ResponseWriter) { w.Write(flip(wasm)) }},
		{"connection cut mid-blob", func(w http.ResponseWriter) {
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", len(wasm))
			buf.Write(wasm[:len(wasm)/2])
			buf.Flush()
			conn.Close()
		}},
	}
	const rounds = 5
	for i := range rounds {
		for _, a := range attacks {
			t.Run(fmt.Sprintf("%s/%d", a.name, i), func(t *testing.T) {
				var hit atomic.Bool
				f := func(w http.ResponseWriter, r *http.Request, _ http.Handler) bool {
					if r.URL.Path != "/v2/modules/versioned/blobs/"+wasmDigest {
						return false
					}
					hit.Store(true)
					a.with(w)
					return true
				}
				e.tamper.Store(&f)
				defer e.tamper.Store(nil)
				if err := e.updater().Check(ctx); err == nil {
					t.Fatal("an update whose download was refused succeeded")
				}
				if !hit.Load() {
					t.Fatal("the runtime never downloaded the wasm")
				}
				e.wantStore(t, before)
				e.site.wantServing(t, "1.0.0")
			})
		}
	}
	e.checkServes(t, "1.1.0")
}

// TestStoreKeepsWhatTheRuntimeNeeds: after four updates the store holds the
// serving version and the previous one (for a rollback), nothing older,
// and a rollback still works with the registry gone.
func TestStoreKeepsWhatTheRuntimeNeeds(t *testing.T) {
	e := installedEnv(t)
	ctx := context.Background()
	for _, v := range []string{"1.1.0", "1.2.0", "1.3.0"} {
		e.publishVersion(v, withDistinctWasm(v))
		e.checkServes(t, v)
	}
	want := append(e.packageBlobs("1.3.0"), e.packageBlobs("1.2.0")...)
	slices.Sort(want)
	want = slices.Compact(want)
	if got := e.storeBlobs(t); !slices.Equal(got, want) {
		t.Fatalf("the store holds %v, want the blobs of 1.3.0 and 1.2.0: %v", got, want)
	}
	e.regSrv.Close()
	if _, err := e.updater().Rollback(ctx, "versioned"); err != nil {
		t.Fatal(err)
	}
	e.site.wantServing(t, "1.2.0")
}

// TestStoreCap: an update that would take the store over its cap is
// refused, the owner is alerted, the store is unchanged and the installed
// version keeps serving; with room, the update installs.
func TestStoreCap(t *testing.T) {
	e := installedEnv(t)
	ctx := context.Background()
	before := e.storeFiles(t)
	var used int64
	for _, n := range before {
		used += n
	}
	e.restart(updater.Limits{StoreMax: used + 1024}) // less than a new wasm
	e.publishVersion("1.1.0", withDistinctWasm("1.1.0"))
	err := e.updater().Check(ctx)
	if err == nil || !strings.Contains(err.Error(), "package store full") {
		t.Fatalf("Check = %v, want the package store full", err)
	}
	if ev := e.lastEvent(); ev.Outcome != "alert" || !strings.Contains(ev.Reason, "package store full") {
		t.Fatalf("last event %+v, want an alert saying the package store is full", ev)
	}
	e.wantStore(t, before)
	e.site.wantServing(t, "1.0.0")

	e.restart(updater.Limits{})
	e.checkServes(t, "1.1.0")
}

// TestStoreCrashLeftoversRemovedAtStart: what a crash leaves in the store
// (a partial download, a blob no package references) is gone after the
// next start; the installed package stays.
func TestStoreCrashLeftoversRemovedAtStart(t *testing.T) {
	e := installedEnv(t)
	ctx := context.Background()
	installed := e.storeFiles(t)
	e.site.srv.Close(ctx)

	junk := bytes.Repeat([]byte("partial download "), 1<<16)
	sum := sha256.Sum256(junk)
	leftovers := []string{
		filepath.Join("ingest", hex.EncodeToString(sum[:])+"_123456"), // oras-go's temporary name
		filepath.Join("blobs", "sha256", hex.EncodeToString(sum[:])),  // complete, but in no package
	}
	for _, p := range leftovers {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(e.storeDir(), p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(e.storeDir(), p), junk, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	e.start()
	after := e.storeFiles(t)
	for _, p := range leftovers {
		if _, ok := after[p]; ok {
			t.Errorf("%s is still in the store after a start", p)
		}
	}
	for p := range installed {
		if _, ok := after[p]; !ok && strings.HasPrefix(p, "blobs") {
			t.Errorf("the installed package's %s is gone", p)
		}
	}
	e.site.wantServing(t, "1.0.0")
}

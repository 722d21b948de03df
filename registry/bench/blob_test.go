package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/websonic/websonic/registry/server"
)

const (
	mib = 1 << 20
	kib = 1 << 10
	// benchRepo is where the benchmarks push their blobs.
	benchRepo = "modules/bench"
)

// blob is a random blob pushed to the registry.
type blob struct {
	size    int64
	url     string // GET /v2/<repo>/blobs/<digest> on the registry
	bareURL string // the same path on the bare file server
	path    string // its file in the registry's blob store
}

// blobRegistry is a registry holding a pushed random blob of each size, a
// bare file server serving the same files, and a client process.
type blobRegistry struct {
	reg    *registry
	blobs  map[int64]blob
	client *clientProc
}

// bareBlobs is the second baseline of the blob benchmarks: net/http
// serving the registry's blob files as the registry's blob handler does
// (open per request, the same headers, http.ServeContent, so sendfile and
// Range handling are the same) without its router, authorization and
// metadata query. files maps URL paths to files.
func bareBlobs(files map[string]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		f, err := os.Open(path)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer f.Close()
		d := "sha256:" + filepath.Base(path)
		h := w.Header()
		h.Set("Docker-Distribution-API-Version", "registry/2.0")
		h.Set("Content-Type", "application/octet-stream")
		h.Set("Docker-Content-Digest", d)
		h.Set("ETag", `"`+d+`"`)
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
		http.ServeContent(w, r, "", time.Time{}, f)
	})
}

func openBlobRegistry(b *testing.B, sizes ...int64) *blobRegistry {
	b.Helper()
	ctx := context.Background()
	reg := openRegistry(b)
	token := reg.token(b, server.TokenSpec{Publisher: "bench", Modules: []string{"bench"}})
	u, err := url.Parse(reg.url)
	if err != nil {
		b.Fatal(err)
	}
	repo, err := remote.NewRepository(u.Host + "/" + benchRepo)
	if err != nil {
		b.Fatal(err)
	}
	repo.PlainHTTP = true
	repo.Client = &auth.Client{Credential: auth.StaticCredential(u.Host, auth.Credential{AccessToken: token})}
	br := &blobRegistry{reg: reg, blobs: map[int64]blob{}}
	files := map[string]string{}
	bareURL := "http://" + serveBare(b, bareBlobs(files))
	for _, size := range sizes {
		data := make([]byte, size)
		rand.Read(data)
		desc := content.NewDescriptorFromBytes("application/octet-stream", data)
		if err := repo.Blobs().Push(ctx, desc, bytes.NewReader(data)); err != nil {
			b.Fatalf("pushing %d bytes: %v", size, err)
		}
		p := "/v2/" + benchRepo + "/blobs/" + desc.Digest.String()
		bl := blob{size: size, url: reg.url + p, bareURL: bareURL + p, path: blobPath(reg.dataDir, desc.Digest)}
		if fi, err := os.Stat(bl.path); err != nil || fi.Size() != size {
			b.Fatalf("the pushed blob is not where the benchmark expects it (has the blob store's layout changed?): %v", err)
		}
		files[p] = bl.path // before the bare server's first request
		checkDownload(b, bl.url, desc.Digest)
		checkDownload(b, bl.bareURL, desc.Digest)
		br.blobs[size] = bl
	}
	br.client = startClient(b)
	return br
}

// blobPath is where the registry keeps blob d: server.Open puts a
// distribution.FS at DataDir/blobs, which stores blobs/<alg>/<2 hex>/<hex>
// under its root.
func blobPath(dataDir string, d digest.Digest) string {
	enc := d.Encoded()
	return filepath.Join(dataDir, "blobs", "blobs", string(d.Algorithm()), enc[:2], enc)
}

// checkDownload makes sure the registry serves the pushed bytes.
func checkDownload(b *testing.B, url string, want digest.Digest) {
	b.Helper()
	resp, err := http.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	v := want.Verifier()
	if _, err := io.Copy(v, resp.Body); err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || !v.Verified() {
		b.Fatalf("GET %s: %s, digest verified %v", url, resp.Status, v.Verified())
	}
}

func sizeName(n int64) string {
	if n%mib == 0 {
		return fmt.Sprintf("%dMiB", n/mib)
	}
	return fmt.Sprintf("%dKiB", n/kib)
}

// compareFetch downloads bl from the registry, from the bare file server
// and reads it from disk, in interleaved rounds, from workers goroutines,
// whole (chunk 0) or in Range requests of chunk bytes, and reports all
// three and the registry's ratios to the other two.
func (br *blobRegistry) compareFetch(b *testing.B, bl blob, workers int, chunk int64) {
	rounds := envInt(envRounds, 5)
	round := envDuration(envRound, time.Second)
	c := br.client
	httpCmd := command{Op: opFetch, URL: bl.url, Size: bl.size, Chunk: chunk, Workers: workers, Key: "http"}
	bareCmd := command{Op: opFetch, URL: bl.bareURL, Size: bl.size, Chunk: chunk, Workers: workers, Key: "bare"}
	diskCmd := command{Op: opFetch, File: bl.path, Size: bl.size, Chunk: chunk, Workers: workers, Key: "disk"}
	warm := min(round, 300*time.Millisecond)
	for _, cmd := range []command{diskCmd, bareCmd, httpCmd} {
		cmd.For, cmd.Key = warm, ""
		c.do(b, cmd) // opens the connections, warms the page cache
	}
	var httpS, bareS, diskS stats
	run := func(cmd command, s *stats) func() {
		cmd.For = round
		return func() {
			res, cpu := c.do(b, cmd)
			s.add(res, cpu)
		}
	}
	b.ResetTimer()
	for range b.N {
		interleave(rounds, run(diskCmd, &diskS), run(bareCmd, &bareS), run(httpCmd, &httpS))
	}
	b.StopTimer()
	httpS.lats, bareS.lats, diskS.lats = c.latencies(b, "http"), c.latencies(b, "bare"), c.latencies(b, "disk")

	b.ReportMetric(0, "ns/op")
	b.ReportMetric(httpS.mbPerSec(), "MB/s")
	b.ReportMetric(diskS.mbPerSec(), "disk-MB/s")
	b.ReportMetric(bareS.mbPerSec(), "bare-MB/s")
	b.ReportMetric(httpS.mbPerSec()/diskS.mbPerSec(), "http/disk")
	b.ReportMetric(httpS.mbPerSec()/bareS.mbPerSec(), "http/bare")
	b.ReportMetric(httpS.ms(50), "p50-ms")
	b.ReportMetric(httpS.ms(99), "p99-ms")
	b.ReportMetric(bareS.ms(50), "bare-p50-ms")
	b.ReportMetric(diskS.ms(50), "disk-p50-ms")
	if chunk > 0 {
		b.ReportMetric(httpS.perSec(), "req/s")
		b.ReportMetric(bareS.perSec(), "bare-req/s")
	}
	if httpS.serverCPU > 0 {
		perMB := func(d time.Duration, s *stats) float64 {
			return float64(d) / float64(time.Microsecond) / (float64(s.bytes) / 1e6)
		}
		b.ReportMetric(perMB(httpS.serverCPU, &httpS), "srv-cpu-us/MB")
		b.ReportMetric(perMB(bareS.serverCPU, &bareS), "bare-srv-cpu-us/MB")
		b.ReportMetric(perMB(httpS.clientCPU, &httpS), "client-cpu-us/MB")
	}
}

// BenchmarkBlobDownload downloads whole blobs — a typical module's 5 MiB
// and a large 64 MiB — with GET /v2/<repo>/blobs/<digest> over loopback,
// one at a time and 8 at once, against reading the same file of the
// registry's blob store from disk the same way, and against bareBlobs
// serving that file. See the package documentation for the figures.
func BenchmarkBlobDownload(b *testing.B) {
	sizes := []int64{5 * mib, 64 * mib}
	br := openBlobRegistry(b, sizes...)
	for _, size := range sizes {
		for _, workers := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/conc%d", sizeName(size), workers), func(b *testing.B) {
				br.compareFetch(b, br.blobs[size], workers, 0)
			})
		}
	}
}

// BenchmarkBlobRange reads random aligned ranges of a 64 MiB blob, 64 KiB
// and 1 MiB long, from 8 goroutines: Range requests over loopback, to the
// registry and to bareBlobs, against reads of the same file (opened per
// read, as both servers do per request).
func BenchmarkBlobRange(b *testing.B) {
	const size = 64 * mib
	br := openBlobRegistry(b, size)
	for _, chunk := range []int64{64 * kib, 1 * mib} {
		b.Run(sizeName(chunk)+"/conc8", func(b *testing.B) {
			br.compareFetch(b, br.blobs[size], 8, chunk)
		})
	}
}

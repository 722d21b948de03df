package bench

import (
	"crypto/rand"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestClient runs the client process's commands in process, briefly,
// against the baselines (no registry, no database): it is what keeps the
// load generator honest under plain `go test`.
func TestClient(t *testing.T) {
	const etag = `"e1"`
	checks := httptest.NewServer(bareHandler(etag, []byte(`{}`)))
	defer checks.Close()
	dir := t.TempDir()
	const size = 256 << 10
	data := make([]byte, size)
	rand.Read(data)
	path := filepath.Join(dir, "0123abcd")
	if err := os.WriteFile(path, data, 0o444); err != nil {
		t.Fatal(err)
	}
	blobs := httptest.NewServer(bareBlobs(map[string]string{"/blob": path}))
	defer blobs.Close()
	addr := strings.TrimPrefix(checks.URL, "http://")

	c := newClientState()
	defer c.close()
	const brief = 20 * time.Millisecond
	tests := []struct {
		name    string
		cmd     command
		wantErr string
		bytes   bool // the result counts body bytes
	}{
		{"dial", command{Op: opDial, Target: "t", Addr: addr, Path: "/ts", ETag: etag, Conns: 4}, "", false},
		{"checks", command{Op: opChecks, Target: "t", For: brief, Key: "t"}, "", false},
		{"dial with a stale etag", command{Op: opDial, Target: "u", Addr: addr, Path: "/ts", ETag: `"old"`, Conns: 2}, "want 304", false},
		{"checks without connections", command{Op: opChecks, Target: "u", For: brief}, "no connections", false},
		{"fetch over HTTP", command{Op: opFetch, URL: blobs.URL + "/blob", Size: size, Workers: 2, For: brief}, "", true},
		{"fetch ranges over HTTP", command{Op: opFetch, URL: blobs.URL + "/blob", Size: size, Chunk: 64 << 10, Workers: 2, For: brief}, "", true},
		{"fetch from disk", command{Op: opFetch, File: path, Size: size, Chunk: 64 << 10, Workers: 2, For: brief}, "", true},
		{"fetch the wrong size", command{Op: opFetch, File: path, Size: 2 * size, Workers: 1, For: brief}, "want", false},
		{"fetch a missing blob", command{Op: opFetch, URL: blobs.URL + "/none", Size: size, Workers: 1, For: brief}, "404", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := c.do(tt.cmd)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res.N == 0 || res.Elapsed <= 0 && tt.cmd.Op != opDial {
				t.Fatalf("result %+v", res)
			}
			if tt.bytes && res.Bytes == 0 {
				t.Fatalf("no bytes counted: %+v", res)
			}
		})
	}
	res, err := c.do(command{Op: opLatencies, Key: "t"})
	if err != nil || res.N == 0 || len(res.Lats) != res.N {
		t.Fatalf("latencies kept under t: %+v, %v", res, err)
	}
}

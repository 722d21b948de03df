package updater

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
)

// TestRuntimeTransferFailureIsNotARefusal: installRuntime refuses a
// version for good (refused_versions: never again automatically) when
// fetchRuntime's error matches ErrVerify. A download cut short, or bytes
// changed in transit by a mirror or a man in the middle, say nothing
// against the signed release: they must not match ErrVerify, or whoever
// can disturb one download freezes the site on its running (perhaps
// vulnerable) version — the freeze TUF exists to prevent. The registry
// here serves the right manifest and config, and the binary either cut
// short (the connection closes early) or with one byte changed.
func TestRuntimeTransferFailureIsNotARefusal(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	binary := bytes.Repeat([]byte("websonic 1.2.3 "), 4096)
	meta := ocipkg.RuntimeMeta{Name: tufrepo.RuntimeName, Version: "1.2.3", OS: "linux", Arch: "amd64"}
	desc, err := ocipkg.PackRuntime(ctx, binary, meta, store)
	if err != nil {
		t.Fatal(err)
	}
	binDigest := digest.FromBytes(binary)
	manifest, err := content.FetchAll(ctx, store, desc)
	if err != nil {
		t.Fatal(err)
	}
	var im ocispec.Manifest
	if err := json.Unmarshal(manifest, &im); err != nil {
		t.Fatal(err)
	}
	config, err := content.FetchAll(ctx, store, im.Config)
	if err != nil {
		t.Fatal(err)
	}
	blobs := map[digest.Digest][]byte{desc.Digest: manifest, im.Config.Digest: config, binDigest: binary}
	rel := &tufrepo.Release{Kind: tufrepo.KindRuntime, Module: tufrepo.RuntimeName, Version: "1.2.3", OS: "linux", Arch: "amd64",
		ManifestDigest: desc.Digest.String(), BinarySHA256: binDigest.Encoded(), BinarySize: int64(len(binary))}
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter, b []byte)
	}{
		{"cut short", func(w http.ResponseWriter, b []byte) {
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.WriteHeader(http.StatusOK)
			w.Write(b[:len(b)/2])
			conn, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				conn.Close()
			}
		}},
		{"changed in transit", func(w http.ResponseWriter, b []byte) {
			b = bytes.Clone(b)
			b[len(b)/2] ^= 1
			w.Header().Set("Content-Length", fmt.Sprint(len(b)))
			w.Write(b)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, ref, ok := strings.Cut(r.URL.Path, "/runtime/websonic/")
				if !ok {
					w.WriteHeader(http.StatusOK) // GET /v2/
					return
				}
				kind, dg, _ := strings.Cut(ref, "/")
				d := digest.Digest(dg)
				var mt string
				if kind == "manifests" {
					mt = desc.MediaType
				}
				b, ok := blobs[d]
				if !ok {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Docker-Content-Digest", d.String())
				if mt != "" {
					w.Header().Set("Content-Type", mt)
				}
				if d == binDigest && r.Method == http.MethodGet {
					tc.serve(w, b)
					return
				}
				w.Header().Set("Content-Length", fmt.Sprint(len(b)))
				if r.Method == http.MethodGet {
					w.Write(b)
				}
			}))
			defer srv.Close()
			repo, err := remote.NewRepository(strings.TrimPrefix(srv.URL, "http://") + "/runtime/websonic")
			if err != nil {
				t.Fatal(err)
			}
			repo.PlainHTTP = true
			_, _, err = ocipkg.FetchRuntimeFrom(ctx, repo, rel.ManifestDigest)
			if err == nil {
				t.Fatal("a damaged binary was fetched")
			}
			u := &Updater{cfg: Config{Registry: srv.URL}}
			if err := u.transferError(rel, err); errors.Is(err, ErrVerify) {
				t.Fatalf("a failed transfer would refuse the signed release for good: %v", err)
			}
		})
	}
}

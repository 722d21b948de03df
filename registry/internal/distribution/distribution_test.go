package distribution_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/registry/internal/distribution"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

type env struct {
	srv       *httptest.Server
	host      string
	pool      *pgxpool.Pool
	h         *distribution.Handler
	blobs     *distribution.FS
	blobDir   string
	uploadDir string
}

func newEnv(t *testing.T) *env { return newEnvWith(t, distribution.Config{}) }

// newEnvWith is newEnv with cfg's fields (but Pool, Blobs and UploadDir).
func newEnvWith(t *testing.T, cfg distribution.Config) *env {
	t.Helper()
	pool := pgtest.NewDB(t).Pool(t, distribution.Migrate)
	if err := distribution.Migrate(context.Background(), pool); err != nil { // idempotent
		t.Fatal(err)
	}
	cfg.Pool = pool
	return newEnvOn(t, cfg)
}

// newEnvOn serves a Handler of cfg, whose Pool is migrated; the blob
// store, the upload folder and the logger are the test's.
func newEnvOn(t *testing.T, cfg distribution.Config) *env {
	t.Helper()
	blobDir := t.TempDir()
	blobs, err := distribution.NewFS(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	uploadDir := t.TempDir()
	cfg.Blobs, cfg.UploadDir = blobs, uploadDir
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{Output: io.Discard})
	}
	h, err := distribution.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{srv: srv, host: strings.TrimPrefix(srv.URL, "http://"), pool: cfg.Pool, h: h, blobs: blobs, blobDir: blobDir, uploadDir: uploadDir}
}

func (e *env) repo(t *testing.T, name string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(e.host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}

// do sends a raw request and returns the response with its body read.
func (e *env) do(t *testing.T, method, path string, hdr map[string]string, body []byte) (*http.Response, []byte) {
	t.Helper()
	url := path
	if !strings.HasPrefix(path, "http") {
		url = e.srv.URL + path
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func errCode(b []byte) string {
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	if json.Unmarshal(b, &e) != nil || len(e.Errors) == 0 {
		return ""
	}
	return e.Errors[0].Code
}

// pushBlob uploads b monolithically with raw HTTP.
func (e *env) pushBlob(t *testing.T, name string, b []byte) digest.Digest {
	t.Helper()
	d := digest.FromBytes(b)
	resp, body := e.do(t, http.MethodPost, "/v2/"+name+"/blobs/uploads/?digest="+d.String(), nil, b)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push blob: %d %s", resp.StatusCode, body)
	}
	return d
}

const testModule = `{
  "manifest_version": 1,
  "name": "hello",
  "version": "1.2.3",
  "abi_version": 1,
  "capabilities": {},
  "migrations": ["migrations/001_a.sql"]
}`

func writePackage(t *testing.T) (string, map[string][]byte) {
	t.Helper()
	files := map[string][]byte{
		"module.json":          []byte(testModule),
		"module.wasm":          []byte("\x00asm\x01\x00\x00\x00"),
		"migrations/001_a.sql": []byte("CREATE TABLE a (id int);\n"),
	}
	dir := t.TempDir()
	for name, b := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func TestBase(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.do(t, http.MethodGet, "/v2/", nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("GET /v2/: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestORASRoundTrip(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	pkg, files := writePackage(t)
	src := memory.New()
	desc, err := ocipkg.PackTo(ctx, pkg, src)
	if err != nil {
		t.Fatal(err)
	}
	repo := e.repo(t, "websonic/modules/hello")
	if _, err := oras.Copy(ctx, src, "1.2.3", repo, "1.2.3", oras.DefaultCopyOptions); err != nil {
		t.Fatalf("push: %v", err)
	}
	dst := memory.New()
	got, err := oras.Copy(ctx, repo, "1.2.3", dst, "1.2.3", oras.DefaultCopyOptions)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	if got.Digest != desc.Digest {
		t.Fatalf("pulled %s, pushed %s", got.Digest, desc.Digest)
	}
	// Byte-identical: the manifest and every blob.
	want, err := content.FetchAll(ctx, src, desc)
	if err != nil {
		t.Fatal(err)
	}
	have, err := content.FetchAll(ctx, dst, got)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want, have) {
		t.Fatal("manifest bytes differ")
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(want, &m); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]ocispec.Descriptor{m.Config}, m.Layers...) {
		a, err := content.FetchAll(ctx, src, d)
		if err != nil {
			t.Fatal(err)
		}
		b, err := content.FetchAll(ctx, dst, d)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Fatalf("blob %s differs", d.Digest)
		}
	}
	// And the consuming side reads the module back from the registry.
	fetched, err := ocipkg.FetchFrom(ctx, repo, "1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	if !maps.EqualFunc(fetched, files, bytes.Equal) {
		t.Fatalf("fetched files differ: %v", slices.Collect(maps.Keys(fetched)))
	}
	// By digest too, with the immutable cache header.
	resp, _ := e.do(t, http.MethodHead, "/v2/websonic/modules/hello/manifests/"+desc.Digest.String(), nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != desc.Digest.String() ||
		resp.Header.Get("Content-Type") != ocispec.MediaTypeImageManifest {
		t.Fatalf("HEAD manifest: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestBlobGet(t *testing.T) {
	e := newEnv(t)
	data := []byte("0123456789abcdef")
	d := e.pushBlob(t, "a/b", data)
	path := "/v2/a/b/blobs/" + d.String()
	tests := []struct {
		name   string
		method string
		hdr    map[string]string
		status int
		body   string
	}{
		{"get", http.MethodGet, nil, http.StatusOK, string(data)},
		{"head", http.MethodHead, nil, http.StatusOK, ""},
		{"range", http.MethodGet, map[string]string{"Range": "bytes=2-5"}, http.StatusPartialContent, "2345"},
		{"suffix range", http.MethodGet, map[string]string{"Range": "bytes=-3"}, http.StatusPartialContent, "def"},
		{"if-none-match", http.MethodGet, map[string]string{"If-None-Match": `"` + d.String() + `"`}, http.StatusNotModified, ""},
		{"unsatisfiable range", http.MethodGet, map[string]string{"Range": "bytes=100-200"}, http.StatusRequestedRangeNotSatisfiable, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, path, tt.hdr, nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status >= 300 && tt.status != http.StatusNotModified {
				return
			}
			if tt.body != "" && string(body) != tt.body {
				t.Fatalf("body %q, want %q", body, tt.body)
			}
			if got := resp.Header.Get("ETag"); got != `"`+d.String()+`"` {
				t.Errorf("ETag %q", got)
			}
			if tt.status == http.StatusNotModified {
				return
			}
			if resp.Header.Get("Docker-Content-Digest") != d.String() {
				t.Errorf("Docker-Content-Digest %q", resp.Header.Get("Docker-Content-Digest"))
			}
			if !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
				t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
			}
			if tt.method == http.MethodHead && resp.ContentLength != int64(len(data)) {
				t.Errorf("HEAD Content-Length %d", resp.ContentLength)
			}
		})
	}
	// A blob is served only by the repositories it was pushed to.
	resp, body := e.do(t, http.MethodGet, "/v2/other/blobs/"+d.String(), nil, nil)
	if resp.StatusCode != http.StatusNotFound || errCode(body) != "BLOB_UNKNOWN" {
		t.Fatalf("other repository: %d %s", resp.StatusCode, body)
	}
}

func TestChunkedUpload(t *testing.T) {
	e := newEnv(t)
	data := []byte("hello, chunked world")
	d := digest.FromBytes(data)
	resp, body := e.do(t, http.MethodPost, "/v2/chunky/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("start: %d %s", resp.StatusCode, body)
	}
	loc := resp.Header.Get("Location")
	steps := []struct {
		name      string
		method    string
		rng       string
		body      []byte
		status    int
		code      string
		wantRange string
	}{
		{"first chunk", http.MethodPatch, "0-4", data[:5], http.StatusAccepted, "", "0-4"},
		{"status", http.MethodGet, "", nil, http.StatusNoContent, "", "0-4"},
		{"gap", http.MethodPatch, "10-14", data[10:15], http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID", ""},
		{"overlap", http.MethodPatch, "3-7", data[3:8], http.StatusRequestedRangeNotSatisfiable, "RANGE_INVALID", ""},
		{"second chunk", http.MethodPatch, "5-9", data[5:10], http.StatusAccepted, "", "0-9"},
		{"still at 10", http.MethodGet, "", nil, http.StatusNoContent, "", "0-9"},
	}
	for _, s := range steps {
		hdr := map[string]string{"Content-Type": "application/octet-stream"}
		if s.rng != "" {
			hdr["Content-Range"] = s.rng
		}
		resp, body := e.do(t, s.method, loc, hdr, s.body)
		if resp.StatusCode != s.status || errCode(body) != s.code {
			t.Fatalf("%s: %d %s", s.name, resp.StatusCode, body)
		}
		if s.wantRange != "" && resp.Header.Get("Range") != s.wantRange {
			t.Fatalf("%s: Range %q, want %q", s.name, resp.Header.Get("Range"), s.wantRange)
		}
		if s.status < 300 {
			loc = resp.Header.Get("Location")
		}
	}
	// The last chunk goes with the PUT.
	resp, body = e.do(t, http.MethodPut, loc+"?digest="+d.String(), nil, data[10:])
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("finish: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(t, http.MethodGet, "/v2/chunky/blobs/"+d.String(), nil, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, data) {
		t.Fatalf("get: %d %q", resp.StatusCode, body)
	}
	resp, _ = e.do(t, http.MethodGet, loc, nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("finished session still there: %d", resp.StatusCode)
	}
}

func TestORASBlobPush(t *testing.T) {
	// oras-go pushes a blob with POST then PUT (a session).
	ctx := context.Background()
	e := newEnv(t)
	repo := e.repo(t, "blobs/via/oras")
	data := []byte("pushed by oras")
	desc := content.NewDescriptorFromBytes("application/octet-stream", data)
	if err := repo.Blobs().Push(ctx, desc, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	ok, err := repo.Blobs().Exists(ctx, desc)
	if err != nil || !ok {
		t.Fatalf("exists: %v %v", ok, err)
	}
	got, err := content.FetchAll(ctx, repo.Blobs(), desc)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("fetch: %q %v", got, err)
	}
}

func TestTagsPagination(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	repo := e.repo(t, "tagged")
	desc, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test", oras.PackManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a", "b", "c", "d", "e"}
	for _, tag := range want {
		if err := repo.Tag(ctx, desc, tag); err != nil {
			t.Fatal(err)
		}
	}
	var pages [][]string
	path := "/v2/tagged/tags/list?n=2"
	for path != "" {
		resp, body := e.do(t, http.MethodGet, path, nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
		}
		var l struct {
			Name string
			Tags []string
		}
		if err := json.Unmarshal(body, &l); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, l.Tags)
		path = ""
		if link := resp.Header.Get("Link"); link != "" {
			path = link[strings.Index(link, "<")+1 : strings.Index(link, ">")]
		}
	}
	if fmt.Sprint(pages) != "[[a b] [c d] [e]]" {
		t.Fatalf("pages %v", pages)
	}
	// oras follows the Link header.
	var all []string
	if err := repo.Tags(ctx, "", func(tags []string) error { all = append(all, tags...); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all, want) {
		t.Fatalf("oras tags %v", all)
	}
	resp, body := e.do(t, http.MethodGet, "/v2/tagged/tags/list?n=2&last=d", nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `["e"]`) || resp.Header.Get("Link") != "" {
		t.Fatalf("after d: %d %s %q", resp.StatusCode, body, resp.Header.Get("Link"))
	}
}

func TestReferrers(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	repo := e.repo(t, "refs/app")
	subject, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test.app", oras.PackManifestOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, subject, "v1"); err != nil {
		t.Fatal(err)
	}
	sig, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test.signature",
		oras.PackManifestOptions{Subject: &subject, ManifestAnnotations: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	sbom, err := oras.PackManifest(ctx, repo, oras.PackManifestVersion1_1, "application/vnd.test.sbom",
		oras.PackManifestOptions{Subject: &subject})
	if err != nil {
		t.Fatal(err)
	}
	list := func(artifactType string) []ocispec.Descriptor {
		var got []ocispec.Descriptor
		if err := repo.Referrers(ctx, subject, artifactType, func(r []ocispec.Descriptor) error {
			got = append(got, r...)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	all := list("")
	if len(all) != 2 {
		t.Fatalf("referrers %v", all)
	}
	digests := []digest.Digest{all[0].Digest, all[1].Digest}
	if !slices.Contains(digests, sig.Digest) || !slices.Contains(digests, sbom.Digest) {
		t.Fatalf("referrers %v, want %s and %s", digests, sig.Digest, sbom.Digest)
	}
	only := list("application/vnd.test.signature")
	if len(only) != 1 || only[0].Digest != sig.Digest || only[0].ArtifactType != "application/vnd.test.signature" ||
		only[0].Annotations["k"] != "v" || only[0].Size != sig.Size {
		t.Fatalf("filtered referrers %+v", only)
	}
	resp, body := e.do(t, http.MethodGet, "/v2/refs/app/referrers/"+subject.Digest.String()+"?artifactType=application/vnd.test.sbom", nil, nil)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("OCI-Filters-Applied") != "artifactType" ||
		resp.Header.Get("Content-Type") != ocispec.MediaTypeImageIndex {
		t.Fatalf("raw referrers: %d %v %s", resp.StatusCode, resp.Header, body)
	}
	// No referrers: an empty index, not a 404.
	resp, body = e.do(t, http.MethodGet, "/v2/refs/app/referrers/"+sig.Digest.String(), nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"manifests":[]`) {
		t.Fatalf("empty referrers: %d %s", resp.StatusCode, body)
	}
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	good := e.pushBlob(t, "errs", []byte("present"))
	other := digest.FromString("something else")
	missingManifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":%q,"size":2},"layers":[]}`,
		ocispec.MediaTypeImageManifest, digest.FromString("{}"))
	goodManifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"application/octet-stream","digest":%q,"size":7},"layers":[]}`,
		ocispec.MediaTypeImageManifest, good)
	wrongSize := strings.Replace(goodManifest, `"size":7`, `"size":8`, 1)
	manifestHdr := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}
	tests := []struct {
		name   string
		method string
		path   string
		hdr    map[string]string
		body   string
		status int
		code   string
	}{
		{"wrong digest monolithic", http.MethodPost, "/v2/errs/blobs/uploads/?digest=" + other.String(), nil, "not it", 400, "DIGEST_INVALID"},
		{"malformed digest", http.MethodGet, "/v2/errs/blobs/sha256:xyz", nil, "", 404, "BLOB_UNKNOWN"},
		{"malformed digest pushed", http.MethodPost, "/v2/errs/blobs/uploads/?digest=sha256:xyz", nil, "x", 400, "DIGEST_INVALID"},
		{"sha512 unsupported", http.MethodPost, "/v2/errs/blobs/uploads/?digest=" + digest.SHA512.FromString("x").String(), nil, "x", 400, "DIGEST_INVALID"},
		{"unknown blob", http.MethodGet, "/v2/errs/blobs/" + other.String(), nil, "", 404, "BLOB_UNKNOWN"},
		{"unknown blob head", http.MethodHead, "/v2/errs/blobs/" + other.String(), nil, "", 404, ""},
		{"bad name", http.MethodGet, "/v2/Bad_Name/tags/list", nil, "", 400, "NAME_INVALID"},
		{"bad name component", http.MethodGet, "/v2/a//b/manifests/latest", nil, "", 400, "NAME_INVALID"},
		{"unknown repository", http.MethodGet, "/v2/nobody/tags/list", nil, "", 404, "NAME_UNKNOWN"},
		{"bad pagination", http.MethodGet, "/v2/errs/tags/list?n=-1", nil, "", 400, "PAGINATION_NUMBER_INVALID"},
		{"unknown manifest", http.MethodGet, "/v2/errs/manifests/latest", nil, "", 404, "MANIFEST_UNKNOWN"},
		{"bad tag", http.MethodPut, "/v2/errs/manifests/-bad", manifestHdr, goodManifest, 400, "TAG_INVALID"},
		{"missing blob", http.MethodPut, "/v2/errs/manifests/latest", manifestHdr, missingManifest, 400, "MANIFEST_BLOB_UNKNOWN"},
		{"wrong blob size", http.MethodPut, "/v2/errs/manifests/latest", manifestHdr, wrongSize, 400, "MANIFEST_INVALID"},
		{"manifest digest mismatch", http.MethodPut, "/v2/errs/manifests/" + other.String(), manifestHdr, goodManifest, 400, "DIGEST_INVALID"},
		{"content type mismatch", http.MethodPut, "/v2/errs/manifests/latest", map[string]string{"Content-Type": ocispec.MediaTypeImageIndex}, goodManifest, 400, "MANIFEST_INVALID"},
		{"not json", http.MethodPut, "/v2/errs/manifests/latest", manifestHdr, "{", 400, "MANIFEST_INVALID"},
		{"manifest too large", http.MethodPut, "/v2/errs/manifests/latest", manifestHdr, strings.Repeat(" ", distribution.MaxManifestSize+1), 413, "SIZE_INVALID"},
		{"unknown upload", http.MethodGet, "/v2/errs/blobs/uploads/0123456789abcdef0123456789abcdef", nil, "", 404, "BLOB_UPLOAD_UNKNOWN"},
		{"malformed upload id", http.MethodPatch, "/v2/errs/blobs/uploads/..", nil, "", 404, "BLOB_UPLOAD_UNKNOWN"},
		{"delete unknown tag", http.MethodDelete, "/v2/errs/manifests/latest", nil, "", 404, "MANIFEST_UNKNOWN"},
		{"unknown endpoint", http.MethodGet, "/v2/errs", nil, "", 405, "UNSUPPORTED"},
		{"good manifest", http.MethodPut, "/v2/errs/manifests/latest", manifestHdr, goodManifest, 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, tt.hdr, []byte(tt.body))
			if resp.StatusCode != tt.status || errCode(body) != tt.code {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, body, tt.status, tt.code)
			}
		})
	}
	// Nothing was stored for the wrong digest.
	if _, err := e.blobs.Stat(context.Background(), other); !errors.Is(err, distribution.ErrBlobUnknown) {
		t.Fatalf("blob stored after a wrong digest: %v", err)
	}
}

func TestWrongDigestSession(t *testing.T) {
	e := newEnv(t)
	resp, _ := e.do(t, http.MethodPost, "/v2/sess/blobs/uploads/", nil, nil)
	loc := resp.Header.Get("Location")
	claimed := digest.FromString("claimed")
	resp, body := e.do(t, http.MethodPut, loc+"?digest="+claimed.String(), nil, []byte("actual"))
	if resp.StatusCode != http.StatusBadRequest || errCode(body) != "DIGEST_INVALID" {
		t.Fatalf("finish: %d %s", resp.StatusCode, body)
	}
	for _, d := range []digest.Digest{claimed, digest.FromString("actual")} {
		if _, err := e.blobs.Stat(context.Background(), d); !errors.Is(err, distribution.ErrBlobUnknown) {
			t.Fatalf("%s stored: %v", d, err)
		}
		resp, _ := e.do(t, http.MethodHead, "/v2/sess/blobs/"+d.String(), nil, nil)
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("HEAD %s: %d", d, resp.StatusCode)
		}
	}
	resp, _ = e.do(t, http.MethodGet, loc, nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("session after a wrong digest: %d", resp.StatusCode)
	}
}

func TestAuthorizer(t *testing.T) {
	pool := pgtest.NewDB(t).Pool(t, distribution.Migrate)
	blobDir := t.TempDir()
	blobs, err := distribution.NewFS(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := distribution.New(distribution.Config{Pool: pool, Blobs: blobs, UploadDir: t.TempDir(),
		Authorize: func(r *http.Request, repo string, push bool) (distribution.Client, error) {
			if push {
				return distribution.Client{}, fmt.Errorf("%w: %s", distribution.ErrDenied, repo)
			}
			return distribution.Client{}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{srv: httptest.NewServer(h)}
	t.Cleanup(e.srv.Close)
	resp, body := e.do(t, http.MethodPost, "/v2/x/blobs/uploads/", nil, nil)
	if resp.StatusCode != http.StatusForbidden || errCode(body) != "DENIED" {
		t.Fatalf("push: %d %s", resp.StatusCode, body)
	}
	resp, _ = e.do(t, http.MethodGet, "/v2/", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("pull: %d", resp.StatusCode)
	}
}

// TestDamagedBlobNotServed: a stored blob whose size no longer matches
// what was verified on upload is refused, not served.
func TestDamagedBlobNotServed(t *testing.T) {
	e := newEnv(t)
	d := e.pushBlob(t, "a", []byte("a verified blob"))
	if resp, _ := e.do(t, http.MethodGet, "/v2/a/blobs/"+d.String(), nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("GET before damage: %s", resp.Status)
	}
	p := filepath.Join(e.blobDir, "blobs", "sha256", d.Encoded()[:2], d.Encoded())
	if err := os.Truncate(p, 3); err != nil {
		t.Fatal(err)
	}
	resp, body := e.do(t, http.MethodGet, "/v2/a/blobs/"+d.String(), nil, nil)
	if resp.StatusCode != http.StatusInternalServerError || strings.Contains(string(body), "a v") {
		t.Fatalf("GET of a damaged blob: %s %q", resp.Status, body)
	}
}

// TestMalformedReferenceIsUnknown: a pull of a malformed reference, tag or
// digest, answers 404 like any unknown manifest or blob (the spec's
// endpoints end-2 and end-3 fail only with 404; its conformance suite
// pulls ".INVALID_MANIFEST_NAME").
func TestMalformedReferenceIsUnknown(t *testing.T) {
	e := newEnv(t)
	e.pushBlob(t, "refs", []byte("something stored"))
	long := strings.Repeat("a", 129)
	refs := []string{
		".INVALID_MANIFEST_NAME", "-bad", long, "a%20b",
		"sha256:xyz", "sha256:" + strings.Repeat("A", 64), "sha256:", ":", "sha256:" + strings.Repeat("a", 63),
		digest.SHA512.FromString("x").String(), "md5:d41d8cd98f00b204e9800998ecf8427e",
	}
	for _, ref := range refs {
		for _, kind := range []string{"manifests", "blobs"} {
			want := map[string]string{"manifests": "MANIFEST_UNKNOWN", "blobs": "BLOB_UNKNOWN"}[kind]
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				t.Run(method+" "+kind+" "+ref, func(t *testing.T) {
					resp, body := e.do(t, method, "/v2/refs/"+kind+"/"+ref, nil, nil)
					if resp.StatusCode != http.StatusNotFound {
						t.Fatalf("%d %s, want 404", resp.StatusCode, body)
					}
					if method == http.MethodGet && errCode(body) != want {
						t.Fatalf("code %q, want %s", errCode(body), want)
					}
				})
			}
		}
	}
}

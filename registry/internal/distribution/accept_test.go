package distribution_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/websonic/websonic/registry/internal/distribution"
)

// TestAccept: Config.Accept sees every parsed manifest with its
// repository and media type before anything is stored; a refusal is
// MANIFEST_INVALID carrying its reason, and nothing is stored.
func TestAccept(t *testing.T) {
	type seen struct{ repo, mediaType string }
	var got []seen
	e := newEnvWith(t, distribution.Config{Accept: func(repo, mediaType string, body []byte) error {
		got = append(got, seen{repo, mediaType})
		if strings.Contains(string(body), "forbidden") {
			return errors.New("no forbidden things here")
		}
		return nil
	}})
	cfg := e.pushBlob(t, "a/b", []byte("{}"))
	manifest := func(annotation string) []byte {
		return []byte(`{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageManifest + `","config":{"mediaType":"application/vnd.test.config+json","digest":"` +
			cfg.String() + `","size":2},"layers":[],"annotations":{"a":"` + annotation + `"}}`)
	}
	hdr := map[string]string{"Content-Type": ocispec.MediaTypeImageManifest}
	if resp, body := e.do(t, http.MethodPut, "/v2/a/b/manifests/ok", hdr, manifest("fine")); resp.StatusCode != http.StatusCreated {
		t.Fatalf("accepted manifest: %d %s", resp.StatusCode, body)
	}
	resp, body := e.do(t, http.MethodPut, "/v2/a/b/manifests/no", hdr, manifest("forbidden"))
	if resp.StatusCode != http.StatusBadRequest || errCode(body) != "MANIFEST_INVALID" || !strings.Contains(string(body), "no forbidden things here") {
		t.Fatalf("refused manifest: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.do(t, http.MethodGet, "/v2/a/b/manifests/no", nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("a refused manifest was stored: %d", resp.StatusCode)
	}
	// A manifest that does not parse never reaches Accept.
	e.do(t, http.MethodPut, "/v2/a/b/manifests/bad", hdr, []byte(`{"schemaVersion":1}`))
	if len(got) != 2 || got[0] != (seen{"a/b", ocispec.MediaTypeImageManifest}) {
		t.Fatalf("Accept saw %v", got)
	}
}

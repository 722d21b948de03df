package distribution_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestUntrustedStringsNeverReachTheDatabase: query parameters and manifest
// fields that PostgreSQL cannot store or compare (a NUL byte, bytes that
// are not UTF-8) are refused as the client's error, never answered 500
// with an error logged: anyone may send them, and a flood of them would
// fill the log with false alarms.
func TestUntrustedStringsNeverReachTheDatabase(t *testing.T) {
	e := newEnv(t)
	config := e.pushBlob(t, "modules/hello", []byte("{}"))
	// manifest's arguments are JSON string contents: \u0000 is a NUL.
	manifest := func(artifactType, configType, annotation string) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",%s
			"config":{"mediaType":"%s","digest":"%s","size":2},"layers":[],"annotations":{"note":"%s"}}`,
			artifactType, configType, config, annotation))
	}
	ok := manifest("", "application/vnd.websonic.test", "fine")
	resp, body := e.do(t, http.MethodPut, "/v2/modules/hello/manifests/1.0.0", map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, ok)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("push a manifest: %d %s", resp.StatusCode, body)
	}
	subject := resp.Header.Get("Docker-Content-Digest")
	tests := []struct {
		name, method, path string
		body               []byte
		status             int
		code               string
	}{
		{"tags after a NUL", http.MethodGet, "/v2/modules/hello/tags/list?last=a%00", nil, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID"},
		{"tags after bytes not UTF-8", http.MethodGet, "/v2/modules/hello/tags/list?last=%ff", nil, http.StatusBadRequest, "PAGINATION_NUMBER_INVALID"},
		{"referrers of a NUL artifact type", http.MethodGet, "/v2/modules/hello/referrers/" + subject + "?artifactType=%00", nil, http.StatusOK, ""},
		{"referrers of an artifact type not UTF-8", http.MethodGet, "/v2/modules/hello/referrers/" + subject + "?artifactType=a/%ff", nil, http.StatusOK, ""},
		{"a manifest's artifactType with a NUL", http.MethodPut, "/v2/modules/hello/manifests/1.0.1", manifest(`"artifactType":"a/b\u0000",`, "application/vnd.websonic.test", "fine"), http.StatusBadRequest, "MANIFEST_INVALID"},
		{"a config media type with a NUL", http.MethodPut, "/v2/modules/hello/manifests/1.0.2", manifest("", `application/x\u0000`, "fine"), http.StatusBadRequest, "MANIFEST_INVALID"},
		{"an annotation with a NUL", http.MethodPut, "/v2/modules/hello/manifests/1.0.3", manifest("", "application/vnd.websonic.test", `a\u0000b`), http.StatusBadRequest, "MANIFEST_INVALID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := e.do(t, tt.method, tt.path, map[string]string{"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, tt.body)
			if resp.StatusCode != tt.status || errCode(body) != tt.code {
				t.Fatalf("%d %s, want %d %s", resp.StatusCode, strings.TrimSpace(string(body)), tt.status, tt.code)
			}
			if tt.status == http.StatusOK && !strings.Contains(string(body), `"manifests":[]`) {
				t.Fatalf("referrers of an artifact type nothing has: %s", body)
			}
		})
	}
}

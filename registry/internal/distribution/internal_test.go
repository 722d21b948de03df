package distribution

import (
	"errors"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestParseRoute(t *testing.T) {
	d := digest.FromString("x").String()
	tests := []struct {
		tail string
		want route
		ok   bool
	}{
		{"", route{kind: kindBase}, true},
		{"a/tags/list", route{kind: kindTags, name: "a"}, true},
		{"a/b/c/blobs/" + d, route{kind: kindBlob, name: "a/b/c", arg: d}, true},
		{"a/blobs/blobs/" + d, route{kind: kindBlob, name: "a/blobs", arg: d}, true},
		{"a/b/blobs/uploads/", route{kind: kindUploadStart, name: "a/b"}, true},
		{"a/b/blobs/uploads/123", route{kind: kindUpload, name: "a/b", arg: "123"}, true},
		{"manifests/manifests/latest", route{kind: kindManifest, name: "manifests", arg: "latest"}, true},
		{"a/referrers/" + d, route{kind: kindReferrers, name: "a", arg: d}, true},
		{"a", route{}, false},
		{"blobs/" + d, route{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.tail, func(t *testing.T) {
			got, ok := parseRoute(tt.tail)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("parseRoute(%q) = %+v, %v; want %+v, %v", tt.tail, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestStatusOf(t *testing.T) {
	for _, e := range errorTable {
		code, status, ok := statusOf(fmt.Errorf("wrapped: %w", e.err))
		if !ok || code != e.code || status != e.status {
			t.Errorf("%v: %s %d %v", e.err, code, status, ok)
		}
	}
	if _, status, ok := statusOf(errors.New("boom")); ok || status != 500 {
		t.Errorf("unexpected error: %d %v", status, ok)
	}
}

func FuzzParseManifest(f *testing.F) {
	d := digest.FromString("{}")
	f.Add(ocispec.MediaTypeImageManifest, []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":"a/b","digest":%q,"size":2},"layers":[{"mediaType":"a/c","digest":%q,"size":2}],"subject":{"mediaType":"a/d","digest":%q,"size":1}}`,
		ocispec.MediaTypeImageManifest, d, d, d)))
	f.Add(ocispec.MediaTypeImageIndex, []byte(fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":%q,"digest":%q,"size":2}]}`, ocispec.MediaTypeImageManifest, d)))
	f.Add("application/json", []byte(`{}`))
	f.Add(ocispec.MediaTypeImageManifest, []byte(`{"schemaVersion":2,"config":{"digest":"sha256:zz"}}`))
	f.Add(ocispec.MediaTypeImageManifest+"; charset=utf-8", []byte(`{"schemaVersion":2} {}`))
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		info, err := parseManifest(contentType, body)
		if err != nil {
			if !errors.Is(err, ErrManifestInvalid) {
				t.Fatalf("error %v does not wrap ErrManifestInvalid", err)
			}
			return
		}
		for _, b := range info.Blobs {
			if checkDigest(b.Digest) != nil || b.Size < 0 {
				t.Fatalf("accepted blob descriptor %+v", b)
			}
		}
		for _, m := range info.Manifests {
			if checkDigest(m) != nil {
				t.Fatalf("accepted manifest digest %q", m)
			}
		}
		if info.Subject != "" && checkDigest(info.Subject) != nil {
			t.Fatalf("accepted subject %q", info.Subject)
		}
		switch info.MediaType {
		case ocispec.MediaTypeImageManifest, ocispec.MediaTypeImageIndex, mediaTypeDockerManifest, mediaTypeDockerList:
		default:
			t.Fatalf("accepted media type %q", info.MediaType)
		}
	})
}

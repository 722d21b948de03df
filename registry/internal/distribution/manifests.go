package distribution

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/websonic/websonic/registry/internal/limit"
)

// maxTagsPage bounds a tag list page.
const maxTagsPage = 1000

// isDigestRef says whether a manifest reference is a digest (tags have no
// colon).
func isDigestRef(ref string) bool { return strings.Contains(ref, ":") }

// checkReference checks a manifest reference, a tag or a digest; a
// malformed one is an error wrapping ErrTagInvalid or ErrDigestInvalid.
func checkReference(ref string) error {
	if isDigestRef(ref) {
		_, err := parseDigest(ref)
		return err
	}
	if !tagRE.MatchString(ref) {
		return fmt.Errorf("%w: %q", ErrTagInvalid, ref)
	}
	return nil
}

// getManifest serves a manifest. A malformed reference is answered like
// any unknown one, 404 MANIFEST_UNKNOWN: the spec's pull endpoint fails
// only with 404, and clients (its conformance suite) rely on it.
func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := checkReference(rt.arg); err != nil {
		return fmt.Errorf("%w: %v", ErrManifestUnknown, err)
	}
	byDigest := isDigestRef(rt.arg)
	mediaType, d, body, err := h.meta.manifest(r.Context(), rt.name, rt.arg)
	if err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", mediaType)
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("ETag", `"`+d.String()+`"`)
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	if byDigest {
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
	return nil
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, rt route) error {
	body, err := limit.ReadBody(w, r, MaxManifestSize)
	if err != nil {
		return err
	}
	info, err := parseManifest(r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	d := digest.FromBytes(body)
	tag := ""
	if isDigestRef(rt.arg) {
		want, err := parseDigest(rt.arg)
		if err != nil {
			return err
		}
		if want != d {
			return fmt.Errorf("%w: manifest is %s, not %s", ErrDigestInvalid, d, want)
		}
	} else {
		if !tagRE.MatchString(rt.arg) {
			return fmt.Errorf("%w: %q", ErrTagInvalid, rt.arg)
		}
		tag = rt.arg
	}
	if err := h.meta.putManifest(r.Context(), rt.name, d, info, body, tag); err != nil {
		return err
	}
	h.log.Info("manifest pushed", "repo", rt.name, "digest", d, "tag", tag, "media_type", info.MediaType)
	if h.cfg.ManifestPushed != nil {
		h.cfg.ManifestPushed(r, rt.name, d.String(), tag)
	}
	hd := w.Header()
	hd.Set("Location", "/v2/"+rt.name+"/manifests/"+d.String())
	hd.Set("Docker-Content-Digest", d.String())
	if info.Subject != "" {
		hd.Set("OCI-Subject", info.Subject.String())
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	return nil
}

type tagList struct {
	Name string   `json:"name"`
	Tags []string `json:"tags"`
}

func (h *Handler) listTags(w http.ResponseWriter, r *http.Request, rt route) error {
	q := r.URL.Query()
	n := maxTagsPage
	if s := q.Get("n"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 0 {
			return fmt.Errorf("%w: n=%q", ErrPaginationInvalid, s)
		}
		n = min(v, maxTagsPage)
	}
	last := q.Get("last")
	tags, more, err := h.meta.tags(r.Context(), rt.name, n, last)
	if err != nil {
		return err
	}
	if more && len(tags) > 0 {
		next := url.Values{"n": {strconv.Itoa(n)}, "last": {tags[len(tags)-1]}}
		w.Header().Set("Link", fmt.Sprintf(`</v2/%s/tags/list?%s>; rel="next"`, rt.name, next.Encode()))
	}
	return writeJSON(w, "application/json", tagList{Name: rt.name, Tags: tags})
}

func (h *Handler) listReferrers(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := parseDigest(rt.arg)
	if err != nil {
		return err
	}
	artifactType := r.URL.Query().Get("artifactType")
	descs, err := h.meta.referrers(r.Context(), rt.name, d, artifactType)
	if err != nil {
		return err
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	index := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: descs}
	index.SchemaVersion = 2
	return writeJSON(w, ocispec.MediaTypeImageIndex, index)
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("distribution: encode response: %w", err)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

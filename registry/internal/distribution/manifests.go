package distribution

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
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

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, rt route, c Client) error {
	body, err := limit.ReadBody(w, r, MaxManifestSize)
	if err != nil {
		return err
	}
	info, err := parseManifest(r.Header.Get("Content-Type"), body)
	if err != nil {
		return err
	}
	if h.cfg.Accept != nil {
		if err := h.cfg.Accept(rt.name, info.MediaType, body); err != nil {
			return fmt.Errorf("%w: %w", ErrManifestInvalid, err)
		}
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
	if err := h.storeManifest(r.Context(), rt.name, d, info, body, tag, c.Account); err != nil {
		return err
	}
	h.log.Info("manifest pushed", "repo", rt.name, "digest", d, "tag", tag, "media_type", info.MediaType)
	if h.cfg.ManifestPushed != nil {
		h.cfg.ManifestPushed(r, c, rt.name, d.String(), tag)
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

// pins returns what repo must keep, from Config.Pinned, in tx.
func (h *Handler) pins(ctx context.Context, tx pgx.Tx, repo string) ([]Pin, error) {
	if h.cfg.Pinned == nil {
		return nil, nil
	}
	pins, err := h.cfg.Pinned(ctx, tx, repo)
	if err != nil {
		return nil, fmt.Errorf("distribution: pinned content of %q: %w", repo, err)
	}
	return pins, nil
}

// storeManifest stores a verified, parsed manifest for account and points
// tag (if not "") at it, in one transaction: every blob and manifest it
// references must be in the repository (and each such link counts as used
// now, see Collect), a new manifest must fit the account's quota, and a
// pinned tag may point at its pinned digest only.
func (h *Handler) storeManifest(ctx context.Context, repo string, d digest.Digest, info *manifestInfo, body []byte, tag, account string) error {
	return pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, account); err != nil {
			return err
		}
		id, err := ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		if tag != "" {
			pins, err := h.pins(ctx, tx, repo)
			if err != nil {
				return err
			}
			for _, p := range pins {
				if p.Tag == tag && p.Digest != d {
					return fmt.Errorf("%w: tag %q is %s (%s) and cannot change: publish a new version", ErrDenied, tag, p.Why, p.Digest)
				}
			}
		}
		for _, b := range info.Blobs {
			// Touching the link locks it: Collect, which locks it too before
			// deleting an unreferenced link, cannot take it meanwhile.
			var size int64
			err := tx.QueryRow(ctx, `UPDATE distribution.repository_blobs SET touched_at = $3
				WHERE repository_id = $1 AND digest = $2 RETURNING size`, id, b.Digest.String(), h.cfg.Now()).Scan(&size)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: blob %s", ErrManifestBlobUnknown, b.Digest)
			}
			if err != nil {
				return fmt.Errorf("distribution: put manifest %s: %w", d, err)
			}
			if size != b.Size {
				return fmt.Errorf("%w: blob %s has size %d, not %d", ErrManifestInvalid, b.Digest, size, b.Size)
			}
		}
		for _, md := range info.Manifests {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM distribution.manifests WHERE repository_id = $1 AND digest = $2 FOR SHARE`,
				id, md.String()).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: manifest %s", ErrManifestBlobUnknown, md)
			}
			if err != nil {
				return fmt.Errorf("distribution: put manifest %s: %w", d, err)
			}
		}
		var subject *string
		if info.Subject != "" {
			s := info.Subject.String()
			subject = &s
		}
		var annotations []byte
		if len(info.Annotations) > 0 {
			if annotations, err = json.Marshal(info.Annotations); err != nil {
				return fmt.Errorf("distribution: put manifest %s: %w", d, err)
			}
		}
		tg, err := tx.Exec(ctx, `INSERT INTO distribution.manifests
			(repository_id, digest, media_type, artifact_type, annotations, content, subject_digest, account, refs_indexed)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, true) ON CONFLICT DO NOTHING`,
			id, d.String(), info.MediaType, info.ArtifactType, annotations, body, subject, account)
		if err != nil {
			return fmt.Errorf("distribution: put manifest %s: %w", d, err)
		}
		if tg.RowsAffected() == 1 {
			if err := insertRefs(ctx, tx, id, d, info); err != nil {
				return err
			}
			if err := h.checkQuota(ctx, tx, account, int64(len(body))); err != nil {
				return err
			}
		}
		if tag != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO distribution.tags (repository_id, name, digest) VALUES ($1, $2, $3)
				ON CONFLICT (repository_id, name) DO UPDATE SET digest = EXCLUDED.digest, updated_at = now()`,
				id, tag, d.String()); err != nil {
				return fmt.Errorf("distribution: tag %s as %q: %w", d, tag, err)
			}
		}
		return nil
	})
}

// deleteManifest deletes a tag, or a manifest by digest with every tag
// pointing at it (202). What Config.Pinned names is refused (DENIED), as
// is a manifest an index of the repository references (405: delete the
// index first). A malformed reference is unknown, as in getManifest.
func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, rt route, c Client) error {
	if h.cfg.DisableDelete {
		return fmt.Errorf("%w: deletion is disabled", ErrUnsupported)
	}
	if err := checkReference(rt.arg); err != nil {
		return fmt.Errorf("%w: %v", ErrManifestUnknown, err)
	}
	ctx := r.Context()
	what := "tag"
	err := pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
		id, err := repoID(ctx, tx, rt.name)
		if err != nil {
			return err
		}
		pins, err := h.pins(ctx, tx, rt.name)
		if err != nil {
			return err
		}
		if !isDigestRef(rt.arg) {
			for _, p := range pins {
				if p.Tag == rt.arg {
					return fmt.Errorf("%w: tag %q is %s and cannot be deleted", ErrDenied, rt.arg, p.Why)
				}
			}
			tag, err := tx.Exec(ctx, `DELETE FROM distribution.tags WHERE repository_id = $1 AND name = $2`, id, rt.arg)
			if err != nil {
				return fmt.Errorf("distribution: delete tag %q: %w", rt.arg, err)
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("%w: %s:%s", ErrManifestUnknown, rt.name, rt.arg)
			}
			return nil
		}
		what = "manifest"
		d := digest.Digest(rt.arg)
		for _, p := range pins {
			if p.Digest == d {
				return fmt.Errorf("%w: manifest %s is %s and cannot be deleted (revoke the release instead)", ErrDenied, d, p.Why)
			}
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM distribution.manifests WHERE repository_id = $1 AND digest = $2 FOR UPDATE`, id, d.String()).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s@%s", ErrManifestUnknown, rt.name, d)
		}
		if err != nil {
			return fmt.Errorf("distribution: delete manifest %s: %w", d, err)
		}
		index, err := referrer(ctx, tx, id, "manifest", d)
		if err != nil {
			return err
		}
		if index != "" {
			return fmt.Errorf("%w: manifest %s is referenced by index %s: delete the index first", ErrUnsupported, d, index)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM distribution.tags WHERE repository_id = $1 AND digest = $2`, id, d.String()); err != nil {
			return fmt.Errorf("distribution: delete manifest %s: %w", d, err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM distribution.manifests WHERE repository_id = $1 AND digest = $2`, id, d.String()); err != nil {
			return fmt.Errorf("distribution: delete manifest %s: %w", d, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	h.deleted(w, r, c, rt.name, what, rt.arg)
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
	if last != "" && !tagRE.MatchString(last) { // nor reach the database: it may be anything
		return fmt.Errorf("%w: last=%q is not a tag", ErrPaginationInvalid, last)
	}
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
	descs := []ocispec.Descriptor{}
	if artifactType == "" || mediaTypeRE.MatchString(artifactType) { // else nothing has it
		if descs, err = h.meta.referrers(r.Context(), rt.name, d, artifactType); err != nil {
			return err
		}
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

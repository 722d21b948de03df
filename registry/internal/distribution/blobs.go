package distribution

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
)

// getBlob serves a blob. A malformed or unsupported digest is answered
// like any unknown blob, 404 BLOB_UNKNOWN (see getManifest).
func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, rt route) error {
	d, err := parseDigest(rt.arg)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBlobUnknown, err)
	}
	size, err := h.meta.blobSize(r.Context(), rt.name, d)
	if err != nil {
		return err
	}
	f, stored, err := h.cfg.Blobs.Open(r.Context(), d)
	if err != nil {
		return err
	}
	defer f.Close()
	if stored != size {
		// Verified on upload, so the store was damaged since: never serve it.
		h.log.Error("stored blob has the wrong size", "digest", d, "stored", stored, "recorded", size)
		return fmt.Errorf("distribution: blob %s is damaged in the store", d)
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("ETag", `"`+d.String()+`"`)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// blobCreated answers a finished upload.
func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// uploadAccepted answers a started or continued upload session.
func uploadAccepted(w http.ResponseWriter, u upload, status int) {
	end := u.Offset - 1
	if end < 0 {
		end = 0
	}
	w.Header().Set("Location", "/v2/"+u.Repo+"/blobs/uploads/"+u.ID)
	w.Header().Set("Range", fmt.Sprintf("0-%d", end))
	w.Header().Set("Docker-Upload-UUID", u.ID)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(status)
}

func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	ctx := r.Context()
	if ds := r.URL.Query().Get("digest"); ds != "" {
		// Monolithic upload in one request.
		d, err := parseDigest(ds)
		if err != nil {
			return err
		}
		n, err := h.cfg.Blobs.Put(ctx, d, http.MaxBytesReader(w, r.Body, h.cfg.MaxBlobSize))
		if err != nil {
			return err
		}
		if r.ContentLength >= 0 && n != r.ContentLength {
			return fmt.Errorf("%w: got %d bytes, Content-Length %d", ErrSizeInvalid, n, r.ContentLength)
		}
		if err := h.meta.linkBlob(ctx, rt.name, d, n); err != nil {
			return err
		}
		h.log.Debug("blob uploaded", "repo", rt.name, "digest", d, "size", n)
		blobCreated(w, rt.name, d)
		return nil
	}
	// A cross-repository mount (?mount=&from=) is not supported: fall back
	// to a session, as the spec allows.
	u := upload{ID: newUploadID(), Repo: rt.name}
	f, err := os.OpenFile(h.uploadPath(u.ID), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("distribution: create upload file: %w", err)
	}
	f.Close()
	if err := h.meta.createUpload(ctx, rt.name, u.ID); err != nil {
		os.Remove(h.uploadPath(u.ID))
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

func (h *Handler) uploadPath(id string) string { return filepath.Join(h.cfg.UploadDir, id) }

func checkUploadID(id string) error {
	if !uploadIDRE.MatchString(id) {
		return fmt.Errorf("%w: %q", ErrBlobUploadUnknown, id)
	}
	return nil
}

func (h *Handler) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := checkUploadID(rt.arg); err != nil {
		return err
	}
	u, err := getUpload(r.Context(), h.meta.pool, rt.name, rt.arg, false)
	if err != nil {
		return err
	}
	uploadAccepted(w, u, http.StatusNoContent)
	return nil
}

// parseContentRange parses a chunk's "start-end" (inclusive; an optional
// "bytes " prefix is accepted). ok is false without the header.
func parseContentRange(v string) (start, end int64, ok bool, err error) {
	if v == "" {
		return 0, 0, false, nil
	}
	a, b, found := strings.Cut(strings.TrimPrefix(v, "bytes "), "-")
	if !found {
		return 0, 0, false, fmt.Errorf("%w: Content-Range %q", ErrRangeInvalid, v)
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false, fmt.Errorf("%w: Content-Range %q", ErrRangeInvalid, v)
	}
	return start, end, true, nil
}

// appendChunk appends r's body to session u's file, whose row the caller
// has locked, and returns the new offset. A chunk must start where the
// session stands; a failed chunk leaves the file as it was.
func (h *Handler) appendChunk(w http.ResponseWriter, r *http.Request, u upload) (int64, error) {
	start, end, ranged, err := parseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		return 0, err
	}
	if ranged && start != u.Offset {
		return 0, fmt.Errorf("%w: chunk starts at %d, upload is at %d", ErrRangeInvalid, start, u.Offset)
	}
	if ranged && r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return 0, fmt.Errorf("%w: Content-Range %d-%d with Content-Length %d", ErrRangeInvalid, start, end, r.ContentLength)
	}
	f, err := os.OpenFile(h.uploadPath(u.ID), os.O_WRONLY, 0)
	if err != nil {
		return 0, fmt.Errorf("distribution: upload file: %w", err)
	}
	defer f.Close()
	// Discard what a failed earlier chunk may have left.
	if err := f.Truncate(u.Offset); err != nil {
		return 0, fmt.Errorf("distribution: upload file: %w", err)
	}
	if _, err := f.Seek(u.Offset, io.SeekStart); err != nil {
		return 0, fmt.Errorf("distribution: upload file: %w", err)
	}
	n, err := io.Copy(f, http.MaxBytesReader(w, r.Body, h.cfg.MaxBlobSize-u.Offset))
	if err == nil && ranged && n != end-start+1 {
		err = fmt.Errorf("%w: got %d bytes for Content-Range %d-%d", ErrSizeInvalid, n, start, end)
	}
	if err != nil {
		f.Truncate(u.Offset)
		return 0, err
	}
	return u.Offset + n, nil
}

func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := checkUploadID(rt.arg); err != nil {
		return err
	}
	ctx := r.Context()
	var u upload
	err := pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
		var err error
		if u, err = getUpload(ctx, tx, rt.name, rt.arg, true); err != nil {
			return err
		}
		if u.Offset, err = h.appendChunk(w, r, u); err != nil {
			return err
		}
		return setUploadOffset(ctx, tx, u)
	})
	if err != nil {
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

func setUploadOffset(ctx context.Context, tx pgx.Tx, u upload) error {
	if _, err := tx.Exec(ctx, `UPDATE distribution.uploads SET "offset" = $2, updated_at = now() WHERE id = $1`, u.ID, u.Offset); err != nil {
		return fmt.Errorf("distribution: upload %s: %w", u.ID, err)
	}
	return nil
}

// finishUpload appends the final chunk (if any), verifies the digest while
// moving the bytes into the blob store and ends the session. A digest
// mismatch ends the session too, storing nothing.
func (h *Handler) finishUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := checkUploadID(rt.arg); err != nil {
		return err
	}
	d, err := parseDigest(r.URL.Query().Get("digest"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	var result error // the upload's outcome, once the session is over
	err = pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
		u, err := getUpload(ctx, tx, rt.name, rt.arg, true)
		if err != nil {
			return err
		}
		if u.Offset, err = h.appendChunk(w, r, u); err != nil {
			return err // the session stays, as it was
		}
		f, err := os.Open(h.uploadPath(u.ID))
		if err != nil {
			return fmt.Errorf("distribution: upload file: %w", err)
		}
		n, err := h.cfg.Blobs.Put(ctx, d, io.LimitReader(f, u.Offset))
		f.Close()
		switch {
		case errors.Is(err, ErrDigestInvalid):
			result = err
		case err != nil:
			return err
		default:
			if _, err := tx.Exec(ctx, `INSERT INTO distribution.repository_blobs (repository_id, digest, size)
				SELECT repository_id, $2, $3 FROM distribution.uploads WHERE id = $1 ON CONFLICT DO NOTHING`,
				u.ID, d.String(), n); err != nil {
				return fmt.Errorf("distribution: link blob %s: %w", d, err)
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM distribution.uploads WHERE id = $1`, u.ID); err != nil {
			return fmt.Errorf("distribution: upload %s: %w", u.ID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	os.Remove(h.uploadPath(rt.arg))
	if result != nil {
		return result
	}
	h.log.Debug("blob uploaded", "repo", rt.name, "digest", d)
	blobCreated(w, rt.name, d)
	return nil
}

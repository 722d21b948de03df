package distribution

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/websonic/websonic/registry/internal/limit"
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
		body, err := limit.Body(w, r, h.cfg.MaxBlobSize)
		if err != nil {
			return err
		}
		n, err := h.cfg.Blobs.Put(ctx, d, body)
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
	if err := os.Mkdir(h.sessionDir(u.ID), 0o700); err != nil {
		return fmt.Errorf("distribution: create upload session: %w", err)
	}
	if err := h.meta.createUpload(ctx, rt.name, u.ID); err != nil {
		os.RemoveAll(h.sessionDir(u.ID))
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

// sessionDir holds the parts of upload session id (see appendChunk).
func (h *Handler) sessionDir(id string) string { return filepath.Join(h.cfg.UploadDir, id) }

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
	u, err := h.meta.upload(r.Context(), rt.name, rt.arg)
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

// appendChunk adds r's body to session u and returns the session as it
// then stands. The chunk must start where the session stands.
//
// A session's bytes are its parts: one file per chunk in sessionDir,
// named by the chunk's start offset and a random suffix, listed in the
// session's row. The body is written to a new part with no database
// connection held; then one statement appends the part to the row if the
// session still stands where the chunk started (a compare-and-set: of two
// racing chunks one wins, the other's part is deleted and it gets 416).
// A failed chunk leaves the session as it was.
func (h *Handler) appendChunk(w http.ResponseWriter, r *http.Request, u upload) (upload, error) {
	start, end, ranged, err := parseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		return u, err
	}
	if ranged && start != u.Offset {
		return u, fmt.Errorf("%w: chunk starts at %d, upload is at %d", ErrRangeInvalid, start, u.Offset)
	}
	if ranged && r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return u, fmt.Errorf("%w: Content-Range %d-%d with Content-Length %d", ErrRangeInvalid, start, end, r.ContentLength)
	}
	if r.ContentLength == 0 {
		return u, nil
	}
	body, err := limit.Body(w, r, h.cfg.MaxBlobSize-u.Offset)
	if err != nil {
		return u, err
	}
	part := fmt.Sprintf("%020d-%s", u.Offset, newUploadID()[:8])
	path := filepath.Join(h.sessionDir(u.ID), part)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, fs.ErrNotExist) {
		return u, fmt.Errorf("%w: %s (expired?)", ErrBlobUploadUnknown, u.ID)
	}
	if err != nil {
		return u, fmt.Errorf("distribution: upload part: %w", err)
	}
	n, err := io.Copy(f, body)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("distribution: upload part: %w", cerr)
	}
	if err == nil && ranged && n != end-start+1 {
		err = fmt.Errorf("%w: got %d bytes for Content-Range %d-%d", ErrSizeInvalid, n, start, end)
	}
	if err == nil && n > 0 {
		var next upload
		if next, err = h.meta.appendPart(r.Context(), u, part, n); err == nil {
			return next, nil
		}
	}
	os.Remove(path)
	return u, err
}

// sessionReader reads session u's parts in order, checking that they are
// contiguous and add up to its offset.
func (h *Handler) sessionReader(u upload) io.Reader {
	return &partsReader{dir: h.sessionDir(u.ID), parts: u.Parts, want: u.Offset}
}

type partsReader struct {
	dir   string
	parts []string
	want  int64 // the session's offset
	at    int64 // bytes read so far
	f     *os.File
}

func (p *partsReader) Read(b []byte) (int, error) {
	for {
		if p.f == nil {
			if len(p.parts) == 0 {
				if p.at != p.want {
					return 0, fmt.Errorf("distribution: upload session damaged: %d bytes in its parts, %d recorded", p.at, p.want)
				}
				return 0, io.EOF
			}
			name := p.parts[0]
			p.parts = p.parts[1:]
			if start, _, _ := strings.Cut(name, "-"); start != fmt.Sprintf("%020d", p.at) {
				return 0, fmt.Errorf("distribution: upload session damaged: part %s at offset %d", name, p.at)
			}
			f, err := os.Open(filepath.Join(p.dir, name))
			if err != nil {
				return 0, fmt.Errorf("distribution: upload part: %w", err)
			}
			p.f = f
		}
		n, err := p.f.Read(b)
		p.at += int64(n)
		if err == io.EOF {
			p.f.Close()
			p.f = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil {
			p.f.Close()
			p.f = nil
			return n, fmt.Errorf("distribution: upload part: %w", err)
		}
		return n, nil
	}
}

func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := checkUploadID(rt.arg); err != nil {
		return err
	}
	u, err := h.meta.upload(r.Context(), rt.name, rt.arg)
	if err != nil {
		return err
	}
	if u, err = h.appendChunk(w, r, u); err != nil {
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

// finishUpload appends the final chunk (if any), verifies the digest while
// moving the bytes into the blob store and ends the session; no database
// connection is held while the body or the parts are read. A digest
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
	u, err := h.meta.upload(ctx, rt.name, rt.arg)
	if err != nil {
		return err
	}
	if u, err = h.appendChunk(w, r, u); err != nil {
		return err // the session stays, as it was
	}
	n, err := h.cfg.Blobs.Put(ctx, d, h.sessionReader(u))
	switch {
	case errors.Is(err, ErrDigestInvalid):
		if eerr := h.meta.endUpload(ctx, u, "", 0); eerr != nil && !errors.Is(eerr, ErrBlobUploadUnknown) {
			return eerr
		}
		os.RemoveAll(h.sessionDir(u.ID))
		return err
	case err != nil:
		return err
	}
	if err := h.meta.endUpload(ctx, u, d, n); err != nil {
		return err
	}
	os.RemoveAll(h.sessionDir(u.ID))
	h.log.Debug("blob uploaded", "repo", rt.name, "digest", d)
	blobCreated(w, rt.name, d)
	return nil
}

package distribution

import (
	"context"
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

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/registry/internal/limit"
)

// upload is an upload session.
type upload struct {
	ID      string
	Repo    string
	Offset  int64
	Parts   []string // part file names, in order (see Handler.appendChunk)
	Account string   // charged for the bytes so far
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

func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, rt route, c Client) error {
	ctx := r.Context()
	if ds := r.URL.Query().Get("digest"); ds != "" {
		// Monolithic upload in one request.
		d, err := parseDigest(ds)
		if err != nil {
			return err
		}
		body, err := h.body(w, r, c.Account, h.cfg.MaxBlobSize)
		if err != nil {
			return err
		}
		staged, err := h.cfg.Blobs.Stage(ctx, d, body)
		if err != nil {
			return err
		}
		if r.ContentLength >= 0 && staged.Size() != r.ContentLength {
			staged.Discard()
			return fmt.Errorf("%w: got %d bytes, Content-Length %d", ErrSizeInvalid, staged.Size(), r.ContentLength)
		}
		if err := h.storeBlob(ctx, rt.name, d, staged, c.Account, nil); err != nil {
			return err
		}
		h.log.Debug("blob uploaded", "repo", rt.name, "digest", d, "size", staged.Size())
		blobCreated(w, rt.name, d)
		return nil
	}
	// A cross-repository mount (?mount=&from=) is not supported: fall back
	// to a session, as the spec allows.
	u := upload{ID: newUploadID(), Repo: rt.name, Account: c.Account}
	if err := os.Mkdir(h.sessionDir(u.ID), 0o700); err != nil {
		return fmt.Errorf("distribution: create upload session: %w", err)
	}
	if err := h.createUpload(ctx, u, c.Session); err != nil {
		os.RemoveAll(h.sessionDir(u.ID))
		return err
	}
	uploadAccepted(w, u, http.StatusAccepted)
	return nil
}

// createUpload records session u opened by credential session, unless
// that credential has MaxUploads open already.
func (h *Handler) createUpload(ctx context.Context, u upload, session string) error {
	return pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('distribution.credential:' || $1, 0))`, session); err != nil {
			return fmt.Errorf("distribution: create upload: %w", err)
		}
		var open int
		var oldest *time.Time
		if err := tx.QueryRow(ctx, `SELECT count(*), min(updated_at) FROM distribution.uploads WHERE credential = $1`, session).
			Scan(&open, &oldest); err != nil {
			return fmt.Errorf("distribution: create upload: %w", err)
		}
		if open >= h.cfg.MaxUploads {
			wait := h.cfg.UploadTTL
			if oldest != nil {
				wait = oldest.Add(h.cfg.UploadTTL).Sub(h.cfg.Now())
			}
			return fmt.Errorf("%w: %d upload sessions open with this credential, the most there may be: finish or cancel one (DELETE), or wait for one to expire: %w",
				ErrTooManyRequests, open, &limit.Refusal{What: "upload sessions", After: max(wait, time.Second)})
		}
		rid, err := ensureRepo(ctx, tx, u.Repo)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO distribution.uploads (id, repository_id, account, credential, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $5)`, u.ID, rid, u.Account, session, h.cfg.Now()); err != nil {
			return fmt.Errorf("distribution: create upload in %q: %w", u.Repo, err)
		}
		return nil
	})
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
	u, err := getUpload(r.Context(), h.meta.pool, rt.name, rt.arg)
	if err != nil {
		return err
	}
	uploadAccepted(w, u, http.StatusNoContent)
	return nil
}

// cancelUpload ends a session and deletes its bytes.
func (h *Handler) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := checkUploadID(rt.arg); err != nil {
		return err
	}
	tag, err := h.meta.pool.Exec(r.Context(), `DELETE FROM distribution.uploads u USING distribution.repositories r
		WHERE r.id = u.repository_id AND r.name = $1 AND u.id = $2`, rt.name, rt.arg)
	if err != nil {
		return fmt.Errorf("distribution: cancel upload %s: %w", rt.arg, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: %s", ErrBlobUploadUnknown, rt.arg)
	}
	os.RemoveAll(h.sessionDir(rt.arg))
	w.WriteHeader(http.StatusNoContent)
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
// connection held; then one short transaction appends the part to the
// row if the session still stands where the chunk started (a
// compare-and-set: of two racing chunks one wins, the other's part is
// deleted and it gets 416) and the account's quota allows. A failed chunk
// leaves the session as it was.
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
	body, err := h.body(w, r, u.Account, h.cfg.MaxBlobSize-u.Offset)
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
		if next, err = h.appendPart(r.Context(), u, part, n); err == nil {
			return next, nil
		}
	}
	os.Remove(path)
	return u, err
}

// appendPart adds part, n bytes, to session u if it still stands at
// u.Offset and its account has room, and returns the session after it.
func (h *Handler) appendPart(ctx context.Context, u upload, part string, n int64) (upload, error) {
	err := pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, u.Account); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE distribution.uploads SET "offset" = "offset" + $3, parts = array_append(parts, $4::text), updated_at = $5
			WHERE id = $1 AND "offset" = $2`, u.ID, u.Offset, n, part, h.cfg.Now())
		if err != nil {
			return fmt.Errorf("distribution: upload %s: %w", u.ID, err)
		}
		if tag.RowsAffected() == 0 {
			return moved(ctx, tx, u)
		}
		return h.checkQuota(ctx, tx, u.Account, n)
	})
	if err != nil {
		return u, err
	}
	u.Offset += n
	u.Parts = append(u.Parts[:len(u.Parts):len(u.Parts)], part)
	return u, nil
}

// getUpload reads session id of repo. An unknown session is
// ErrBlobUploadUnknown.
func getUpload(ctx context.Context, q querier, repo, id string) (upload, error) {
	return scanUpload(q.QueryRow(ctx, `SELECT u."offset", u.parts, u.account FROM distribution.uploads u
		JOIN distribution.repositories r ON r.id = u.repository_id WHERE r.name = $1 AND u.id = $2`, repo, id), repo, id)
}

// touchUpload is getUpload that marks the session active at now (see
// Config.UploadTTL).
func touchUpload(ctx context.Context, q querier, repo, id string, now time.Time) (upload, error) {
	return scanUpload(q.QueryRow(ctx, `UPDATE distribution.uploads u SET updated_at = $3 FROM distribution.repositories r
		WHERE r.id = u.repository_id AND r.name = $1 AND u.id = $2 RETURNING u."offset", u.parts, u.account`, repo, id, now), repo, id)
}

func scanUpload(row pgx.Row, repo, id string) (upload, error) {
	u := upload{ID: id, Repo: repo}
	err := row.Scan(&u.Offset, &u.Parts, &u.Account)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("%w: %s", ErrBlobUploadUnknown, id)
	}
	if err != nil {
		return u, fmt.Errorf("distribution: upload %s: %w", id, err)
	}
	return u, nil
}

// moved explains why session u no longer stands where it stood: another
// request moved or ended it.
func moved(ctx context.Context, q querier, u upload) error {
	now, err := getUpload(ctx, q, u.Repo, u.ID)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: upload %s is at %d, not %d (a concurrent request)", ErrRangeInvalid, u.ID, now.Offset, u.Offset)
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
	u, err := touchUpload(r.Context(), h.meta.pool, rt.name, rt.arg, h.cfg.Now())
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
// staging the bytes for the blob store and stores the blob, ending the
// session; no database connection is held while the body or the parts
// are read. A digest mismatch ends the session too, storing nothing.
func (h *Handler) finishUpload(w http.ResponseWriter, r *http.Request, rt route) error {
	if err := checkUploadID(rt.arg); err != nil {
		return err
	}
	d, err := parseDigest(r.URL.Query().Get("digest"))
	if err != nil {
		return err
	}
	ctx := r.Context()
	u, err := touchUpload(ctx, h.meta.pool, rt.name, rt.arg, h.cfg.Now())
	if err != nil {
		return err
	}
	if u, err = h.appendChunk(w, r, u); err != nil {
		return err // the session stays, as it was
	}
	staged, err := h.cfg.Blobs.Stage(ctx, d, h.sessionReader(u))
	switch {
	case errors.Is(err, ErrDigestInvalid):
		if _, eerr := h.meta.pool.Exec(ctx, `DELETE FROM distribution.uploads WHERE id = $1 AND "offset" = $2`, u.ID, u.Offset); eerr != nil {
			return fmt.Errorf("distribution: upload %s: %w", u.ID, eerr)
		}
		os.RemoveAll(h.sessionDir(u.ID))
		return err
	case err != nil:
		return err
	}
	if err := h.storeBlob(ctx, rt.name, d, staged, "", &u); err != nil {
		return err
	}
	os.RemoveAll(h.sessionDir(u.ID))
	h.log.Debug("blob uploaded", "repo", rt.name, "digest", d)
	blobCreated(w, rt.name, d)
	return nil
}

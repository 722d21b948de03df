package distribution

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	f, _, err := h.openBlob(r.Context(), rt.name, d)
	if err != nil {
		return err
	}
	defer f.Close()
	hd := w.Header()
	hd.Set("Content-Type", "application/octet-stream")
	hd.Set("Docker-Content-Digest", d.String())
	hd.Set("ETag", `"`+d.String()+`"`)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}

// OpenBlob opens blob d of repo for reading (seekable) and returns its
// size: an error wrapping ErrBlobUnknown if repo does not link it. The
// caller closes it. The digest was verified on upload; a stored size
// that disagrees with the recorded one is refused.
func (h *Handler) OpenBlob(ctx context.Context, repo, d string) (io.ReadSeekCloser, int64, error) {
	dg, err := parseDigest(d)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", ErrBlobUnknown, err)
	}
	return h.openBlob(ctx, repo, dg)
}

func (h *Handler) openBlob(ctx context.Context, repo string, d digest.Digest) (io.ReadSeekCloser, int64, error) {
	size, err := h.meta.blobSize(ctx, repo, d)
	if err != nil {
		return nil, 0, err
	}
	f, stored, err := h.cfg.Blobs.Open(ctx, d)
	if err != nil {
		return nil, 0, err
	}
	if stored != size {
		f.Close()
		// Verified on upload, so the store was damaged since: never serve it.
		h.log.Error("stored blob has the wrong size", "digest", d, "stored", stored, "recorded", size)
		return nil, 0, fmt.Errorf("distribution: blob %s is damaged in the store", d)
	}
	return f, size, nil
}

// blobCreated answers a finished upload.
func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	w.Header().Set("Location", "/v2/"+name+"/blobs/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// storeBlob makes staged blob d part of the registry: it ends upload
// session end (if not nil; its repository and account then apply),
// records the blob, commits the staged bytes and links the blob to repo
// for account, in one short transaction. A new link must fit the account's
// quota; a session's bytes were charged as they came.
//
// The transaction holds the blob's lock from before the staged bytes are
// committed to after the link is, which is what keeps Collect from
// deleting the file of a blob being linked (see Collect).
func (h *Handler) storeBlob(ctx context.Context, repo string, d digest.Digest, staged Staged, account string, end *upload) error {
	err := pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
		var id int64
		var err error
		if end != nil {
			err := tx.QueryRow(ctx, `DELETE FROM distribution.uploads WHERE id = $1 AND "offset" = $2 RETURNING repository_id, account`,
				end.ID, end.Offset).Scan(&id, &account)
			if errors.Is(err, pgx.ErrNoRows) {
				return moved(ctx, tx, *end)
			}
			if err != nil {
				return fmt.Errorf("distribution: upload %s: %w", end.ID, err)
			}
		} else {
			if err := lockAccount(ctx, tx, account); err != nil {
				return err
			}
			if id, err = ensureRepo(ctx, tx, repo); err != nil {
				return err
			}
		}
		if err := lockBlob(ctx, tx, d); err != nil {
			return err
		}
		now := h.cfg.Now()
		if _, err := tx.Exec(ctx, `INSERT INTO distribution.blobs (digest, size, stored_at) VALUES ($1, $2, $3)
			ON CONFLICT (digest) DO UPDATE SET stored_at = EXCLUDED.stored_at`, d.String(), staged.Size(), now); err != nil {
			return fmt.Errorf("distribution: record blob %s: %w", d, err)
		}
		if err := staged.Commit(ctx); err != nil {
			return err
		}
		var inserted bool
		if err := tx.QueryRow(ctx, `INSERT INTO distribution.repository_blobs (repository_id, digest, size, account, touched_at)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repository_id, digest) DO UPDATE SET touched_at = EXCLUDED.touched_at
			RETURNING xmax = 0`, id, d.String(), staged.Size(), account, now).Scan(&inserted); err != nil {
			return fmt.Errorf("distribution: link blob %s to %q: %w", d, repo, err)
		}
		if inserted && end == nil {
			return h.checkQuota(ctx, tx, account, staged.Size())
		}
		return nil
	})
	staged.Discard()
	return err
}

// deleteBlob removes a blob from a repository (its file goes with
// Collect, once no repository links it). A blob a manifest of the
// repository references is not deleted: 405, delete the manifest first.
func (h *Handler) deleteBlob(w http.ResponseWriter, r *http.Request, rt route, c Client) error {
	if h.cfg.DisableDelete {
		return fmt.Errorf("%w: deletion is disabled", ErrUnsupported)
	}
	d, err := parseDigest(rt.arg)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBlobUnknown, err)
	}
	ctx := r.Context()
	err = pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
		id, err := repoID(ctx, tx, rt.name)
		if err != nil {
			return err
		}
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM distribution.repository_blobs WHERE repository_id = $1 AND digest = $2 FOR UPDATE`,
			id, d.String()).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("%w: %s", ErrBlobUnknown, d)
		}
		if err != nil {
			return fmt.Errorf("distribution: delete blob %s: %w", d, err)
		}
		user, err := referrer(ctx, tx, id, "blob", d)
		if err != nil {
			return err
		}
		if user != "" {
			return fmt.Errorf("%w: blob %s is referenced by manifest %s: delete the manifest first", ErrUnsupported, d, user)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM distribution.repository_blobs WHERE repository_id = $1 AND digest = $2`, id, d.String()); err != nil {
			return fmt.Errorf("distribution: delete blob %s: %w", d, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	h.meta.links.forget(linkKey(rt.name, d))
	h.deleted(w, r, c, rt.name, "blob", d.String())
	return nil
}

// deleted answers a deletion (202), logs and reports it.
func (h *Handler) deleted(w http.ResponseWriter, r *http.Request, c Client, repo, what, ref string) {
	h.log.Info("deleted", "repo", repo, "what", what, "ref", ref)
	if h.cfg.ContentDeleted != nil {
		h.cfg.ContentDeleted(r, c, repo, what, ref)
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
}

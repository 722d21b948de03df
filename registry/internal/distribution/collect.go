package distribution

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/opencontainers/go-digest"
)

// Collected counts what one Collect removed.
type Collected struct {
	Sessions int   // expired upload sessions (and their files)
	Strays   int   // entries of the upload folder no session owned
	Links    int   // repository links to blobs nothing referenced
	Blobs    int   // blob files no repository linked
	Bytes    int64 // their bytes
}

// collectBatch bounds the candidates one query of Collect returns; it
// loops until none is left.
const collectBatch = 500

// Collect ends expired upload sessions and collects garbage: blob links
// that no manifest of their repository references, then blob files that
// no repository links. Run it on a timer; it is safe to run while the
// registry serves, and on several replicas at once.
//
// What it removes:
//
//   - upload sessions idle for longer than Config.UploadTTL, with their
//     folders, and whatever else the upload folder holds that no session
//     owns and that is older than UploadTTL;
//   - links last used (uploaded, or named by a pushed manifest) longer ago
//     than Config.Grace that no manifest of their repository references:
//     what a deleted manifest used, or a push abandoned before its
//     manifest;
//   - blobs that no repository links and that were stored longer ago than
//     Grace: their file and their record; and files in the blob store that
//     have no record, older than Grace (left by a crash), with what
//     interrupted stores left behind.
//
// Nothing a manifest references is removed, and manifests are removed only
// by DELETE. Why a push racing Collect cannot lose a blob: a manifest push
// updates (so locks) the link of every blob it names before it commits;
// Collect locks a link before deleting it, and checks for references in a
// new statement after the lock, which sees a manifest committed while it
// waited. A blob's file is deleted, and stored, only under the blob's
// advisory lock, in the transaction that deletes, or creates, its record
// and links: storeBlob commits the staged file after taking the lock, so
// either Collect deleted the file first (and the store writes it again)
// or Collect finds the blob linked and keeps it.
func (h *Handler) Collect(ctx context.Context) (Collected, error) {
	var c Collected
	now := h.cfg.Now()
	if err := h.collectSessions(ctx, now, &c); err != nil {
		return c, err
	}
	if err := h.collectLinks(ctx, now.Add(-h.cfg.Grace), &c); err != nil {
		return c, err
	}
	if err := h.collectBlobs(ctx, now.Add(-h.cfg.Grace), &c); err != nil {
		return c, err
	}
	if err := h.cfg.Blobs.Sweep(ctx, now.Add(-h.cfg.UploadTTL)); err != nil {
		return c, err
	}
	if c != (Collected{}) {
		h.log.Info("collected", "sessions", c.Sessions, "strays", c.Strays, "links", c.Links, "blobs", c.Blobs, "bytes", c.Bytes)
	}
	return c, nil
}

func (h *Handler) collectSessions(ctx context.Context, now time.Time, c *Collected) error {
	cutoff := now.Add(-h.cfg.UploadTTL)
	rows, err := h.meta.pool.Query(ctx, `DELETE FROM distribution.uploads WHERE updated_at < $1 RETURNING id`, cutoff)
	if err != nil {
		return fmt.Errorf("distribution: expire uploads: %w", err)
	}
	expired, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("distribution: expire uploads: %w", err)
	}
	for _, id := range expired {
		if err := os.RemoveAll(h.sessionDir(id)); err != nil {
			return fmt.Errorf("distribution: expire upload %s: %w", id, err)
		}
	}
	c.Sessions += len(expired)
	// Whatever else is old and owned by no session: crashed starts, the
	// single files of the layout before parts.
	des, err := os.ReadDir(h.cfg.UploadDir)
	if err != nil {
		return fmt.Errorf("distribution: upload folder: %w", err)
	}
	var old []string
	for _, de := range des {
		if fi, err := de.Info(); err == nil && fi.ModTime().Before(cutoff) {
			old = append(old, de.Name())
		}
	}
	if len(old) == 0 {
		return nil
	}
	rows, err = h.meta.pool.Query(ctx, `SELECT id FROM distribution.uploads WHERE id = ANY($1)`, old)
	if err != nil {
		return fmt.Errorf("distribution: upload folder: %w", err)
	}
	live, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("distribution: upload folder: %w", err)
	}
	owned := map[string]bool{}
	for _, id := range live {
		owned[id] = true
	}
	for _, name := range old {
		if !owned[name] {
			if err := os.RemoveAll(filepath.Join(h.cfg.UploadDir, name)); err != nil {
				return fmt.Errorf("distribution: upload folder: %w", err)
			}
			c.Strays++
		}
	}
	return nil
}

// collectLinks deletes links untouched since cutoff that no manifest of
// their repository references.
func (h *Handler) collectLinks(ctx context.Context, cutoff time.Time, c *Collected) error {
	type link struct {
		repo   int64
		name   string
		digest string
	}
	for {
		rows, err := h.meta.pool.Query(ctx, `SELECT b.repository_id, r.name, b.digest FROM distribution.repository_blobs b
			JOIN distribution.repositories r ON r.id = b.repository_id
			WHERE b.touched_at < $1 AND NOT EXISTS (SELECT 1 FROM distribution.manifest_refs m
				WHERE m.repository_id = b.repository_id AND m.kind = 'blob' AND m.digest = b.digest)
			LIMIT $2`, cutoff, collectBatch)
		if err != nil {
			return fmt.Errorf("distribution: collect links: %w", err)
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (link, error) {
			var l link
			return l, r.Scan(&l.repo, &l.name, &l.digest)
		})
		if err != nil {
			return fmt.Errorf("distribution: collect links: %w", err)
		}
		deleted := 0
		for _, l := range batch {
			err := pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
				var one int
				err := tx.QueryRow(ctx, `SELECT 1 FROM distribution.repository_blobs
					WHERE repository_id = $1 AND digest = $2 AND touched_at < $3 FOR UPDATE`, l.repo, l.digest, cutoff).Scan(&one)
				if errors.Is(err, pgx.ErrNoRows) {
					return errKept // gone, or used meanwhile
				}
				if err != nil {
					return err
				}
				if user, err := referrer(ctx, tx, l.repo, "blob", digest.Digest(l.digest)); err != nil || user != "" {
					return cmp.Or(err, errKept)
				}
				_, err = tx.Exec(ctx, `DELETE FROM distribution.repository_blobs WHERE repository_id = $1 AND digest = $2`, l.repo, l.digest)
				return err
			})
			switch {
			case errors.Is(err, errKept):
			case err != nil:
				return fmt.Errorf("distribution: collect link %s in %q: %w", l.digest, l.name, err)
			default:
				h.meta.links.forget(linkKey(l.name, digest.Digest(l.digest)))
				deleted++
			}
		}
		c.Links += deleted
		if len(batch) < collectBatch || deleted == 0 {
			return nil
		}
	}
}

// errKept ends a collection transaction that found its candidate in use.
var errKept = errors.New("distribution: kept")

// collectBlobs deletes blobs stored before cutoff that no repository
// links, then files of the store without a record.
func (h *Handler) collectBlobs(ctx context.Context, cutoff time.Time, c *Collected) error {
	for {
		rows, err := h.meta.pool.Query(ctx, `SELECT digest FROM distribution.blobs b WHERE stored_at < $1
			AND NOT EXISTS (SELECT 1 FROM distribution.repository_blobs l WHERE l.digest = b.digest) LIMIT $2`, cutoff, collectBatch)
		if err != nil {
			return fmt.Errorf("distribution: collect blobs: %w", err)
		}
		batch, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("distribution: collect blobs: %w", err)
		}
		deleted := 0
		for _, d := range batch {
			n, ok, err := h.deleteBlobFile(ctx, digest.Digest(d), cutoff, true)
			if err != nil {
				return err
			}
			if ok {
				deleted++
				c.Bytes += n
			}
		}
		c.Blobs += deleted
		if len(batch) < collectBatch || deleted == 0 {
			break
		}
	}
	// Files without a record.
	var orphans []digest.Digest
	err := h.cfg.Blobs.Walk(ctx, func(d digest.Digest, _ int64, written time.Time) error {
		if written.Before(cutoff) {
			orphans = append(orphans, d)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for len(orphans) > 0 {
		n := min(len(orphans), collectBatch)
		names := make([]string, n)
		for i, d := range orphans[:n] {
			names[i] = d.String()
		}
		rows, err := h.meta.pool.Query(ctx, `SELECT digest FROM distribution.blobs WHERE digest = ANY($1)`, names)
		if err != nil {
			return fmt.Errorf("distribution: collect blobs: %w", err)
		}
		recorded, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return fmt.Errorf("distribution: collect blobs: %w", err)
		}
		known := map[string]bool{}
		for _, d := range recorded {
			known[d] = true
		}
		for _, d := range orphans[:n] {
			if known[d.String()] {
				continue
			}
			n, ok, err := h.deleteBlobFile(ctx, d, cutoff, false)
			if err != nil {
				return err
			}
			if ok {
				c.Blobs++
				c.Bytes += n
			}
		}
		orphans = orphans[n:]
	}
	return nil
}

// deleteBlobFile deletes blob d's file, and its record when recorded, if
// under the blob's lock it is still unlinked and stored before cutoff (or,
// for a file without a record, still without one). It reports whether it
// deleted, and how many bytes.
func (h *Handler) deleteBlobFile(ctx context.Context, d digest.Digest, cutoff time.Time, recorded bool) (int64, bool, error) {
	var size int64
	err := pgx.BeginFunc(ctx, h.meta.pool, func(tx pgx.Tx) error {
		if err := lockBlob(ctx, tx, d); err != nil {
			return err
		}
		var stored *time.Time
		var linked bool
		err := tx.QueryRow(ctx, `SELECT (SELECT stored_at FROM distribution.blobs WHERE digest = $1),
			EXISTS (SELECT 1 FROM distribution.repository_blobs WHERE digest = $1)`, d.String()).Scan(&stored, &linked)
		if err != nil {
			return err
		}
		switch {
		case linked, recorded && (stored == nil || !stored.Before(cutoff)), !recorded && stored != nil:
			return errKept
		}
		if size, err = h.cfg.Blobs.Stat(ctx, d); errors.Is(err, ErrBlobUnknown) {
			size = 0
		} else if err != nil {
			return err
		}
		if err := h.cfg.Blobs.Delete(ctx, d); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM distribution.blobs WHERE digest = $1`, d.String())
		return err
	})
	switch {
	case errors.Is(err, errKept):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("distribution: collect blob %s: %w", d, err)
	}
	h.log.Debug("blob collected", "digest", d, "size", size)
	return size, true, nil
}

package movelink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Incoming is the archive a target receives, as the owner sees it.
type Incoming struct {
	ID       string
	Source   string // "upload" or "link"
	Origin   string // upload: the file's name; link: its host, never its token
	Size     int64  // 0 while a fetch has not learnt it
	Received int64
	Created  time.Time
	Updated  time.Time
	Complete bool
}

// Percent is how much was received, 0 to 100.
func (in *Incoming) Percent() int {
	if in.Size <= 0 {
		return 0
	}
	return int(in.Received * 100 / in.Size)
}

// incomingRow is the newest incoming archive with the link's full URL.
type incomingRow struct {
	Incoming
	url, etag string
}

// Current is the newest incoming archive, nil when there is none.
func (s *Store) Current(ctx context.Context) (*Incoming, error) {
	row, err := s.current(ctx, "")
	if err != nil || row == nil {
		return nil, err
	}
	return &row.Incoming, nil
}

// current reads the newest incoming archive (id "") or the one of id,
// nil when there is none.
func (s *Store) current(ctx context.Context, id string) (*incomingRow, error) {
	var r incomingRow
	var size *int64
	var completed *time.Time
	err := s.cfg.Pool.QueryRow(ctx, `SELECT id, source, origin, etag, size, received, created_at, updated_at, completed_at
		FROM websonic.move_incoming WHERE $1 = '' OR id = $1 ORDER BY created_at DESC, id LIMIT 1`, id).
		Scan(&r.ID, &r.Source, &r.url, &r.etag, &size, &r.Received, &r.Created, &r.Updated, &completed)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("movelink: read the incoming archive: %w", err)
	}
	if size != nil {
		r.Size = *size
	}
	r.Complete = completed != nil
	r.Origin = r.url
	if r.Source == "link" {
		r.Origin = redactLink(r.url)
	}
	return &r, nil
}

// Path is the file of a complete incoming archive id (ErrNotFound when
// it is not the newest or not complete).
func (s *Store) Path(ctx context.Context, id string) (string, error) {
	row, err := s.current(ctx, "")
	if err != nil {
		return "", err
	}
	if row == nil || row.ID != id || !row.Complete {
		return "", ErrNotFound
	}
	return s.file(id), nil
}

func (s *Store) file(id string) string { return filepath.Join(s.IncomingDir(), id+".age") }

// begin records a new incoming archive, removing every older one and its
// file.
func (s *Store) begin(ctx context.Context, actor int64, source, origin string, size int64) (string, error) {
	if err := mkdir(s.IncomingDir()); err != nil {
		return "", err
	}
	id := randomID(16)
	var sz *int64
	if size > 0 {
		sz = &size
	}
	var old []string
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `DELETE FROM websonic.move_incoming RETURNING id`)
		if err != nil {
			return err
		}
		if old, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO websonic.move_incoming (id, source, origin, size, created_by)
			VALUES ($1, $2, $3, $4, NULLIF($5, 0))`, id, source, origin, sz, actor)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("movelink: record the incoming archive: %w", err)
	}
	for _, o := range old {
		s.claim(func() bool { delete(s.writing, o); return true })
		os.Remove(s.file(o))
	}
	f, err := os.OpenFile(s.file(id), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("movelink: %w", err)
	}
	return id, f.Close()
}

// NewUpload starts an upload of an archive of size bytes named name (for
// the owner's eyes), replacing any other incoming archive; audited
// (site.import_upload).
func (s *Store) NewUpload(ctx context.Context, actor int64, name string, size int64) (string, error) {
	if size <= 0 {
		return "", errors.New("movelink: the upload's size must be positive")
	}
	if size > s.cfg.MaxArchive {
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, size, s.cfg.MaxArchive)
	}
	name = filepath.Base(strings.TrimSpace(name))
	if len(name) > 200 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		name = "archive"
	}
	id, err := s.begin(ctx, actor, "upload", name, size)
	if err != nil {
		return "", err
	}
	s.audit(ctx, actor, "site.import_upload", id, map[string]any{"event": "started", "size": size, "name": name})
	return id, nil
}

// PutChunk writes the chunk cr of upload id from body and returns the
// bytes received since its start. The chunk must start where they end
// (else an *OffsetError says where) and be at most Config.MaxChunk; a
// chunk already received in full is acknowledged again (a retried
// request). A short body changes nothing.
func (s *Store) PutChunk(ctx context.Context, actor int64, id string, cr ContentRange, body io.Reader) (int64, error) {
	if cr.Len() > s.cfg.MaxChunk {
		return 0, fmt.Errorf("%w: a chunk is at most %d bytes", ErrTooLarge, s.cfg.MaxChunk)
	}
	if !s.claim(func() bool {
		if s.writing[id] {
			return false
		}
		s.writing[id] = true
		return true
	}) {
		// Say where the upload stands, so that a client retrying early
		// (before this server noticed its cut) goes on from there.
		if row, err := s.current(ctx, ""); err == nil && row != nil && row.ID == id {
			return row.Received, ErrBusy
		}
		return 0, ErrBusy
	}
	defer s.claim(func() bool { delete(s.writing, id); return true })
	row, err := s.current(ctx, "")
	if err != nil {
		return 0, err
	}
	if row == nil || row.ID != id || row.Source != "upload" {
		return 0, ErrNotFound
	}
	if cr.Total != row.Size {
		return 0, fmt.Errorf("%w: the upload is of %d bytes, the chunk says %d", ErrContentRange, row.Size, cr.Total)
	}
	if cr.Last < row.Received { // already here: a retried request
		return row.Received, nil
	}
	if row.Complete {
		return row.Received, ErrDone
	}
	if cr.First != row.Received {
		return row.Received, &OffsetError{Received: row.Received}
	}
	if err := s.write(id, cr.First, cr.Len(), body); err != nil {
		return row.Received, err
	}
	return s.advance(ctx, actor, row, cr.Last+1)
}

// write writes n bytes of body at off of id's file, synced; on a short
// body it cuts the file back to off.
func (s *Store) write(id string, off, n int64, body io.Reader) error {
	f, err := os.OpenFile(s.file(id), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("movelink: %w", err)
	}
	defer f.Close()
	got, err := io.Copy(io.NewOffsetWriter(f, off), io.LimitReader(body, n))
	if err == nil && got != n {
		err = fmt.Errorf("movelink: the chunk ended after %d of %d bytes", got, n)
	}
	if err == nil {
		var extra [1]byte
		if k, _ := body.Read(extra[:]); k > 0 {
			err = fmt.Errorf("movelink: the chunk is longer than its Content-Range says")
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Truncate(off)
		return err
	}
	return nil
}

// advance records that id's file holds its first received bytes.
func (s *Store) advance(ctx context.Context, actor int64, row *incomingRow, received int64) (int64, error) {
	var complete bool
	err := s.cfg.Pool.QueryRow(ctx, `UPDATE websonic.move_incoming SET received = $2, updated_at = now(),
			completed_at = CASE WHEN $2 = size THEN now() END
		WHERE id = $1 RETURNING completed_at IS NOT NULL`, row.ID, received).Scan(&complete)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, ErrNotFound // replaced meanwhile
	} else if err != nil {
		return 0, fmt.Errorf("movelink: record the received bytes: %w", err)
	}
	if complete {
		s.log.Info("incoming archive complete", "id", row.ID, "source", row.Source, "bytes", received)
		s.audit(ctx, actor, "site.import_upload", row.ID, map[string]any{"event": "complete", "source": row.Source, "size": received})
	}
	return received, nil
}

// CheckLink says whether raw is a link Fetch may use: http(s), a host,
// and https unless the host is a loopback address or the Store allows
// plain HTTP.
func (s *Store) CheckLink(raw string) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.User != nil || len(raw) > 2048 {
		return nil, fmt.Errorf("%w: paste the whole https:// link the source site's admin area gave", ErrURL)
	}
	if u.Scheme == "http" && !s.cfg.AllowPlainHTTP {
		host := u.Hostname()
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("%w: the link must be https://", ErrURL)
		}
	}
	return u, nil
}

// redactLink is a link without its token, for pages and logs.
func redactLink(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(link)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// StartFetch records a new incoming archive to download from link
// (CheckLink), replacing any other; Fetch then downloads it. Audited
// (site.import_upload).
func (s *Store) StartFetch(ctx context.Context, actor int64, link string) (string, error) {
	u, err := s.CheckLink(link)
	if err != nil {
		return "", err
	}
	id, err := s.begin(ctx, actor, "link", u.String(), 0)
	if err != nil {
		return "", err
	}
	s.audit(ctx, actor, "site.import_upload", id, map[string]any{"event": "fetch", "from": redactLink(u.String())})
	return id, nil
}

// Progress reports a transfer: done of total bytes (total 0: unknown).
type Progress func(done, total int64)

// Fetch downloads incoming archive id (StartFetch) from its link,
// continuing from the bytes already received: after a cut it resumes with
// Range and If-Range, pausing longer after each failed attempt; it gives
// up after Config.Retries failures in a row without progress, or at once
// when the link answers it is spent (ErrGone) or the archive is too large.
func (s *Store) Fetch(ctx context.Context, actor int64, id string, progress Progress) error {
	if !s.claim(func() bool {
		if s.writing[id] {
			return false
		}
		s.writing[id] = true
		return true
	}) {
		return ErrBusy
	}
	defer s.claim(func() bool { delete(s.writing, id); return true })
	failures := 0
	pause := time.Second
	for {
		row, err := s.current(ctx, id)
		if err != nil {
			return err
		}
		if row == nil || row.Source != "link" {
			return ErrNotFound
		}
		if row.Complete {
			return nil
		}
		before := row.Received
		err = s.fetchOnce(ctx, actor, row, progress)
		if err == nil {
			continue // the next pass sees it complete, or asks for the rest
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return perm.err
		}
		if now, _ := s.current(ctx, id); now != nil && now.Received > before {
			failures = 0
			pause = time.Second
		}
		failures++
		if failures >= s.cfg.Retries {
			return fmt.Errorf("movelink: the download failed %d times in a row: %w", failures, err)
		}
		s.log.Warn("the download was cut; resuming", "id", id, "error", err, "pause", pause)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pause):
		}
		pause = min(2*pause, s.cfg.MaxPause)
	}
}

// permanentError is a fetch failure that retrying cannot mend.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }

// fetchOnce makes one request for the rest of row's archive and writes
// what arrives, recording progress every few MiB.
func (s *Store) fetchOnce(ctx context.Context, actor int64, row *incomingRow, progress Progress) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, row.url, nil)
	if err != nil {
		return &permanentError{fmt.Errorf("%w: %v", ErrURL, err)}
	}
	if row.Received > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", row.Received))
		if row.etag != "" {
			req.Header.Set("If-Range", row.etag)
		}
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var start, total int64
	switch resp.StatusCode {
	case http.StatusOK:
		start, total = 0, resp.ContentLength
	case http.StatusPartialContent:
		cr, err := ParseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || cr.Last != cr.Total-1 || cr.First != row.Received {
			return &permanentError{fmt.Errorf("movelink: the source answered with another range (%q) than asked", resp.Header.Get("Content-Range"))}
		}
		start, total = cr.First, cr.Total
	case http.StatusGone, http.StatusNotFound:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return &permanentError{fmt.Errorf("%w (the source said: %s): make a new link on the source site", ErrGone, strings.TrimSpace(string(msg)))}
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		err := fmt.Errorf("movelink: the source answered %s: %s", resp.Status, strings.TrimSpace(string(msg)))
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusConflict || resp.StatusCode == http.StatusTooManyRequests {
			return err // try again
		}
		return &permanentError{err}
	}
	if total <= 0 {
		return &permanentError{errors.New("movelink: the source did not say the archive's size")}
	}
	if total > s.cfg.MaxArchive {
		return &permanentError{fmt.Errorf("%w: %d bytes, at most %d", ErrTooLarge, total, s.cfg.MaxArchive)}
	}
	if row.Size != 0 && total != row.Size {
		return &permanentError{fmt.Errorf("movelink: the archive's size changed from %d to %d bytes: start again", row.Size, total)}
	}
	etag := resp.Header.Get("ETag")
	if _, err := s.cfg.Pool.Exec(ctx, `UPDATE websonic.move_incoming SET size = $2, etag = $3, received = LEAST(received, $4), updated_at = now()
		WHERE id = $1`, row.ID, total, etag[:min(len(etag), 200)], start); err != nil {
		return fmt.Errorf("movelink: %w", err)
	}
	row.Size, row.Received = total, start
	f, err := os.OpenFile(s.file(row.ID), os.O_WRONLY, 0)
	if err != nil {
		return &permanentError{fmt.Errorf("movelink: %w", err)}
	}
	defer f.Close()
	if err := f.Truncate(start); err != nil {
		return &permanentError{fmt.Errorf("movelink: %w", err)}
	}
	const step = 4 << 20
	buf := make([]byte, 256<<10)
	at, mark := start, start
	body := io.LimitReader(resp.Body, total-start)
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			if _, err := f.WriteAt(buf[:n], at); err != nil {
				return &permanentError{fmt.Errorf("movelink: %w", err)}
			}
			at += int64(n)
			if progress != nil {
				progress(at, total)
			}
		}
		if at-mark >= step || (rerr != nil && at > mark) {
			if err := f.Sync(); err != nil {
				return &permanentError{fmt.Errorf("movelink: %w", err)}
			}
			if _, err := s.advance(ctx, actor, row, at); err != nil {
				return err
			}
			mark = at
		}
		if rerr == io.EOF {
			if at != total {
				return fmt.Errorf("movelink: the download stopped at %d of %d bytes", at, total)
			}
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// StatusOf maps the package's errors to HTTP statuses, for the portal.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrOffset), errors.Is(err, ErrBusy), errors.Is(err, ErrDone):
		return http.StatusConflict
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrContentRange), errors.Is(err, ErrURL):
		return http.StatusBadRequest
	case errors.Is(err, ErrGone):
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

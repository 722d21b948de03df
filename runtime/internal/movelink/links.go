package movelink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// LinkPath is where the site's origin serves links: LinkPath + token.
const LinkPath = "/api/site-move/"

// Link is a link as the owner sees it (never its token).
type Link struct {
	ID        int64
	CreatedAt time.Time
	ExpiresAt time.Time
	// Ready: the export finished and the link serves its archive.
	Ready     bool
	Size      int64
	SHA256    string
	Client    string // the address that uses it ("" none yet)
	Delivered int64
	Completed time.Time // zero until spent
	Revoked   bool
}

// State says the link's state in a word: waiting, ready, in use,
// downloaded, expired, revoked.
func (l *Link) State(now time.Time) string {
	switch {
	case l.Revoked:
		return "revoked"
	case !l.Completed.IsZero():
		return "downloaded"
	case !now.Before(l.ExpiresAt):
		return "expired"
	case !l.Ready:
		return "waiting"
	case l.Client != "":
		return "in use"
	}
	return "ready"
}

// CreateLink makes a new link and returns its token, shown once. With
// reuse it serves the archive of the newest link that has one (ErrNotFound
// when none has); otherwise it waits for Attach. Every other unspent link
// is revoked: one link at a time. actor (the owner) is audited
// (site.export_link).
func (s *Store) CreateLink(ctx context.Context, actor int64, reuse bool) (token string, id int64, err error) {
	raw := make([]byte, 32)
	rand.Read(raw)
	token = base64.RawURLEncoding.EncodeToString(raw)
	err = pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		var archive, sum *string
		var size *int64
		if reuse {
			err := tx.QueryRow(ctx, `SELECT archive, size, sha256 FROM websonic.move_links
				WHERE archive IS NOT NULL ORDER BY id DESC LIMIT 1`).Scan(&archive, &size, &sum)
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrNotFound
			} else if err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE websonic.move_links SET revoked_at = now()
			WHERE revoked_at IS NULL AND completed_at IS NULL`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO websonic.move_links (token_hash, archive, size, sha256, created_by, expires_at)
			VALUES ($1, $2, $3, $4, NULLIF($5, 0), now() + make_interval(secs => $6)) RETURNING id`,
			hashToken(raw), archive, size, sum, actor, s.cfg.LinkTTL.Seconds()).Scan(&id)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return "", 0, err
		}
		return "", 0, fmt.Errorf("movelink: create link: %w", err)
	}
	s.audit(ctx, actor, "site.export_link", strconv.FormatInt(id, 10), map[string]any{"event": "created", "reuse": reuse})
	return token, id, nil
}

// NewestLink is the newest link, nil when there is none.
func (s *Store) NewestLink(ctx context.Context) (*Link, error) {
	var l Link
	var size *int64
	var sum *string
	var client *netip.Addr
	var completed *time.Time
	var revoked *time.Time
	err := s.cfg.Pool.QueryRow(ctx, `SELECT id, created_at, expires_at, size, sha256, client, delivered, completed_at, revoked_at
		FROM websonic.move_links ORDER BY id DESC LIMIT 1`).
		Scan(&l.ID, &l.CreatedAt, &l.ExpiresAt, &size, &sum, &client, &l.Delivered, &completed, &revoked)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("movelink: read link: %w", err)
	}
	if size != nil {
		l.Ready, l.Size, l.SHA256 = true, *size, *sum
	}
	if client != nil {
		l.Client = client.String()
	}
	if completed != nil {
		l.Completed = *completed
	}
	l.Revoked = revoked != nil
	return &l, nil
}

// Archive is an export archive being written under ExportDir; it hashes
// what it writes. Attach gives it to a link; Abort removes it.
type Archive struct {
	f    *os.File
	h    hash.Hash
	n    int64
	name string
}

// CreateArchive starts a new archive file.
func (s *Store) CreateArchive() (*Archive, error) {
	if err := mkdir(s.ExportDir()); err != nil {
		return nil, err
	}
	name := randomID(16) + ".age"
	f, err := os.OpenFile(filepath.Join(s.ExportDir(), name+".part"), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("movelink: %w", err)
	}
	return &Archive{f: f, h: sha256.New(), name: name}, nil
}

func (a *Archive) Write(p []byte) (int, error) {
	n, err := a.f.Write(p)
	a.h.Write(p[:n])
	a.n += int64(n)
	return n, err
}

// Size is the number of bytes written so far.
func (a *Archive) Size() int64 { return a.n }

// Abort closes and removes the archive.
func (a *Archive) Abort() {
	a.f.Close()
	os.Remove(a.f.Name())
}

// Attach finishes archive (synced to disk) and gives it to link id, which
// must still be waiting for one; the archives of older links are removed
// (one export at a time).
func (s *Store) Attach(ctx context.Context, id int64, a *Archive) error {
	if a.n == 0 {
		a.Abort()
		return errors.New("movelink: the archive is empty")
	}
	if err := a.f.Sync(); err != nil {
		a.Abort()
		return fmt.Errorf("movelink: %w", err)
	}
	if err := a.f.Close(); err != nil {
		a.Abort()
		return fmt.Errorf("movelink: %w", err)
	}
	final := filepath.Join(s.ExportDir(), a.name)
	if err := os.Rename(a.f.Name(), final); err != nil {
		os.Remove(a.f.Name())
		return fmt.Errorf("movelink: %w", err)
	}
	tag, err := s.cfg.Pool.Exec(ctx, `UPDATE websonic.move_links SET archive = $2, size = $3, sha256 = $4
		WHERE id = $1 AND archive IS NULL`, id, a.name, a.n, hex.EncodeToString(a.h.Sum(nil)))
	if err == nil && tag.RowsAffected() != 1 {
		err = ErrNotFound
	}
	if err != nil {
		os.Remove(final)
		return fmt.Errorf("movelink: attach the archive to link %d: %w", id, err)
	}
	s.removeStale(ctx, a.name)
	return nil
}

// removeStale removes the export archives other than keep, and revokes
// the links that served them.
func (s *Store) removeStale(ctx context.Context, keep string) {
	if _, err := s.cfg.Pool.Exec(ctx, `UPDATE websonic.move_links SET revoked_at = now()
		WHERE archive <> $1 AND revoked_at IS NULL AND completed_at IS NULL`, keep); err != nil {
		s.log.Error("revoking older links", "error", err)
	}
	entries, _ := os.ReadDir(s.ExportDir())
	for _, e := range entries {
		if e.Name() != keep && e.Name() != keep+".part" && filepath.Ext(e.Name()) == ".age" {
			os.Remove(filepath.Join(s.ExportDir(), e.Name()))
		}
	}
}

// linkRow is a link as ServeLink reads it.
type linkRow struct {
	id        int64
	hash      []byte
	archive   *string
	size      *int64
	sum       *string
	expires   time.Time
	client    *netip.Addr
	delivered int64
	completed bool
	revoked   bool
}

// ServeLink answers a GET or HEAD of the link whose token is token (the
// path's last segment): see the package doc.
func (s *Store) ServeLink(w http.ResponseWriter, r *http.Request, token string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != 32 {
		http.Error(w, "no such link", http.StatusNotFound)
		return
	}
	ctx := r.Context()
	want := hashToken(raw)
	var l linkRow
	err = s.cfg.Pool.QueryRow(ctx, `SELECT id, token_hash, archive, size, sha256, expires_at, client, delivered,
			completed_at IS NOT NULL, revoked_at IS NOT NULL
		FROM websonic.move_links WHERE token_hash = $1`, want).
		Scan(&l.id, &l.hash, &l.archive, &l.size, &l.sum, &l.expires, &l.client, &l.delivered, &l.completed, &l.revoked)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && subtle.ConstantTimeCompare(l.hash, want) != 1) {
		http.Error(w, "no such link", http.StatusNotFound)
		return
	} else if err != nil {
		s.log.Error("reading a link", "error", err)
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	switch {
	case l.completed, l.revoked, !time.Now().Before(l.expires):
		http.Error(w, "this link was used, expired or was revoked: ask the site's owner for a new one", http.StatusGone)
		return
	case l.archive == nil:
		w.Header().Set("Retry-After", "30")
		http.Error(w, "the export is not finished yet: try again in a moment", http.StatusServiceUnavailable)
		return
	}
	client := requestAddr(r)
	if !client.IsValid() {
		http.Error(w, "no client address", http.StatusBadRequest)
		return
	}
	if l.client == nil {
		tag, err := s.cfg.Pool.Exec(ctx, `UPDATE websonic.move_links SET client = $2 WHERE id = $1 AND client IS NULL`, l.id, client)
		if err != nil {
			s.log.Error("claiming a link", "error", err)
			http.Error(w, "internal server error", http.StatusInternalServerError)
			return
		}
		if tag.RowsAffected() == 1 {
			l.client = &client
			s.audit(ctx, 0, "site.export_link", strconv.FormatInt(l.id, 10), map[string]any{"event": "claimed", "ip": client.String()})
		} else if err := s.cfg.Pool.QueryRow(ctx, `SELECT client FROM websonic.move_links WHERE id = $1`, l.id).Scan(&l.client); err != nil {
			http.Error(w, "internal server error", http.StatusInternalServerError)
			return
		}
	}
	if *l.client != client {
		s.log.Warn("link refused: another client uses it", "link", l.id, "client", client)
		http.Error(w, "this link is used by another client: ask the site's owner for a new one", http.StatusGone)
		return
	}
	if !s.claim(func() bool {
		if s.serving[l.id] {
			return false
		}
		s.serving[l.id] = true
		return true
	}) {
		http.Error(w, "a download of this link is running: wait for it to end, then resume", http.StatusConflict)
		return
	}
	defer s.claim(func() bool { delete(s.serving, l.id); return true })
	s.send(w, r, &l)
}

// send writes l's archive, the range r asks for, and counts what it
// delivered.
func (s *Store) send(w http.ResponseWriter, r *http.Request, l *linkRow) {
	size := *l.size
	etag := `"` + *l.sum + `"`
	h := w.Header()
	h.Set("ETag", etag)
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="websonic-site-move.age"`)
	rangeHdr := r.Header.Get("Range")
	if ir := r.Header.Get("If-Range"); ir != "" && ir != etag {
		rangeHdr = "" // the archive changed: the whole of it
	}
	first, last, whole, err := parseRange(rangeHdr, size)
	if err != nil {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		http.Error(w, "range not satisfiable", http.StatusRequestedRangeNotSatisfiable)
		return
	}
	if first > l.delivered {
		// A resume continues where the delivered bytes end: a range
		// beyond would let the archive be read in pieces (the tail, then
		// the head) without the link ever being spent.
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		http.Error(w, fmt.Sprintf("a download of this link resumes at byte %d at the latest", l.delivered), http.StatusRequestedRangeNotSatisfiable)
		return
	}
	f, err := os.Open(filepath.Join(s.ExportDir(), *l.archive))
	if err != nil {
		s.log.Error("opening a link's archive", "link", l.id, "error", err)
		http.Error(w, "the archive is gone: ask the site's owner for a new export", http.StatusGone)
		return
	}
	defer f.Close()
	if _, err := f.Seek(first, io.SeekStart); err != nil {
		http.Error(w, "internal server error", http.StatusInternalServerError)
		return
	}
	n := last - first + 1
	h.Set("Content-Length", strconv.FormatInt(n, 10))
	status := http.StatusOK
	if !whole {
		status = http.StatusPartialContent
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", first, last, size))
	}
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return
	}
	sent, err := io.CopyN(w, f, n)
	if err == nil {
		err = http.NewResponseController(w).Flush()
	}
	if sent == 0 {
		return
	}
	s.delivered(r.Context(), l, first, first+sent, err == nil && first+sent == size)
}

// delivered records bytes [from, to) as sent; the link is spent when the
// bytes without a gap from the start reach its size.
func (s *Store) delivered(ctx context.Context, l *linkRow, from, to int64, reachedEnd bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var delivered int64
	var completed bool
	err := s.cfg.Pool.QueryRow(ctx, `UPDATE websonic.move_links
		SET delivered = CASE WHEN delivered >= $2 THEN GREATEST(delivered, $3) ELSE delivered END,
		    completed_at = CASE WHEN delivered >= $2 AND $3 >= size AND $4 THEN now() ELSE completed_at END
		WHERE id = $1 RETURNING delivered, completed_at IS NOT NULL`, l.id, from, to, reachedEnd).Scan(&delivered, &completed)
	if err != nil {
		s.log.Error("recording a link's delivery", "link", l.id, "error", err)
		return
	}
	if completed {
		s.log.Info("a one-time link was downloaded in full; it is spent", "link", l.id)
		s.audit(ctx, 0, "site.export_link", strconv.FormatInt(l.id, 10), map[string]any{"event": "downloaded", "ip": l.client.String(), "bytes": delivered})
	}
}

// requestAddr is r's client address (RemoteAddr, which the runtime's
// clientaddr middleware has set to the client).
func requestAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

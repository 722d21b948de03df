package movelink

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/coredb"
)

// Config configures a Store. Zero fields take the defaults shown.
type Config struct {
	Pool    *pgxpool.Pool // required, migrated (021_move_links.sql)
	DataDir string        // required: the site's data dir
	// MaxArchive caps an archive's size, uploaded or fetched (64 GiB).
	MaxArchive int64
	// MaxChunk caps one upload chunk (16 MiB; the portal's page sends 8 MiB).
	MaxChunk int64
	// LinkTTL is how long a link stays usable (24 hours).
	LinkTTL time.Duration
	// Client fetches links (a client that follows no redirect, with no
	// overall timeout: an archive may take hours).
	Client *http.Client
	// Retries is how many failed attempts in a row, without a byte of
	// progress, end a fetch (8); the pause between them grows from 1s to
	// MaxPause (30s).
	Retries  int
	MaxPause time.Duration
	// AllowPlainHTTP lets Fetch use http:// links to any host (false: only
	// to loopback addresses; others must be https://).
	AllowPlainHTTP bool
	Logger         hclog.Logger // logs to Logger.Named("movelink")
}

// Store is the portal's links and incoming archives.
type Store struct {
	cfg Config
	log hclog.Logger

	mu      sync.Mutex
	serving map[int64]bool  // links with a transfer running
	writing map[string]bool // incoming archives being written
}

// Sentinel errors; the messages are for the owner.
var (
	ErrNotFound = errors.New("movelink: no such link or upload")
	ErrGone     = errors.New("movelink: this link was used, expired or was revoked")
	ErrBusy     = errors.New("movelink: a transfer of this archive is already running")
	ErrTooLarge = errors.New("movelink: the archive is larger than this site accepts")
	// ErrOffset: a chunk that does not start where the received bytes end;
	// an *OffsetError says where they end.
	ErrOffset = errors.New("movelink: the chunk does not start where the received bytes end")
	ErrDone   = errors.New("movelink: this upload is complete")
	ErrURL    = errors.New("movelink: not a download link")
)

// OffsetError is ErrOffset with the number of bytes received so far.
type OffsetError struct{ Received int64 }

func (e *OffsetError) Error() string {
	return fmt.Sprintf("%v: %d bytes received", ErrOffset, e.Received)
}
func (e *OffsetError) Unwrap() error { return ErrOffset }

// New returns a Store.
func New(cfg Config) (*Store, error) {
	if cfg.Pool == nil || cfg.DataDir == "" {
		return nil, errors.New("movelink: Config.Pool and DataDir are required")
	}
	if cfg.MaxArchive <= 0 {
		cfg.MaxArchive = 64 << 30
	}
	if cfg.MaxChunk <= 0 {
		cfg.MaxChunk = 16 << 20
	}
	if cfg.LinkTTL <= 0 {
		cfg.LinkTTL = 24 * time.Hour
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 8
	}
	if cfg.MaxPause <= 0 {
		cfg.MaxPause = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	return &Store{cfg: cfg, log: cfg.Logger.Named("movelink"), serving: map[int64]bool{}, writing: map[string]bool{}}, nil
}

// MaxArchive is the size cap of an archive.
func (s *Store) MaxArchive() int64 { return s.cfg.MaxArchive }

// ExportDir is where the archives that links serve live.
func (s *Store) ExportDir() string { return filepath.Join(s.cfg.DataDir, "export", "links") }

// IncomingDir is where incoming archives are written.
func (s *Store) IncomingDir() string { return filepath.Join(s.cfg.DataDir, "import", "incoming") }

// randomID is n random bytes, base64url.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hashToken(token []byte) []byte {
	h := sha256.Sum256(token)
	return h[:]
}

// claim runs set under the Store's lock: set marks a transfer busy,
// false when it already was.
func (s *Store) claim(set func() bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return set()
}

func (s *Store) audit(ctx context.Context, actor int64, action, subject string, detail map[string]any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := coredb.Audit(ctx, s.cfg.Pool, actor, action, subject, detail); err != nil {
		s.log.Error("audit log", "action", action, "error", err)
	}
}

// mkdir makes dir (0700) if needed.
func mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("movelink: %w", err)
	}
	return nil
}

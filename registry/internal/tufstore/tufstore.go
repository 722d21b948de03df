// Package tufstore keeps the registry's TUF repository (package tufrepo)
// in PostgreSQL and serves its files from memory.
//
// Every change runs in one transaction that locks registry.tuf_metadata,
// loads the stored state (so replicas never sign from a stale copy),
// applies the change to a fresh tufrepo.Repo, stores the result and sends
// NOTIFY websonic_tuf; the in-memory copy is replaced only after the
// commit. A registry that dies mid-change leaves the previous state whole.
// Listen keeps a replica's copy current from the notifications (and a
// periodic reload, in case one is missed) and reports each new timestamp
// version: the watch stream's source.
package tufstore

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/migrate"
	"github.com/websonic/websonic/internal/tufrepo"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Channel is the NOTIFY channel of repository changes; the payload is the
// new timestamp version.
const Channel = "websonic_tuf"

// File is a served metadata file.
type File struct {
	Body []byte
	ETag string // strong, quoted: the sha256 of Body
}

type state struct {
	repo  *tufrepo.Repo
	files map[string]File
}

// Config configures a Store.
type Config struct {
	Pool *pgxpool.Pool
	// Keys holds the registry's online signers (Snapshot, Timestamp).
	Keys tufrepo.Keys
	Repo tufrepo.Config
	// Changed is called with each new timestamp version this Store sees
	// (its own changes and, under Listen, other replicas'); nil for none.
	Changed func(timestampVersion int64)
	Logger  hclog.Logger
}

// Store is a registry's TUF repository. It is safe for concurrent use.
type Store struct {
	cfg Config
	log hclog.Logger
	cur atomic.Pointer[state]
}

// Open migrates the schema and loads the stored repository (an empty one
// until the publisher's first root).
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if err := migrate.Apply(ctx, cfg.Pool, migrations, "migrations", "websonic_registry_tuf_migrations"); err != nil {
		return nil, fmt.Errorf("tufstore: %w", err)
	}
	s := &Store{cfg: cfg, log: cfg.Logger}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (s *Store) load(ctx context.Context, q querier) (*tufrepo.Repo, error) {
	rows, err := q.Query(ctx, `SELECT body FROM registry.tuf_roots ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("tufstore: load roots: %w", err)
	}
	roots, err := pgx.CollectRows(rows, pgx.RowTo[[]byte])
	if err != nil {
		return nil, fmt.Errorf("tufstore: load roots: %w", err)
	}
	if len(roots) == 0 {
		return tufrepo.Empty(s.cfg.Keys, s.cfg.Repo)
	}
	st := tufrepo.State{Roots: roots}
	rows, err = q.Query(ctx, `SELECT role, body FROM registry.tuf_metadata`)
	if err != nil {
		return nil, fmt.Errorf("tufstore: load metadata: %w", err)
	}
	for rows.Next() {
		var role string
		var body []byte
		if err := rows.Scan(&role, &body); err != nil {
			return nil, fmt.Errorf("tufstore: load metadata: %w", err)
		}
		switch role {
		case "targets":
			st.Targets = body
		case "snapshot":
			st.Snapshot = body
		case "timestamp":
			st.Timestamp = body
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("tufstore: load metadata: %w", err)
	}
	repo, err := tufrepo.Load(st, s.cfg.Keys, s.cfg.Repo)
	if err != nil {
		return nil, fmt.Errorf("tufstore: %w", err)
	}
	return repo, nil
}

// install makes repo the served state, unless a newer one is served
// already (a reload racing a change), and reports a new timestamp. Every
// change signs a new timestamp, so its version orders states.
func (s *Store) install(repo *tufrepo.Repo) {
	files := map[string]File{}
	for name, b := range repo.Files() {
		sum := sha256.Sum256(b)
		files[name] = File{Body: b, ETag: `"` + hex.EncodeToString(sum[:]) + `"`}
	}
	next := &state{repo: repo, files: files}
	v := repo.TimestampVersion()
	for {
		prev := s.cur.Load()
		if prev != nil && prev.repo.TimestampVersion() >= v {
			return
		}
		if s.cur.CompareAndSwap(prev, next) {
			break
		}
	}
	if s.cfg.Changed != nil && v > 0 {
		s.cfg.Changed(v)
	}
}

// Reload reads the stored repository and serves it.
func (s *Store) Reload(ctx context.Context) error {
	repo, err := s.load(ctx, s.cfg.Pool)
	if err != nil {
		return err
	}
	s.install(repo)
	return nil
}

// File returns the served metadata file name ("timestamp.json",
// "3.root.json", ...).
func (s *Store) File(name string) (File, bool) {
	f, ok := s.cur.Load().files[name]
	return f, ok
}

// Repo is the served repository, for reading (Releases, Expires, ...).
func (s *Store) Repo() *tufrepo.Repo { return s.cur.Load().repo }

// TimestampVersion is the served timestamp's version, 0 before a root.
func (s *Store) TimestampVersion() int64 { return s.cur.Load().repo.TimestampVersion() }

// LockedReleases returns the releases of the stored repository (revoked
// ones included) and locks it against changes until tx ends: a caller
// deciding from them (the registry refusing to delete what a release
// names) cannot race a change that adds one. Update waits for tx.
func (s *Store) LockedReleases(ctx context.Context, tx pgx.Tx) ([]*tufrepo.Release, error) {
	if _, err := tx.Exec(ctx, `LOCK TABLE registry.tuf_metadata IN SHARE MODE`); err != nil {
		return nil, fmt.Errorf("tufstore: lock: %w", err)
	}
	var stored int64
	err := tx.QueryRow(ctx, `SELECT version FROM registry.tuf_metadata WHERE role = 'timestamp'`).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // no root yet
	}
	if err != nil {
		return nil, fmt.Errorf("tufstore: %w", err)
	}
	if cur := s.cur.Load(); cur.repo.TimestampVersion() == stored {
		return cur.repo.Releases(), nil
	}
	repo, err := s.load(ctx, tx) // another replica changed it: read it
	if err != nil {
		return nil, err
	}
	return repo.Releases(), nil
}

// Update applies change to the current stored repository in one
// transaction (see the package doc); change may also write to tx (the
// audit record of what it does). Nothing is stored or served if change or
// the commit fails.
func (s *Store) Update(ctx context.Context, change func(ctx context.Context, tx pgx.Tx, repo *tufrepo.Repo) error) error {
	var repo *tufrepo.Repo
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE registry.tuf_metadata IN EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("tufstore: lock: %w", err)
		}
		var err error
		if repo, err = s.load(ctx, tx); err != nil {
			return err
		}
		before := len(repo.State().Roots)
		if err := change(ctx, tx, repo); err != nil {
			return err
		}
		return save(ctx, tx, repo.State(), before)
	})
	if err != nil {
		return err
	}
	s.install(repo)
	return nil
}

// save stores st; roots before index known are stored already.
func save(ctx context.Context, tx pgx.Tx, st tufrepo.State, known int) error {
	for i := known; i < len(st.Roots); i++ {
		if _, err := tx.Exec(ctx, `INSERT INTO registry.tuf_roots (version, body) VALUES ($1, $2)`, i+1, st.Roots[i]); err != nil {
			return fmt.Errorf("tufstore: save root %d: %w", i+1, err)
		}
	}
	var ts int64
	for role, body := range map[string][]byte{"targets": st.Targets, "snapshot": st.Snapshot, "timestamp": st.Timestamp} {
		v, err := versionOf(body)
		if err != nil {
			return fmt.Errorf("tufstore: save %s: %w", role, err)
		}
		if role == "timestamp" {
			ts = v
		}
		if _, err := tx.Exec(ctx, `INSERT INTO registry.tuf_metadata (role, version, body) VALUES ($1, $2, $3)
			ON CONFLICT (role) DO UPDATE SET version = EXCLUDED.version, body = EXCLUDED.body, updated_at = now()`,
			role, v, body); err != nil {
			return fmt.Errorf("tufstore: save %s: %w", role, err)
		}
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, Channel, strconv.FormatInt(ts, 10)); err != nil {
		return fmt.Errorf("tufstore: notify: %w", err)
	}
	return nil
}

func versionOf(body []byte) (int64, error) {
	var m struct {
		Signed struct {
			Version int64 `json:"version"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return 0, err
	}
	if m.Signed.Version < 1 {
		return 0, errors.New("no version")
	}
	return m.Signed.Version, nil
}

// Listen keeps the served copy current with other replicas' changes: it
// LISTENs on Channel and reloads on each notification, and every
// interval regardless. It returns when ctx ends.
func (s *Store) Listen(ctx context.Context, interval time.Duration) error {
	for ctx.Err() == nil {
		err := s.listen(ctx, interval)
		if ctx.Err() != nil {
			break
		}
		s.log.Warn("TUF change notifications interrupted; retrying", "error", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return ctx.Err()
}

func (s *Store) listen(ctx context.Context, interval time.Duration) error {
	conn, err := s.cfg.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `LISTEN `+Channel); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), `UNLISTEN `+Channel)
	if err := s.Reload(ctx); err != nil && ctx.Err() == nil { // what happened before LISTEN
		s.log.Error("reload TUF metadata", "error", err)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, interval)
		_, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("reload TUF metadata", "error", err)
		}
	}
}

// Renew re-signs the timestamp, and the snapshot, when less than half of
// their validity is left (and both when expired): run it on a timer. It
// does nothing before the first root.
func (s *Store) Renew(ctx context.Context) error {
	if s.TimestampVersion() == 0 {
		return nil
	}
	now := s.cfg.Repo.Now
	if now == nil {
		now = time.Now
	}
	exp := s.cfg.Repo.Expiries
	due := func(expires time.Time, life, def time.Duration) bool {
		if life == 0 {
			life = def
		}
		return expires.Sub(now()) < life/2
	}
	_, _, snap, ts, err := s.Repo().Expires()
	if err != nil {
		return err
	}
	switch {
	case due(snap, exp.Snapshot, tufrepo.DefaultExpiries.Snapshot):
		return s.Update(ctx, func(_ context.Context, _ pgx.Tx, r *tufrepo.Repo) error { return r.RenewSnapshot() })
	case due(ts, exp.Timestamp, tufrepo.DefaultExpiries.Timestamp):
		return s.Update(ctx, func(_ context.Context, _ pgx.Tx, r *tufrepo.Repo) error { return r.RenewTimestamp() })
	}
	return nil
}

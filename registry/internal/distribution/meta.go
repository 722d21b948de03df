package distribution

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/websonic/websonic/internal/migrate"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrMigrate wraps migration failures.
var ErrMigrate = errors.New("distribution: migrate")

// Migrate applies the distribution migrations the database has not seen
// yet (see package migrate), then indexes the references of manifests
// stored before references were recorded (migration 003).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := migrate.Apply(ctx, pool, migrations, "migrations", "websonic_distribution_migrations"); err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	if err := indexRefs(ctx, pool); err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	return nil
}

// indexRefs records the references of every manifest whose references are
// not recorded yet, parsing it as a push does.
func indexRefs(ctx context.Context, pool *pgxpool.Pool) error {
	for {
		rows, err := pool.Query(ctx, `SELECT repository_id, digest, media_type, content FROM distribution.manifests
			WHERE NOT refs_indexed LIMIT 500`)
		if err != nil {
			return fmt.Errorf("index manifest references: %w", err)
		}
		type stored struct {
			repo          int64
			digest, media string
			body          []byte
		}
		batch, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (stored, error) {
			var m stored
			return m, r.Scan(&m.repo, &m.digest, &m.media, &m.body)
		})
		if err != nil {
			return fmt.Errorf("index manifest references: %w", err)
		}
		if len(batch) == 0 {
			return nil
		}
		err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			for _, m := range batch {
				if info, err := parseManifest(m.media, m.body); err == nil { // stored ones were valid when pushed
					if err := insertRefs(ctx, tx, m.repo, digest.Digest(m.digest), info); err != nil {
						return err
					}
				}
				if _, err := tx.Exec(ctx, `UPDATE distribution.manifests SET refs_indexed = true WHERE repository_id = $1 AND digest = $2`,
					m.repo, m.digest); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("index manifest references: %w", err)
		}
	}
}

// insertRefs records what manifest d of repository repo references.
func insertRefs(ctx context.Context, tx pgx.Tx, repo int64, d digest.Digest, info *manifestInfo) error {
	for _, b := range info.Blobs {
		if _, err := tx.Exec(ctx, `INSERT INTO distribution.manifest_refs (repository_id, manifest_digest, kind, digest)
			VALUES ($1, $2, 'blob', $3) ON CONFLICT DO NOTHING`, repo, d.String(), b.Digest.String()); err != nil {
			return fmt.Errorf("distribution: references of %s: %w", d, err)
		}
	}
	for _, md := range info.Manifests {
		if _, err := tx.Exec(ctx, `INSERT INTO distribution.manifest_refs (repository_id, manifest_digest, kind, digest)
			VALUES ($1, $2, 'manifest', $3) ON CONFLICT DO NOTHING`, repo, d.String(), md.String()); err != nil {
			return fmt.Errorf("distribution: references of %s: %w", d, err)
		}
	}
	return nil
}

// meta is the metadata store. Its methods wrap their errors once, with the
// operation, and translate "no rows" into this package's not-found errors.
type meta struct {
	pool  *pgxpool.Pool
	now   func() time.Time
	links linkCache
}

// linkCache remembers confirmed (repository, blob) links and their sizes
// for linkTTL, up to a bound past which it starts over. Deletion removes a
// link from this replica's cache at once; other replicas may serve a
// deleted link's blob for up to linkTTL (while its file lasts).
type linkCache struct {
	mu sync.RWMutex
	m  map[string]cachedLink
}

type cachedLink struct {
	size  int64
	until time.Time
}

const (
	maxCachedLinks = 100_000
	linkTTL        = time.Minute
)

func (c *linkCache) get(key string, now time.Time) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	l, ok := c.m[key]
	return l.size, ok && now.Before(l.until)
}

func (c *linkCache) put(key string, size int64, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedLinks {
		c.m = make(map[string]cachedLink)
	}
	c.m[key] = cachedLink{size: size, until: now.Add(linkTTL)}
}

func (c *linkCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
}

func linkKey(repo string, d digest.Digest) string { return repo + "@" + d.String() }

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func ensureRepo(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO distribution.repositories (name) VALUES ($1)
		ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`, name).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("distribution: ensure repository %q: %w", name, err)
	}
	return id, nil
}

func repoID(ctx context.Context, q querier, name string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM distribution.repositories WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s", ErrNameUnknown, name)
	}
	if err != nil {
		return 0, fmt.Errorf("distribution: repository %q: %w", name, err)
	}
	return id, nil
}

// Transaction-scoped advisory locks. Every transaction that takes more
// than one lock takes them in this order: an account's, then row locks,
// then a blob's (see Handler.Collect).
func lockAccount(ctx context.Context, tx execer, account string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('distribution.account:' || $1, 0))`, account); err != nil {
		return fmt.Errorf("distribution: lock account %q: %w", account, err)
	}
	return nil
}

func lockBlob(ctx context.Context, tx execer, d digest.Digest) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('distribution.blob:' || $1, 0))`, d.String()); err != nil {
		return fmt.Errorf("distribution: lock blob %s: %w", d, err)
	}
	return nil
}

// referrer returns a manifest of repository repo that references d as
// kind ("blob": a config or layer, "manifest": an index's manifest), ""
// for none. Deleters lock what they delete first and then run it as a new
// statement, which sees a manifest committed while they waited.
func referrer(ctx context.Context, q querier, repo int64, kind string, d digest.Digest) (string, error) {
	var m string
	err := q.QueryRow(ctx, `SELECT manifest_digest FROM distribution.manifest_refs
		WHERE repository_id = $1 AND kind = $2 AND digest = $3 LIMIT 1`, repo, kind, d.String()).Scan(&m)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("distribution: references to %s: %w", d, err)
	}
	return m, nil
}

// blobSize returns the size of blob d in repo, or ErrBlobUnknown.
// Confirmed links are cached (see linkCache): a pull then costs no query.
func (m *meta) blobSize(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	key := linkKey(repo, d)
	if size, ok := m.links.get(key, m.now()); ok {
		return size, nil
	}
	size, err := queryBlobSize(ctx, m.pool, repo, d)
	if err == nil {
		m.links.put(key, size, m.now())
	}
	return size, err
}

func queryBlobSize(ctx context.Context, q querier, repo string, d digest.Digest) (int64, error) {
	var size int64
	err := q.QueryRow(ctx, `SELECT b.size FROM distribution.repository_blobs b
		JOIN distribution.repositories r ON r.id = b.repository_id
		WHERE r.name = $1 AND b.digest = $2`, repo, d.String()).Scan(&size)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s", ErrBlobUnknown, d)
	}
	if err != nil {
		return 0, fmt.Errorf("distribution: blob %s in %q: %w", d, repo, err)
	}
	return size, nil
}

// manifest returns a manifest by tag or digest, or ErrManifestUnknown.
func (m *meta) manifest(ctx context.Context, repo, ref string) (mediaType string, d digest.Digest, body []byte, err error) {
	return getManifest(ctx, m.pool, repo, ref)
}

func getManifest(ctx context.Context, q querier, repo, ref string) (mediaType string, d digest.Digest, body []byte, err error) {
	sql := `SELECT m.media_type, m.digest, m.content FROM distribution.manifests m
		JOIN distribution.repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2`
	if !isDigestRef(ref) {
		sql = `SELECT m.media_type, m.digest, m.content FROM distribution.tags t
			JOIN distribution.repositories r ON r.id = t.repository_id
			JOIN distribution.manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
			WHERE r.name = $1 AND t.name = $2`
	}
	var ds string
	err = q.QueryRow(ctx, sql, repo, ref).Scan(&mediaType, &ds, &body)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", nil, fmt.Errorf("%w: %s:%s", ErrManifestUnknown, repo, ref)
	}
	if err != nil {
		return "", "", nil, fmt.Errorf("distribution: manifest %s:%s: %w", repo, ref, err)
	}
	return mediaType, digest.Digest(ds), body, nil
}

// tags lists repo's tags in byte order after last, at most n (n < 0: all).
// more says whether tags remain.
func (m *meta) tags(ctx context.Context, repo string, n int, last string) (tags []string, more bool, err error) {
	id, err := repoID(ctx, m.pool, repo)
	if err != nil {
		return nil, false, err
	}
	limit := int64(n) + 1
	if n < 0 {
		limit = -1
	}
	rows, err := m.pool.Query(ctx, `SELECT name FROM distribution.tags WHERE repository_id = $1 AND name > $2
		ORDER BY name LIMIT NULLIF($3::bigint, -1)`, id, last, limit)
	if err != nil {
		return nil, false, fmt.Errorf("distribution: tags of %q: %w", repo, err)
	}
	tags, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, false, fmt.Errorf("distribution: tags of %q: %w", repo, err)
	}
	if n >= 0 && len(tags) > n {
		return tags[:n], true, nil
	}
	return tags, false, nil
}

// referrers lists the manifests in repo whose subject is d, optionally only
// those of one artifact type. An unknown repository has no referrers.
func (m *meta) referrers(ctx context.Context, repo string, d digest.Digest, artifactType string) ([]ocispec.Descriptor, error) {
	rows, err := m.pool.Query(ctx, `SELECT m.media_type, m.digest, length(m.content), m.artifact_type, m.annotations
		FROM distribution.manifests m JOIN distribution.repositories r ON r.id = m.repository_id
		WHERE r.name = $1 AND m.subject_digest = $2 AND ($3 = '' OR m.artifact_type = $3)
		ORDER BY m.created_at, m.digest`, repo, d.String(), artifactType)
	if err != nil {
		return nil, fmt.Errorf("distribution: referrers of %s: %w", d, err)
	}
	defer rows.Close()
	descs := []ocispec.Descriptor{}
	for rows.Next() {
		var (
			desc        ocispec.Descriptor
			ds          string
			annotations []byte
		)
		if err := rows.Scan(&desc.MediaType, &ds, &desc.Size, &desc.ArtifactType, &annotations); err != nil {
			return nil, fmt.Errorf("distribution: referrers of %s: %w", d, err)
		}
		desc.Digest = digest.Digest(ds)
		if annotations != nil {
			if err := json.Unmarshal(annotations, &desc.Annotations); err != nil {
				return nil, fmt.Errorf("distribution: referrers of %s: %w", d, err)
			}
		}
		descs = append(descs, desc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("distribution: referrers of %s: %w", d, err)
	}
	return descs, nil
}

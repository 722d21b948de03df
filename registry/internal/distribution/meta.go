package distribution

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
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
// yet (see package migrate).
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	if err := migrate.Apply(ctx, pool, migrations, "migrations", "websonic_distribution_migrations"); err != nil {
		return fmt.Errorf("%w: %w", ErrMigrate, err)
	}
	return nil
}

// meta is the metadata store. Its methods wrap their errors once, with the
// operation, and translate "no rows" into this package's not-found errors.
type meta struct {
	pool  *pgxpool.Pool
	links linkCache
}

// linkCache remembers confirmed (repository, blob) links and their sizes,
// up to a bound past which it starts over.
type linkCache struct {
	mu sync.RWMutex
	m  map[string]int64
}

const maxCachedLinks = 100_000

func (c *linkCache) get(key string) (int64, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	size, ok := c.m[key]
	return size, ok
}

func (c *linkCache) put(key string, size int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxCachedLinks {
		c.m = make(map[string]int64)
	}
	c.m[key] = size
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
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

func (m *meta) repoID(ctx context.Context, name string) (int64, error) {
	var id int64
	err := m.pool.QueryRow(ctx, `SELECT id FROM distribution.repositories WHERE name = $1`, name).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("%w: %s", ErrNameUnknown, name)
	}
	if err != nil {
		return 0, fmt.Errorf("distribution: repository %q: %w", name, err)
	}
	return id, nil
}

// linkBlob records that repo may serve blob d, verified on upload.
func (m *meta) linkBlob(ctx context.Context, repo string, d digest.Digest, size int64) error {
	return pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		id, err := ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO distribution.repository_blobs (repository_id, digest, size)
			VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, id, d.String(), size); err != nil {
			return fmt.Errorf("distribution: link blob %s to %q: %w", d, repo, err)
		}
		return nil
	})
}

// blobSize returns the size of blob d in repo, or ErrBlobUnknown. Links
// are never removed (there is no deletion yet), so confirmed ones are
// cached: a pull then costs no query.
func (m *meta) blobSize(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	key := repo + "@" + d.String()
	if size, ok := m.links.get(key); ok {
		return size, nil
	}
	size, err := m.queryBlobSize(ctx, repo, d)
	if err == nil {
		m.links.put(key, size)
	}
	return size, err
}

func (m *meta) queryBlobSize(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	var size int64
	err := m.pool.QueryRow(ctx, `SELECT b.size FROM distribution.repository_blobs b
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

// putManifest stores a verified, parsed manifest and points tag (if not "")
// at it, in one transaction: every blob and manifest it references must be in
// the repository.
func (m *meta) putManifest(ctx context.Context, repo string, d digest.Digest, info *manifestInfo, body []byte, tag string) error {
	return pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		id, err := ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		for _, b := range info.Blobs {
			var size int64
			err := tx.QueryRow(ctx, `SELECT size FROM distribution.repository_blobs WHERE repository_id = $1 AND digest = $2`,
				id, b.Digest.String()).Scan(&size)
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: blob %s", ErrManifestBlobUnknown, b.Digest)
			}
			if err != nil {
				return fmt.Errorf("distribution: put manifest %s: %w", d, err)
			}
			if size != b.Size {
				return fmt.Errorf("%w: blob %s has size %d, not %d", ErrManifestInvalid, b.Digest, size, b.Size)
			}
		}
		for _, md := range info.Manifests {
			var ok bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM distribution.manifests WHERE repository_id = $1 AND digest = $2)`,
				id, md.String()).Scan(&ok); err != nil {
				return fmt.Errorf("distribution: put manifest %s: %w", d, err)
			}
			if !ok {
				return fmt.Errorf("%w: manifest %s", ErrManifestBlobUnknown, md)
			}
		}
		var subject *string
		if info.Subject != "" {
			s := info.Subject.String()
			subject = &s
		}
		var annotations []byte
		if len(info.Annotations) > 0 {
			if annotations, err = json.Marshal(info.Annotations); err != nil {
				return fmt.Errorf("distribution: put manifest %s: %w", d, err)
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO distribution.manifests
			(repository_id, digest, media_type, artifact_type, annotations, content, subject_digest)
			VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING`,
			id, d.String(), info.MediaType, info.ArtifactType, annotations, body, subject); err != nil {
			return fmt.Errorf("distribution: put manifest %s: %w", d, err)
		}
		if tag != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO distribution.tags (repository_id, name, digest) VALUES ($1, $2, $3)
				ON CONFLICT (repository_id, name) DO UPDATE SET digest = EXCLUDED.digest, updated_at = now()`,
				id, tag, d.String()); err != nil {
				return fmt.Errorf("distribution: tag %s as %q: %w", d, tag, err)
			}
		}
		return nil
	})
}

// manifest returns a manifest by tag or digest, or ErrManifestUnknown.
func (m *meta) manifest(ctx context.Context, repo, ref string) (mediaType string, d digest.Digest, body []byte, err error) {
	q := `SELECT m.media_type, m.digest, m.content FROM distribution.manifests m
		JOIN distribution.repositories r ON r.id = m.repository_id WHERE r.name = $1 AND m.digest = $2`
	if !isDigestRef(ref) {
		q = `SELECT m.media_type, m.digest, m.content FROM distribution.tags t
			JOIN distribution.repositories r ON r.id = t.repository_id
			JOIN distribution.manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
			WHERE r.name = $1 AND t.name = $2`
	}
	var ds string
	err = m.pool.QueryRow(ctx, q, repo, ref).Scan(&mediaType, &ds, &body)
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
	id, err := m.repoID(ctx, repo)
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

// upload is an upload session.
type upload struct {
	ID     string
	Repo   string
	Offset int64
	Parts  []string // part file names, in order (see Handler.appendChunk)
}

func (m *meta) createUpload(ctx context.Context, repo, id string) error {
	return pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		rid, err := ensureRepo(ctx, tx, repo)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO distribution.uploads (id, repository_id) VALUES ($1, $2)`, id, rid); err != nil {
			return fmt.Errorf("distribution: create upload in %q: %w", repo, err)
		}
		return nil
	})
}

// upload reads session id of repo. An unknown session is
// ErrBlobUploadUnknown.
func (m *meta) upload(ctx context.Context, repo, id string) (upload, error) {
	return getUpload(ctx, m.pool, repo, id)
}

func getUpload(ctx context.Context, q querier, repo, id string) (upload, error) {
	u := upload{ID: id, Repo: repo}
	err := q.QueryRow(ctx, `SELECT u."offset", u.parts FROM distribution.uploads u
		JOIN distribution.repositories r ON r.id = u.repository_id WHERE r.name = $1 AND u.id = $2`, repo, id).Scan(&u.Offset, &u.Parts)
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

// appendPart adds part, n bytes, to session u if it still stands at
// u.Offset, and returns the session after it.
func (m *meta) appendPart(ctx context.Context, u upload, part string, n int64) (upload, error) {
	tag, err := m.pool.Exec(ctx, `UPDATE distribution.uploads SET "offset" = "offset" + $3, parts = array_append(parts, $4::text), updated_at = now()
		WHERE id = $1 AND "offset" = $2`, u.ID, u.Offset, n, part)
	if err != nil {
		return u, fmt.Errorf("distribution: upload %s: %w", u.ID, err)
	}
	if tag.RowsAffected() == 0 {
		return u, moved(ctx, m.pool, u)
	}
	u.Offset += n
	u.Parts = append(u.Parts[:len(u.Parts):len(u.Parts)], part)
	return u, nil
}

// endUpload ends session u, if it still stands at u.Offset, and links blob
// d of size n (when d is not "") to its repository, in one transaction.
func (m *meta) endUpload(ctx context.Context, u upload, d digest.Digest, n int64) error {
	return pgx.BeginFunc(ctx, m.pool, func(tx pgx.Tx) error {
		var repoID int64
		err := tx.QueryRow(ctx, `DELETE FROM distribution.uploads WHERE id = $1 AND "offset" = $2 RETURNING repository_id`,
			u.ID, u.Offset).Scan(&repoID)
		if errors.Is(err, pgx.ErrNoRows) {
			return moved(ctx, tx, u)
		}
		if err != nil {
			return fmt.Errorf("distribution: upload %s: %w", u.ID, err)
		}
		if d == "" {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO distribution.repository_blobs (repository_id, digest, size)
			VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, repoID, d.String(), n); err != nil {
			return fmt.Errorf("distribution: link blob %s: %w", d, err)
		}
		return nil
	})
}

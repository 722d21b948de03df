package distribution

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/registry/internal/limit"
)

// usage returns the bytes account stores (see Config.Quota).
func usage(ctx context.Context, q querier, account string) (int64, error) {
	var n int64
	err := q.QueryRow(ctx, `SELECT
		(SELECT coalesce(sum(size), 0) FROM distribution.repository_blobs WHERE account = $1) +
		(SELECT coalesce(sum(length(content)), 0) FROM distribution.manifests WHERE account = $1) +
		(SELECT coalesce(sum("offset"), 0) FROM distribution.uploads WHERE account = $1)`, account).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("distribution: usage of %q: %w", account, err)
	}
	return n, nil
}

// quotaError is the refusal of a push over account's quota.
func (h *Handler) quotaError(account string, used, more int64) error {
	return fmt.Errorf("%w: account %q stores %d bytes of its quota of %d; %d more do not fit: delete what is no longer needed (DELETE of manifests, tags and blobs)",
		ErrDenied, account, used, h.cfg.Quota, more)
}

// room returns how many more bytes account may store (MaxInt64 without a
// quota). It is a first check, before a body is read; checkQuota, inside
// the transaction that stores, is the one that counts.
func (h *Handler) room(ctx context.Context, account string) (int64, error) {
	if h.cfg.Quota < 0 {
		return math.MaxInt64, nil
	}
	used, err := usage(ctx, h.meta.pool, account)
	if err != nil {
		return 0, err
	}
	return max(h.cfg.Quota-used, 0), nil
}

// checkQuota fails tx's push if account now stores more than its quota.
// tx holds the account's lock (lockAccount) and has already written what
// it adds (more bytes, for the message).
func (h *Handler) checkQuota(ctx context.Context, tx pgx.Tx, account string, more int64) error {
	if h.cfg.Quota < 0 {
		return nil
	}
	used, err := usage(ctx, tx, account)
	if err != nil {
		return err
	}
	if used > h.cfg.Quota {
		return h.quotaError(account, used-more, more)
	}
	return nil
}

// body returns r's body limited to n bytes (413 past it, a declared
// length at once) and to the room account has left (DENIED past it, a
// declared length at once).
func (h *Handler) body(w http.ResponseWriter, r *http.Request, account string, n int64) (io.Reader, error) {
	room, err := h.room(r.Context(), account)
	if err != nil {
		return nil, err
	}
	if r.ContentLength > room && r.ContentLength <= n {
		return nil, h.quotaError(account, h.cfg.Quota-room, r.ContentLength)
	}
	body, err := limit.Body(w, r, min(n, room))
	if err != nil || room >= n {
		return body, err
	}
	return &quotaReader{r: body, h: h, account: account, room: room}, nil
}

// quotaReader turns the error of a body cut at an account's room into a
// quota refusal.
type quotaReader struct {
	r       io.Reader
	h       *Handler
	account string
	room    int64
}

func (q *quotaReader) Read(p []byte) (int, error) {
	n, err := q.r.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = q.h.quotaError(q.account, q.h.cfg.Quota-q.room, q.room+1)
	}
	return n, err
}

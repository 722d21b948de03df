package site

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/theme"
)

// blockRefresh is how long a runtime trusts its copy of the IP blocks:
// another replica's new block applies here within it.
const blockRefresh = 5 * time.Second

// maxBlocks bounds the blocks held in memory (the owner's and admins'
// first, then the narrowest); a site with more should block at its
// firewall.
const maxBlocks = 100_000

// blockCache is the runtime's copy of the IP blocks in force, checked on
// every request. A reload happens on the first request after blockRefresh
// (or after this runtime changed a block); requests meanwhile use the
// previous copy, so only one reload runs at a time and none waits for it.
type blockCache struct {
	pool    *pgxpool.Pool
	snap    atomic.Pointer[blockSnapshot]
	gen     atomic.Uint64 // bumped by invalidate
	loading sync.Mutex
}

type blockSnapshot struct {
	at     time.Time // when it was read; zero: never
	gen    uint64    // the cache's gen when the read began
	blocks []cachedBlock
	// The blocks by prefix, and the prefix lengths in use per family: a
	// check masks the address to each length and looks it up, so its cost
	// grows with the number of distinct lengths, not of blocks.
	byPrefix map[netip.Prefix]time.Time
	bits4    []int
	bits6    []int
}

// newSnapshot indexes blocks.
func newSnapshot(at time.Time, blocks []cachedBlock) *blockSnapshot {
	s := &blockSnapshot{at: at, blocks: blocks, byPrefix: make(map[netip.Prefix]time.Time, len(blocks))}
	seen := map[[2]int]bool{}
	for _, b := range blocks {
		s.byPrefix[b.prefix] = b.until
		fam := 6
		if b.prefix.Addr().Is4() {
			fam = 4
		}
		if k := [2]int{fam, b.prefix.Bits()}; !seen[k] {
			seen[k] = true
			if fam == 4 {
				s.bits4 = append(s.bits4, b.prefix.Bits())
			} else {
				s.bits6 = append(s.bits6, b.prefix.Bits())
			}
		}
	}
	return s
}

// covers reports whether a block in force at now covers addr.
func (s *blockSnapshot) covers(addr netip.Addr, now time.Time) bool {
	bits := s.bits6
	if addr.Is4() {
		bits = s.bits4
	}
	for _, n := range bits {
		p, err := addr.Prefix(n)
		if err != nil {
			continue
		}
		if until, ok := s.byPrefix[p]; ok && (until.IsZero() || now.Before(until)) {
			return true
		}
	}
	return false
}

type cachedBlock struct {
	prefix netip.Prefix
	until  time.Time // zero: until lifted
}

func newBlockCache(pool *pgxpool.Pool) *blockCache {
	c := &blockCache{pool: pool}
	c.snap.Store(newSnapshot(time.Time{}, nil))
	return c
}

// invalidate makes the next check reload (call it after a change
// committed): a read that began before it does not count as fresh.
func (c *blockCache) invalidate() { c.gen.Add(1) }

// stale reports whether snap must be read again.
func (c *blockCache) stale(snap *blockSnapshot, now time.Time) bool {
	return snap.at.IsZero() || now.Sub(snap.at) > blockRefresh || snap.gen != c.gen.Load()
}

// blocked reports whether a block in force covers addr. The first check
// ever waits for the load, later ones use the previous copy while another
// check reloads; a failed reload keeps the previous copy.
func (c *blockCache) blocked(ctx context.Context, addr netip.Addr, now time.Time) (bool, error) {
	snap := c.snap.Load()
	var err error
	if c.stale(snap, now) {
		first := snap.at.IsZero()
		if first {
			c.loading.Lock()
		}
		if first || c.loading.TryLock() {
			snap, err = c.reload(ctx, now)
			c.loading.Unlock()
		}
	}
	return snap.covers(addr.Unmap(), now), err
}

func (c *blockCache) reload(ctx context.Context, now time.Time) (*blockSnapshot, error) {
	if cur := c.snap.Load(); !c.stale(cur, now) {
		return cur, nil // another check reloaded meanwhile
	}
	gen := c.gen.Load()
	// The owner's and admins' blocks first: a module's many narrow blocks
	// must not push them out.
	rows, err := c.pool.Query(ctx, `SELECT prefix, until FROM websonic.ip_blocks WHERE until IS NULL OR until > now()
		ORDER BY created_by LIKE 'module:%', masklen(prefix) DESC LIMIT $1`, maxBlocks)
	if err != nil {
		return c.snap.Load(), err
	}
	blocks, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (cachedBlock, error) {
		var b cachedBlock
		var until *time.Time
		err := row.Scan(&b.prefix, &until)
		if until != nil {
			b.until = *until
		}
		return b, err
	})
	if err != nil {
		return c.snap.Load(), err
	}
	snap := newSnapshot(now, blocks)
	snap.gen = gen
	c.snap.Store(snap)
	return snap, nil
}

// remoteAddr is the client's address: the host of r.RemoteAddr, which the
// server's clientaddr middleware set from trusted proxies.
func remoteAddr(r *http.Request) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.Unmap().WithZone(""), true
}

// clientPrefix is what websonic.user_ips keeps of r's client: its /32, or
// the /64 of an IPv6 address (as the login guard counts it).
func clientPrefix(r *http.Request) (netip.Prefix, bool) {
	a, ok := remoteAddr(r)
	if !ok {
		return netip.Prefix{}, false
	}
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p, true
	}
	return netip.PrefixFrom(a, 32), true
}

// BlockedAddresses is middleware that refuses every request from a blocked
// address or network (Store.BlockIP) with a 403 page, before anything
// else reads it. The check is in memory (blockCache); a database failure
// is logged and lets requests through with the last copy. A banned user's
// addresses are not refused here (they may be shared): only at sign-in and
// registration.
func (s *Site) BlockedAddresses(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := remoteAddr(r)
		if ok {
			blocked, err := s.store.blocks.blocked(r.Context(), a, time.Now())
			if err != nil {
				s.log.Warn("reading IP blocks failed; using the last copy", "error", err)
			}
			if blocked {
				s.render(w, r, http.StatusForbidden, theme.PageError, pageData{
					Title: i18n.Key("Blocked"), Message: s.Printer(r).T("Requests from your network address are blocked on this site."),
				})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

package site

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestModuleBlockCount: a module holds at most MaxModuleBlocks blocks in
// force: each is at most a /24, but without a bound on their number a
// module could still block a country, /24 by /24 (and crowd the owner's
// and other modules' blocks out of every runtime's memory). Expired
// blocks do not count, nor other modules' blocks.
func TestModuleBlockCount(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	st := e.site.Store()
	// What MaxModuleBlocks calls of users.block_ip by module chat leave.
	if _, err := e.pool.Exec(ctx, `INSERT INTO websonic.ip_blocks (prefix, until, created_by)
		SELECT ('10.' || (g / 256) || '.' || (g % 256) || '.0/24')::cidr, now() + interval '80 days', 'module:chat'
		FROM generate_series(0, $1 - 1) g`, MaxModuleBlocks); err != nil {
		t.Fatal(err)
	}
	week := time.Now().Add(7 * 24 * time.Hour)
	p := netip.MustParsePrefix("192.0.2.0/24")
	if err := st.BlockIP(ctx, Actor{Module: "chat"}, p, week, ""); !errors.Is(err, ErrTooManyBlocks) {
		t.Errorf("block number %d: %v, want ErrTooManyBlocks", MaxModuleBlocks+1, err)
	}
	if err := st.BlockIP(ctx, Actor{Module: "other"}, p, week, ""); err != nil {
		t.Errorf("another module's block: %v", err)
	}
	if _, err := e.pool.Exec(ctx, `UPDATE websonic.ip_blocks SET until = now() - interval '1 second' WHERE prefix = '10.0.0.0/24'`); err != nil {
		t.Fatal(err)
	}
	if err := st.BlockIP(ctx, Actor{Module: "chat"}, netip.MustParsePrefix("198.51.100.0/24"), week, ""); err != nil {
		t.Errorf("a block once one expired: %v", err)
	}
}

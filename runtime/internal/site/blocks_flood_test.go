package site

import (
	"context"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// TestModuleBlocksCannotEvictOwnersBlock: the runtime holds at most
// maxBlocks blocks in memory; a module that placed that many narrow
// blocks (each /128 is within its limits) must not push the owner's
// wider block out of it, which would lift it.
func TestModuleBlocksCannotEvictOwnersBlock(t *testing.T) {
	e := newEnv(t, Config{}, nil)
	ctx := context.Background()
	st := e.site.Store()
	if err := st.BlockIP(ctx, Actor{}, netip.MustParsePrefix("192.0.2.0/24"), time.Time{}, "owner"); err != nil {
		t.Fatal(err)
	}
	// What maxBlocks calls of users.block_ip by a module leave behind.
	if _, err := e.pool.Exec(ctx, `INSERT INTO websonic.ip_blocks (prefix, until, created_by)
		SELECT ('2001:db8:ffff::' || to_hex(g / 65536) || ':' || to_hex(g % 65536))::cidr, now() + interval '80 days', 'module:hostile'
		FROM generate_series(1, $1) g`, maxBlocks); err != nil {
		t.Fatal(err)
	}
	st.blocks.invalidate()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/", nil)
	req.Header.Set("X-Forwarded-For", "192.0.2.7")
	if res := e.do(e.client(), req); res.StatusCode != http.StatusForbidden {
		t.Errorf("a request from the owner's blocked network after a module's flood of blocks: %d, want 403", res.StatusCode)
	}
}

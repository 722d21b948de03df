package site

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// TestBlockCacheHammer: checks from many goroutines while blocks are
// added, lifted and the copy invalidated; run with -race. Once the last
// change is in and the copy invalidated, every check sees it.
func TestBlockCacheHammer(t *testing.T) {
	ctx := context.Background()
	st := NewStore(newPool(t))
	in := netip.MustParseAddr("198.51.100.9")
	p := netip.MustParsePrefix("198.51.100.0/24")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := st.blocks.blocked(ctx, in, time.Now()); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := range 40 {
		var err error
		if i%2 == 0 {
			err = st.BlockIP(ctx, Actor{}, p, time.Time{}, "")
		} else {
			err = st.UnblockIP(ctx, Actor{}, p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	// 40 changes: the last lifted the block.
	for range 3 {
		if blocked, err := st.blocks.blocked(ctx, in, time.Now()); blocked || err != nil {
			t.Fatalf("blocked after the last unblock: %v", err)
		}
	}
	if err := st.BlockIP(ctx, Actor{}, p, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if blocked, _ := st.blocks.blocked(ctx, in, time.Now()); !blocked {
		t.Error("not blocked after the block")
	}
}

func FuzzParsePrefix(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "192.0.2.0/24", "2001:db8::/48", "::ffff:192.0.2.9", "::ffff:192.0.2.0/120", "fe80::1%eth0", "10.0.0.1/8", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePrefix(s)
		if err != nil {
			return
		}
		if !p.IsValid() || p != p.Masked() || p.Addr().Zone() != "" || p.Addr().Is4In6() {
			t.Fatalf("%q parsed as %v", s, p)
		}
		// What parses re-parses to itself.
		if q, err := ParsePrefix(p.String()); err != nil || q != p {
			t.Fatalf("%q → %v → %v, %v", s, p, q, err)
		}
	})
}

package site

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// BenchmarkBlocked is the per-request cost of the IP block check with n
// blocks in force (the in-memory copy; no reload).
func BenchmarkBlocked(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		c := &blockCache{}
		blocks := make([]cachedBlock, n)
		for i := range blocks {
			blocks[i] = cachedBlock{prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 0}), 24)}
		}
		now := time.Now()
		c.snap.Store(newSnapshot(now.Add(time.Hour), blocks))
		addr := netip.MustParseAddr("192.0.2.1")
		b.Run(map[int]string{10: "10", 1000: "1000", 10000: "10000"}[n], func(b *testing.B) {
			for b.Loop() {
				if blocked, _ := c.blocked(context.Background(), addr, now); blocked {
					b.Fatal("blocked")
				}
			}
		})
	}
}

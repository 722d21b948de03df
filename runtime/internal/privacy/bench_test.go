package privacy

import (
	"bytes"
	"context"
	"testing"
)

func BenchmarkSealOpen(b *testing.B) {
	ctx := context.Background()
	k := ring(map[uint32][]byte{1: bytes.Repeat([]byte{9}, 32)})
	for _, size := range []int{64, 4096} {
		pt := make([]byte, size)
		b.Run("seal/"+itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := k.Seal(ctx, "bench", "p", pt); err != nil {
					b.Fatal(err)
				}
			}
		})
		sealed, _ := k.Seal(ctx, "bench", "p", pt)
		b.Run("open/"+itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := k.Open(ctx, "bench", "p", sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func itoa(n int) string {
	if n >= 1024 {
		return string(rune('0'+n/1024)) + "KiB"
	}
	return "64B"
}

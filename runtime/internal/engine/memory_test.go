package engine

import (
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// withMemory replaces the memory section of a crafted module with one
// memory of the given limits (flags byte, min[, max] as LEB128).
func withMemory(w []byte, limits []byte) []byte {
	for i := 8; i < len(w); {
		id := w[i]
		n, k := binary.Uvarint(w[i+1:])
		end := i + 1 + k + int(n)
		if id == 5 {
			mem := sec(5, vec(limits))
			return append(append(append([]byte(nil), w[:i]...), mem...), w[end:]...)
		}
		i = end
	}
	panic("no memory section")
}

// growOne is a websonic_http body that grows memory by one page and
// returns memory.grow's result: the previous size in pages, or -1 when the
// memory cannot grow.
var growOne = []byte{0x41, 1, 0x40, 0, 0xac, 0x0b} // i32.const 1; memory.grow 0; i64.extend_i32_s

// TestMemoryLimitStopsGrowth: a guest's memory.grow fails (returns -1) at
// exactly MemoryLimitPages, also when the module declares a larger
// maximum. Nothing here waits on a deadline: an engine that ignores the
// limit fails at the first grow past it.
func TestMemoryLimitStopsGrowth(t *testing.T) {
	const limit = 64
	ctx := context.Background()
	e := newEngine(t, Config{MemoryLimitPages: limit, CacheDir: t.TempDir()})
	for _, tt := range []struct {
		name   string
		limits []byte // the module's memory: flags, min[, max]
	}{
		{"no maximum", []byte{0, 1}},
		{"maximum past the limit", []byte{1, 1, limit + 8}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := e.Compile(ctx, "grow", withMemory(craft(growOne), tt.limits))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close(ctx)
			in, err := e.instantiate(ctx, m, 1, &CallEnv{Logger: hclog.NewNullLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer in.close()
			for want := int32(1); want < limit; want++ {
				res, err := in.http.Call(ctx, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				if got := int32(res[0]); got != want {
					t.Fatalf("grow from %d pages returned %d, want %d", want, got, want)
				}
			}
			for range 3 {
				res, err := in.http.Call(ctx, 0, 0)
				if err != nil {
					t.Fatal(err)
				}
				if got := int32(res[0]); got != -1 {
					t.Fatalf("grow past the limit of %d pages returned %d, want -1 (memory now %d pages)", limit, got, in.memoryPages())
				}
			}
			if got := in.memoryPages(); got != limit {
				t.Fatalf("memory is %d pages, want the limit, %d", got, limit)
			}
		})
	}
}

// TestMemoryLimitRefusesLargeModules: a module whose memory starts past
// MemoryLimitPages does not compile.
func TestMemoryLimitRefusesLargeModules(t *testing.T) {
	const limit = 64
	ctx := context.Background()
	e := newEngine(t, Config{MemoryLimitPages: limit, CacheDir: t.TempDir()})
	m, err := e.Compile(ctx, "big", withMemory(craft(growOne), []byte{0, limit + 1}))
	if err == nil {
		m.Close(ctx)
		t.Fatalf("a module declaring %d pages of memory compiled under a limit of %d", limit+1, limit)
	}
	if !strings.Contains(err.Error(), "over limit") {
		t.Fatalf("err = %v, want it to name the limit", err)
	}
}

// TestMemoryLimitTrapsTheGuest: a Go guest keeping more memory alive than
// MemoryLimitPages allows fails its call with a trap and the Go runtime's
// "out of memory", long before its deadline; one that keeps less succeeds,
// and the memory the pool reports never exceeds the limit.
func TestMemoryLimitTrapsTheGuest(t *testing.T) {
	const limit = 512 // 32 MiB
	e := newEngine(t, Config{MemoryLimitPages: limit})
	var logs syncBuffer
	log := hclog.New(&hclog.LoggerOptions{Name: "hostile", Output: &logs, Level: hclog.Info})
	// A deadline no test run reaches: a timeout here is a failure, not
	// the limit at work. The high-water mark is the limit, so the pool
	// keeps instances as large as the limit lets them be.
	p := hostilePool(t, e, PoolConfig{Size: 1, CallTimeout: time.Hour, MaxMemoryPages: limit, Logger: log})
	inLimit := func(t *testing.T) {
		t.Helper()
		s := p.Stats()
		if max := int64(s.Live) * limit * 65536; s.MemoryBytes > max {
			t.Fatalf("the pool reports %d bytes for %d instances, more than the limit allows (%d)", s.MemoryBytes, s.Live, max)
		}
	}

	resp, err := get(p, "/hostile/alloc?mb=8")
	if err != nil || string(resp.Body) != "kept 8 MiB alive" {
		t.Fatalf("8 MiB under a limit of 32: %v %+v", err, resp)
	}
	inLimit(t)
	if s := p.Stats(); s.MemoryBytes < 8<<20 {
		t.Fatalf("the pool reports %d bytes of memory for an instance holding 8 MiB", s.MemoryBytes)
	}

	resp, err = get(p, "/hostile/alloc?mb=64")
	if err == nil {
		t.Fatalf("a guest kept 64 MiB alive under a limit of 32 MiB: %d %q", resp.Status, resp.Body)
	}
	if !errors.Is(err, ErrTrap) || errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want a trap (not a timeout)", err)
	}
	if out := logs.String(); !strings.Contains(out, "out of memory") {
		t.Fatalf("the module's log does not say it ran out of memory:\n%s", out)
	}
	inLimit(t)
	if resp, err := get(p, "/hostile/ok"); err != nil || string(resp.Body) != "ok" {
		t.Fatalf("after the trap: %v", err)
	}
}

// TestMemoryHighWaterRecycles: an instance whose memory grew past
// MaxMemoryPages is closed after its call, every time; one that stays
// under it is kept.
func TestMemoryHighWaterRecycles(t *testing.T) {
	e := newEngine(t, Config{})
	// The mark: a fresh instance's memory and 1 MiB more, so serving
	// "ok" stays under it and a 4 MiB response goes past it.
	fresh := uint32(hostilePool(t, e, PoolConfig{Size: 1}).Stats().MemoryBytes / 65536)
	mark := fresh + 16
	p := hostilePool(t, e, PoolConfig{Size: 1, MaxMemoryPages: mark})
	for range 3 {
		if resp, err := get(p, "/hostile/ok"); err != nil || string(resp.Body) != "ok" {
			t.Fatalf("ok: %v", err)
		}
	}
	if s := p.Stats(); s.Recycled != 0 {
		t.Fatalf("stats = %+v: an instance under the mark (%d pages) was recycled", s, mark)
	}
	for i := range 3 {
		resp, err := get(p, "/hostile/huge?mb=4")
		if err != nil || len(resp.Body) != 4<<20 {
			t.Fatalf("huge: %v", err)
		}
		if s := p.Stats(); s.Recycled != uint64(i+1) || s.MemoryBytes > int64(mark)*65536 {
			t.Fatalf("after call %d: stats = %+v: an instance past the memory high-water mark (%d pages) must be recycled", i+1, s, mark)
		}
	}
}

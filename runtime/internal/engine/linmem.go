package engine

import (
	"context"
	"sync/atomic"

	"github.com/tetratelabs/wazero/experimental"
)

// Linear memory.
//
// By default wazero keeps a guest's linear memory in a Go byte slice: every
// page the guest declares is allocated and, when the Go allocator reuses
// memory, zeroed (so resident); memory.grow copies the whole slice into a
// larger one, leaving the old one to the collector; and every instance's
// memory counts in the Go heap, so the collector's goal grows with it.
//
// Where the platform allows (linuxMemory), each instance's memory is instead
// its own anonymous mapping, reserved at the maximum size without access and
// opened page by page as the guest grows: a page costs memory only once the
// guest touches it, growth never copies, and closing the instance returns
// the pages to the system at once. RATIONALE.md has the figures.

// memStats counts the linear memories the engine's allocator made, for
// tests and metrics.
type memStats struct {
	// live is the number of mappings not yet released.
	live atomic.Int64
}

// withMemory returns ctx carrying a linear memory allocator for one
// instantiation, and where the memory it makes will be (nil when wazero
// allocates: Config.HeapMemory, or a platform without mappings).
func (e *Engine) withMemory(ctx context.Context) (context.Context, **mappedMemory) {
	if e.cfg.HeapMemory || !canMap {
		return ctx, nil
	}
	mem := new(*mappedMemory)
	return experimental.WithMemoryAllocator(ctx, experimental.MemoryAllocatorFunc(func(_, max uint64) experimental.LinearMemory {
		*mem = newMappedMemory(max, &e.mem)
		return *mem
	})), mem
}

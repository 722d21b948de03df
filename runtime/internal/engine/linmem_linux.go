//go:build linux

package engine

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// canMap: linear memories are mappings of their own here.
const canMap = true

const hostPage = 4096

// mappedMemory is one instance's linear memory: a mapping of max bytes
// reserved without access; the first size bytes (rounded up to whole host
// pages) are readable and writable.
type mappedMemory struct {
	buf    []byte // the whole reservation; nil once released
	open   uint64 // bytes made accessible
	failed bool   // the reservation failed: every Reallocate fails
	stats  *memStats
}

func newMappedMemory(max uint64, st *memStats) *mappedMemory {
	m := &mappedMemory{stats: st}
	if max == 0 {
		max = hostPage // a memory that may never grow still needs a base
	}
	b, err := unix.Mmap(-1, 0, int(roundPage(max)), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		m.failed = true
		return m
	}
	m.buf = b
	st.live.Add(1)
	return m
}

func roundPage(n uint64) uint64 { return (n + hostPage - 1) &^ (hostPage - 1) }

// Reallocate implements experimental.LinearMemory: it opens the pages up to
// size (never moving the memory) and returns the first size bytes, or nil
// (memory.grow fails) when that is past the reservation or the system
// refuses.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.failed || m.buf == nil || size > uint64(len(m.buf)) {
		return nil
	}
	if want := roundPage(size); want > m.open {
		if err := unix.Mprotect(m.buf[m.open:want], unix.PROT_READ|unix.PROT_WRITE); err != nil {
			return nil
		}
		m.open = want
	}
	return m.buf[:size:size]
}

// Free implements experimental.LinearMemory. wazero calls it when the
// module closes, which, when the whole engine closes, may be while a call
// still runs on another goroutine: unmapping then would crash the process
// at the guest's next access. So the pages are given back (they read as
// zero from now on) but the address range stays mapped until release.
func (m *mappedMemory) Free() {
	if m.buf != nil && m.open > 0 {
		_ = unix.Madvise(m.buf[:m.open], unix.MADV_DONTNEED)
	}
}

// release unmaps the memory. Only for an instance that no call is running
// in (the pool's closes: after a call, or idle).
func (m *mappedMemory) release() {
	if m.buf == nil {
		return
	}
	_ = unix.Munmap(m.buf)
	m.buf = nil
	m.stats.live.Add(-1)
}

// resident counts the pages of the memory's first n bytes that are in
// physical memory (mincore), in bytes; -1 if it cannot tell.
func (m *mappedMemory) resident(n uint64) int64 {
	if m.buf == nil {
		return 0
	}
	n = min(roundPage(n), m.open)
	if n == 0 {
		return 0
	}
	vec := make([]byte, n/hostPage)
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m.buf[0])), uintptr(n), uintptr(unsafe.Pointer(&vec[0])))
	if errno != 0 {
		return -1
	}
	var pages int64
	for _, v := range vec {
		pages += int64(v & 1)
	}
	return pages * hostPage
}

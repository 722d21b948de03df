//go:build linux

package engine

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Machine code.
//
// wazero maps each compiled module's machine code into anonymous memory and
// writes it there (from the compiler or from its compilation cache), so all
// of it is resident for as long as the module lives: about 45 MiB for a Go
// module that imports net/http, of which a request touches a few MiB. The
// engine finds those mappings (the process's anonymous executable mappings
// that a compilation added), writes their bytes to an unlinked file in the
// cache folder and maps that file over them, read-only and private, at the
// same addresses: the code is unchanged, but a page is resident only once
// executed, and the kernel can drop pages not used lately and read them
// back from the file. wazero unmaps the range when the module closes, as
// before. RATIONALE.md has the figures.

// span is an address range [lo, hi).
type span struct{ lo, hi uintptr }

// execSpans lists the process's private anonymous executable mappings,
// which is where wazero puts machine code (Go's own code is mapped from its
// file).
func execSpans() ([]span, error) {
	raw, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	var out []span
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		// 7f01a2b3c000-7f01a2b4d000 r-xp 00000000 00:00 0 [path]
		fs := bytes.Fields(sc.Bytes())
		if len(fs) != 5 || string(fs[1]) != "r-xp" || string(fs[4]) != "0" {
			continue
		}
		lo, hi, _ := bytes.Cut(fs[0], []byte("-"))
		a, err1 := strconv.ParseUint(string(lo), 16, 64)
		z, err2 := strconv.ParseUint(string(hi), 16, 64)
		if err1 != nil || err2 != nil || z <= a {
			return nil, fmt.Errorf("engine: bad line in /proc/self/maps: %q", sc.Bytes())
		}
		out = append(out, span{uintptr(a), uintptr(z)})
	}
	return out, sc.Err()
}

// added returns the parts of after's ranges that no range of before covers
// (the kernel merges adjacent mappings, so a new mapping may show as a
// grown one). Both lists are sorted and disjoint, as /proc lists them.
func added(before, after []span) []span {
	var out []span
	for _, a := range after {
		lo := a.lo
		for _, b := range before {
			if b.hi <= lo || b.lo >= a.hi {
				continue
			}
			if b.lo > lo {
				out = append(out, span{lo, b.lo})
			}
			lo = max(lo, b.hi)
		}
		if lo < a.hi {
			out = append(out, span{lo, a.hi})
		}
	}
	return out
}

func size(spans []span) int64 {
	var n int64
	for _, s := range spans {
		n += int64(s.hi - s.lo)
	}
	return n
}

// fileBack replaces the anonymous code mappings spans by private read-only
// mappings of a file in dir holding the same bytes (see above). No code in
// spans may run meanwhile: it is called right after compiling, before any
// instance exists. On error some spans may stay anonymous, which is only
// more memory.
func fileBack(dir string, spans []span) error {
	for _, s := range spans {
		if err := fileBackOne(dir, s); err != nil {
			return err
		}
	}
	return nil
}

func fileBackOne(dir string, s span) error {
	f, err := os.CreateTemp(dir, "code-*")
	if err != nil {
		return fmt.Errorf("engine: machine code file: %w", err)
	}
	// Unlinked at once: nothing can open it to change the code under the
	// mapping; the mapping keeps it alive and it goes with the module.
	os.Remove(f.Name())
	defer f.Close()
	fd := int(f.Fd())
	n := s.hi - s.lo
	for off := uintptr(0); off < n; {
		w, _, errno := unix.Syscall6(unix.SYS_PWRITE64, uintptr(fd), s.lo+off, n-off, off, 0, 0)
		if errno != 0 {
			return fmt.Errorf("engine: machine code file: %w", errno)
		}
		if w == 0 {
			return fmt.Errorf("engine: machine code file: short write")
		}
		off += w
	}
	// Written back and out of the page cache, so that what is resident is
	// what runs (the mapping reads pages back on demand).
	if err := unix.Fdatasync(fd); err != nil {
		return fmt.Errorf("engine: machine code file: %w", err)
	}
	_ = unix.Fadvise(fd, 0, int64(n), unix.FADV_DONTNEED)
	addr, _, errno := unix.Syscall6(unix.SYS_MMAP, s.lo, n, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_FIXED, uintptr(fd), 0)
	if errno != 0 {
		return fmt.Errorf("engine: map machine code: %w", errno)
	}
	if addr != s.lo {
		panic("engine: machine code mapped at another address despite MAP_FIXED")
	}
	return nil
}

// resident sums the process's resident pages in spans, from
// /proc/self/smaps (mincore would count the file's pages in the page
// cache, read ahead or not, mapped here or not); -1 if it cannot tell.
func resident(spans []span) int64 {
	raw, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		return -1
	}
	var n int64
	in := false // the current mapping starts inside spans
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		line := sc.Bytes()
		if rest, ok := bytes.CutPrefix(line, []byte("Rss:")); ok {
			if in {
				kb, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte(" kB"))), 10, 64)
				if err != nil {
					return -1
				}
				n += kb << 10
			}
			continue
		}
		lo, _, ok := bytes.Cut(line, []byte("-"))
		if !ok || bytes.IndexByte(lo, ' ') >= 0 || bytes.IndexByte(lo, ':') >= 0 {
			continue // another field
		}
		a, err := strconv.ParseUint(string(lo), 16, 64)
		if err != nil {
			continue
		}
		in = false
		for _, s := range spans {
			if uintptr(a) >= s.lo && uintptr(a) < s.hi {
				in = true
			}
		}
	}
	return n
}

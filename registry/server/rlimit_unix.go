//go:build unix

package server

import "syscall"

// fileLimit raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit and returns it (0 if unknown). The Go runtime raises it at
// start too on most systems; doing it here keeps the caps sized from it
// right wherever the registry is embedded.
func fileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = raised.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			lim = raised
		}
	}
	return uint64(lim.Cur)
}

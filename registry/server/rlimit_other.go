//go:build !unix

package server

// fileLimit returns 0: the limit on open files is unknown here, and the
// caps use their fallback (see limitsFor).
func fileLimit() uint64 { return 0 }

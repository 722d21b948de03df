// Command guest is the peer run's WASI command: the bench module's handler
// (package handler, the same code the bench module serves), built with
// standard Go for GOOS=wasip1 GOARCH=wasm as a plain command, so that any
// wasm host that runs standard-Go WASI programs can run it. It serves one
// request shape in process (handler.Loop: no network, no Web Sonic ABI), in
// rounds its caller paces:
//
//	guest SHAPE
//
// Each line "N WARM" on stdin runs one round (WARM untimed calls, then N
// timed ones) and answers one line on stdout, the handler.LoopResult as
// JSON; the guest exits at the end of its input. So one instance serves
// every round, and its caller can run other work (the same loop natively)
// between two rounds. SHAPE is hello (html/template page), greet
// (encoding/json) or spin (CPU only).
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/websonic/websonic/runtime/internal/testmodules/bench/handler"
)

// base is the bench module's own mount point, so that every host renders
// exactly the bytes the module does (the page shows the path).
const base = "/wasm"

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "guest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) != 1 {
		return fmt.Errorf("usage: guest SHAPE (rounds as lines \"N WARM\" on stdin)")
	}
	h := handler.New(base, nil, nil)
	in := bufio.NewScanner(patientReader{os.Stdin})
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var n, warm int
		if _, err := fmt.Sscan(in.Text(), &n, &warm); err != nil {
			return fmt.Errorf("round %q: %w", in.Text(), err)
		}
		res, err := handler.Loop(h, base, args[0], n, warm)
		if err != nil {
			return err
		}
		if err := out.Encode(res); err != nil {
			return err
		}
	}
	return in.Err()
}

// patientReader retries a read that fails with EAGAIN: under Node.js 20's
// WASI, a read of a stdin pipe with no data in it yet fails so (wazero's
// blocks), which happens whenever the caller is still running its native
// round. The guest sleeps a little and tries again, which costs next to
// nothing meanwhile and is never timed.
type patientReader struct{ r io.Reader }

func (p patientReader) Read(b []byte) (int, error) {
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 5*time.Millisecond) {
		n, err := p.r.Read(b)
		if n > 0 || !errors.Is(err, syscall.EAGAIN) {
			return n, err
		}
		time.Sleep(wait)
	}
}

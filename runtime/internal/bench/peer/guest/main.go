// Command guest is the peer run's WASI command: the bench module's handler
// (package handler, the same code the bench module serves), built with
// standard Go for GOOS=wasip1 GOARCH=wasm as a plain command, so that any
// wasm host that runs standard-Go WASI programs can run it. It serves one
// request shape N times in process (handler.Loop: no network, no Web Sonic
// ABI) and prints the handler.LoopResult as one JSON line on stdout.
//
//	guest SHAPE N
//
// SHAPE is hello (html/template page), greet (encoding/json) or spin
// (CPU only). The same program built natively is a native reference too.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"

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
	if len(args) != 2 {
		return fmt.Errorf("usage: guest SHAPE N")
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return fmt.Errorf("N: %w", err)
	}
	res, err := handler.Loop(handler.New(base, nil), base, args[0], n)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

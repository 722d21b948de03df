package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAddressInUse: `serve` and `registry serve` on an address another
// program holds (a second site, `make run` still running) fail at once,
// naming --addr, before they start a database or write a thing into the
// data folder.
func TestAddressInUse(t *testing.T) {
	bin := buildBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	env := []string{"WEBSONIC_DATABASE_URL=", "WEBSONIC_REGISTRY_DATABASE_URL=", "WEBSONIC_ONLINE_KEY_PASSWORD=online-secret"}
	for _, args := range [][]string{{"serve"}, {"registry", "serve"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			data := filepath.Join(dataDir(t), "data")
			r := cliRun(t, ctx, bin, "", env, "", append(args, "--data-dir", data, "--addr", addr)...)
			if r.code != 1 || !strings.Contains(r.stderr, "--addr "+addr) || !strings.Contains(r.stderr, "address already in use") {
				t.Fatalf("exit %d, want an error naming --addr %s:\n%s", r.code, addr, r.stderr)
			}
			if _, err := os.Stat(data); !os.IsNotExist(err) {
				t.Fatalf("the data folder was made (%v) before the address was found taken", err)
			}
		})
	}
}

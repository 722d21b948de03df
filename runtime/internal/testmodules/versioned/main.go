// Command versioned is a test-only module for updates (server.Swap): every
// answer names the version that served it. The runtime's tests build it once
// and make each version a package of its own from the same wasm, with a
// module.json whose config defaults say what that version does:
//
//	version     what GET /versioned answers ("versioned <version>")
//	notes       also read table notes, which a migration of the test
//	            package creates
//	health      the health check's outcome: ok, fail or panic
//	panic_init  panic while an instance starts
//
// GET /versioned/users counts websonic_api.users, to see the core data
// grants.
package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/websonic/websonic/sdk"
)

var cfg struct {
	Version   string `json:"version"`
	Notes     bool   `json:"notes"`
	Health    string `json:"health"`
	PanicInit bool   `json:"panic_init"`
}

func init() {
	if err := sdk.Config(&cfg); err != nil {
		panic(err)
	}
	if cfg.PanicInit {
		panic("versioned: panic_init is set")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /versioned", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Notes {
			var n int
			if err := sdk.DB().QueryRowContext(r.Context(), `SELECT count(*) FROM notes`).Scan(&n); err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		fmt.Fprintf(w, "versioned %s", cfg.Version)
	})
	mux.HandleFunc("GET /versioned/users", func(w http.ResponseWriter, r *http.Request) {
		var n int
		if err := sdk.DB().QueryRowContext(r.Context(), `SELECT count(*) FROM websonic_api.users`).Scan(&n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d users", n)
	})
	sdk.Handle(mux)
	sdk.HealthCheck(health)
}

func health(ctx context.Context) error {
	switch cfg.Health {
	case "fail":
		return errors.New("unhealthy by configuration")
	case "panic":
		panic("versioned: the health check panics")
	}
	if cfg.Notes {
		var n int
		if err := sdk.DB().QueryRowContext(ctx, `SELECT count(*) FROM notes`).Scan(&n); err != nil {
			return fmt.Errorf("table notes: %w", err)
		}
	}
	return nil
}

// main is never called in a wasm reactor; the Go toolchain wants it.
func main() {}

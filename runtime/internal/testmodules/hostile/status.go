//go:build wasip1

package main

// The runtime's status (runtime/server/status_test.go): this module's
// manifest lists no user action, so sdk.RuntimeStatus must be denied.

import (
	"errors"
	"io"
	"net/http"

	"github.com/websonic/websonic/sdk"
)

func init() {
	mux.HandleFunc("GET /hostile/status", func(w http.ResponseWriter, r *http.Request) {
		switch _, err := sdk.RuntimeStatus(r.Context()); {
		case err == nil:
			io.WriteString(w, "allowed")
		case errors.Is(err, sdk.ErrDenied):
			io.WriteString(w, "denied")
		default:
			io.WriteString(w, err.Error())
		}
	})
}

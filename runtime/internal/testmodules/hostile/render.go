package main

import (
	"net/http"
	"strconv"

	"github.com/websonic/websonic/sdk"
)

// Page templates the host renders (sdk.Render): what a module can make the
// host do with them.
func init() {
	// /hostile/render/square?n=N ranges over N items inside a range over
	// the same N: N² iterations in the host, unless it bounds them.
	mux.HandleFunc("GET /hostile/render/square", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		a := make([]int, min(max(n, 0), 200_000))
		sdk.Render(w, http.StatusOK, "square.html", map[string]any{"A": a})
	})
	// /hostile/render/echo?v=V renders V into text, an attribute and a URL.
	mux.HandleFunc("GET /hostile/render/echo", func(w http.ResponseWriter, r *http.Request) {
		sdk.Render(w, http.StatusOK, "echo.html", map[string]string{"V": r.URL.Query().Get("v")})
	})
	// /hostile/render/missing names a template the module does not have.
	mux.HandleFunc("GET /hostile/render/missing", func(w http.ResponseWriter, r *http.Request) {
		sdk.Render(w, http.StatusOK, "nope.html", map[string]string{})
	})
}

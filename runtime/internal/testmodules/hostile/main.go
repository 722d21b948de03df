// Command hostile is a test-only module that attacks the runtime: escaping
// its database sandbox, looping, exhausting memory, panicking, handing the
// host bad pointers and answering with huge responses. The runtime's tests
// drive it; every attack must fail its own request only. It also probes the
// SDK's database driver (sqlprobe.go).
package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

// mux serves every attack; each file of the module adds its own, in init.
var mux = http.NewServeMux()

func init() {
	mux.HandleFunc("GET /hostile/ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("POST /hostile/sql", runSQL)
	mux.HandleFunc("GET /hostile/loop", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; ; i++ {
			if i < 0 {
				break
			}
		}
	})
	mux.HandleFunc("GET /hostile/alloc", func(w http.ResponseWriter, r *http.Request) {
		// Keeps mb MiB alive (without mb: allocates until something
		// stops it), then says so: a memory limit must trap it first.
		mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
		if err != nil {
			mb = -1
		}
		var keep [][]byte
		for i := 0; mb < 0 || i < mb; i++ {
			b := make([]byte, 1<<20)
			b[len(b)-1] = 1 // touched, so it cannot be optimized away
			keep = append(keep, b)
		}
		fmt.Fprintf(w, "kept %d MiB alive", len(keep))
	})
	mux.HandleFunc("GET /hostile/panic", func(w http.ResponseWriter, r *http.Request) { panic("hostile module panics") })
	mux.HandleFunc("GET /hostile/huge", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		chunk := strings.Repeat("x", 1<<20)
		for range n {
			io.WriteString(w, chunk)
		}
	})
	mux.HandleFunc("GET /hostile/badptr", func(w http.ResponseWriter, r *http.Request) {
		badPointer(r.URL.Query().Get("fn"))
		io.WriteString(w, "survived")
	})
	mux.HandleFunc("GET /hostile/setcookie", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "websonic_session", Value: "fixated"})
		http.SetCookie(w, &http.Cookie{Name: "__Host-websonic_session", Value: "fixated", Path: "/", Secure: true})
		// The login guard's device cookie: planted, it would make the
		// victim's next sign-in vouch for a device id the module knows.
		http.SetCookie(w, &http.Cookie{Name: "websonic_device", Value: "AAAAAAAAAAAAAAAAAAAAAA", Path: "/"})
		http.SetCookie(w, &http.Cookie{Name: "__Host-websonic_device", Value: "AAAAAAAAAAAAAAAAAAAAAA", Path: "/", Secure: true})
		io.WriteString(w, r.Header.Get("Cookie"))
	})
	mux.HandleFunc("GET /hostile/whoami", func(w http.ResponseWriter, r *http.Request) {
		// What a module learns of its client.
		fmt.Fprintf(w, "remote=%s xff=%q proto=%q", r.RemoteAddr, r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"))
	})
	mux.HandleFunc("GET /hostile/env", func(w http.ResponseWriter, r *http.Request) {
		// Time and randomness come from the host through WASI.
		b := make([]byte, 16)
		rand.Read(b)
		fmt.Fprintf(w, "%d %x", time.Now().UnixNano(), b)
	})
	mux.HandleFunc("GET /hostile/types", types)
	mux.HandleFunc("POST /hostile/tx", txProbe)
	sdk.Handle(mux)
}

func main() {}

// runSQL runs the body as SQL on one connection, then reports the error (if
// any) and who the connection is afterwards.
func runSQL(w http.ResponseWriter, r *http.Request) {
	q, _ := io.ReadAll(r.Body)
	ctx := context.Background()
	conn, err := sdk.DB().Conn(ctx)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer conn.Close()
	out := map[string]string{}
	rows, err := conn.QueryContext(ctx, string(q))
	if err != nil {
		out["error"] = err.Error()
	} else {
		var vals []string
		cols, _ := rows.Columns()
		for rows.Next() {
			cells := make([]sql.NullString, len(cols))
			ptrs := make([]any, len(cols))
			for i := range cells {
				ptrs[i] = &cells[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				out["error"] = err.Error()
				break
			}
			for _, c := range cells {
				vals = append(vals, c.String)
			}
		}
		if err := rows.Err(); err != nil {
			out["error"] = err.Error()
		}
		rows.Close()
		out["rows"] = strings.Join(vals, ",")
	}
	var who string
	if err := conn.QueryRowContext(ctx, "SELECT current_user || '/' || session_user").Scan(&who); err != nil {
		who = "error: " + err.Error()
	}
	out["user"] = who
	json.NewEncoder(w).Encode(out)
}

package main

// Attacks on the realtime hub (runtime/server/realtime_test.go): forging or
// overhearing the host's notification channels, writing its events table,
// publishing beyond the manifest's topics or over the size limit, and
// subscribe and message handlers that loop, trap or sleep.

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

func init() {
	// What the module can learn of the runtime's channels: the table that
	// names them, its own session's channels, others' statements.
	mux.HandleFunc("GET /hostile/rt/channels", func(w http.ResponseWriter, r *http.Request) {
		out := map[string]string{}
		for name, q := range map[string]string{
			"table":     `SELECT string_agg(name, ' ') FROM websonic.channels`,
			"listening": `SELECT coalesce(string_agg(c, ' '), '') FROM pg_listening_channels() c`,
			// Other roles' statements (the runtime's LISTEN): the module's own
			// sessions, e.g. its pool's connection reset, are its own business.
			"activity": `SELECT coalesce(string_agg(query, ' | '), '') FROM pg_stat_activity WHERE usename <> current_user AND (query ILIKE '%listen%' OR query ILIKE '%notify%')`,
			"insert":   `INSERT INTO websonic.realtime_events (topic, data) VALUES ('chat.x', '{"forged":true}') RETURNING id::text`,
			"horizon":  `UPDATE websonic.realtime_horizon SET swept_through = 0 RETURNING 'moved'`,
		} {
			out[name] = queryOne(r.Context(), q)
		}
		json.NewEncoder(w).Encode(out)
	})
	// LISTEN and NOTIFY on the names given (?name=a&name=b), n times each
	// (a flood): PostgreSQL lets any role do both on any name it can name.
	mux.HandleFunc("POST /hostile/rt/notify", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		names := r.URL.Query()["name"]
		var errs []string
		for _, name := range names {
			if _, err := sdk.DB().ExecContext(r.Context(), `LISTEN "`+strings.ReplaceAll(name, `"`, ``)+`"`); err != nil {
				errs = append(errs, "listen "+name+": "+err.Error())
			}
			if _, err := sdk.DB().ExecContext(r.Context(), `SELECT pg_notify($1, repeat('x', 7000)) FROM generate_series(1, $2)`, name, n); err != nil {
				errs = append(errs, "notify "+name+": "+err.Error())
			}
		}
		fmt.Fprintf(w, "notified %d names %d times; errors: %s", len(names), n, strings.Join(errs, "; "))
	})
	// Publishing: to any topic (?topic=), of ?kb= KiB.
	mux.HandleFunc("POST /hostile/rt/publish", func(w http.ResponseWriter, r *http.Request) {
		kb, _ := strconv.Atoi(r.URL.Query().Get("kb"))
		err := sdk.Publish(r.Context(), r.URL.Query().Get("topic"), strings.Repeat("x", kb<<10))
		switch {
		case errors.Is(err, sdk.ErrDenied):
			http.Error(w, err.Error(), http.StatusForbidden)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			io.WriteString(w, "published")
		}
	})
	// Subscriptions to hostile.loop, hostile.trap and hostile.sleep (and
	// messages "loop", "trap", "sleep") never answer well.
	sdk.OnSubscribe(func(ctx context.Context, u *sdk.User, topic string) error {
		misbehave(strings.TrimPrefix(topic, "hostile."))
		return nil
	})
	sdk.OnMessage(func(ctx context.Context, u *sdk.User, topic string, data json.RawMessage) error {
		var s string
		json.Unmarshal(data, &s)
		misbehave(s)
		return nil
	})
}

func misbehave(how string) {
	switch how {
	case "loop":
		for i := 0; ; i++ {
			if i < 0 {
				break
			}
		}
	case "trap":
		panic("hostile subscribe handler traps")
	case "sleep":
		time.Sleep(time.Hour)
	}
}

// queryOne returns the first column of the first row of q, or its error.
func queryOne(ctx context.Context, q string) string {
	var s sql.NullString
	if err := sdk.DB().QueryRowContext(ctx, q).Scan(&s); err != nil {
		return "error: " + err.Error()
	}
	return s.String
}

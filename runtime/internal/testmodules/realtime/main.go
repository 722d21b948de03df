// Command realtime is a test-only module for the realtime hub. It owns the
// topics chat.* and news:
//
//   - subscribing: chat.secret is refused to everyone, chat.members.* to
//     anonymous visitors, anything else allowed;
//   - messages: relayed as events {"from": username, "data": data} on
//     their topic, except the data "refuse", which is refused;
//   - POST /rt/publish?topic=T publishes the body (JSON) to T (with
//     &stamp, {"t": the module's clock in unix ns} instead) and answers
//     the error's text with 403 (denied) or 400 (anything else);
//   - GET /rt/connections answers the site's realtime connections.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rt/publish", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		data := any(json.RawMessage(b))
		if r.URL.Query().Has("stamp") { // {"t": now, unix ns}: the benchmarks' clock starts here
			data = map[string]int64{"t": time.Now().UnixNano()}
		}
		if err := sdk.Publish(r.Context(), r.URL.Query().Get("topic"), data); err != nil {
			status := http.StatusBadRequest
			if errors.Is(err, sdk.ErrDenied) {
				status = http.StatusForbidden
			}
			http.Error(w, err.Error(), status)
			return
		}
		io.WriteString(w, "published")
	})
	mux.HandleFunc("GET /rt/connections", func(w http.ResponseWriter, r *http.Request) {
		conns, err := sdk.RealtimeConnections(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		json.NewEncoder(w).Encode(conns)
	})
	sdk.Handle(mux)

	sdk.OnSubscribe(func(ctx context.Context, u *sdk.User, topic string) error {
		switch {
		case topic == "chat.secret":
			return errors.New("nobody reads chat.secret")
		case strings.HasPrefix(topic, "chat.members.") && u == nil:
			return errors.New("members only")
		}
		return nil
	})
	sdk.OnMessage(func(ctx context.Context, u *sdk.User, topic string, data json.RawMessage) error {
		if string(data) == `"refuse"` {
			return errors.New("refused")
		}
		from := ""
		if u != nil {
			from = u.Username
		}
		return sdk.Publish(ctx, topic, map[string]any{"from": from, "data": data})
	})
}

func main() {}

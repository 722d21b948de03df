// Command squatter is a test-only module that declares topics another
// module (realtime) already owns, chat.*, beside its own topic squat:
// POST /squat/publish?topic=T publishes {"forged":true} to T and answers
// 403 when the runtime denies it, 400 on any other error.
//
// Its own topic squat is for staff only (as sdk's example of a role-gated
// topic): a subscription of anyone else is refused, and a message on it is
// answered with the event {"roles": the sender's roles}.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"

	"github.com/websonic/websonic/sdk"
)

func init() {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /squat/publish", func(w http.ResponseWriter, r *http.Request) {
		err := sdk.Publish(r.Context(), r.URL.Query().Get("topic"), map[string]bool{"forged": true})
		switch {
		case errors.Is(err, sdk.ErrDenied):
			http.Error(w, err.Error(), http.StatusForbidden)
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			io.WriteString(w, "published")
		}
	})
	sdk.Handle(mux)
	sdk.OnSubscribe(func(ctx context.Context, u *sdk.User, topic string) error {
		if u == nil || !slices.Contains(u.Roles, "staff") {
			return errors.New("staff only")
		}
		return nil
	})
	sdk.OnMessage(func(ctx context.Context, u *sdk.User, topic string, data json.RawMessage) error {
		if u == nil {
			return errors.New("staff only")
		}
		return sdk.Publish(ctx, topic, map[string][]string{"roles": u.Roles})
	})
}

func main() {}

package sdk

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// Realtime: browsers hold one WebSocket to the runtime (/ws) and subscribe
// to topics; the module that declares a topic in its manifest's "topics"
// (a name, or a prefix such as "chat.*") decides who may subscribe
// (OnSubscribe), hears what clients send on it (OnMessage) and publishes
// events to its subscribers on every replica of the site (Publish). The
// protocol and every limit are in sdk/ABI.md, section 11; browsers can use
// the runtime's client, /static/websonic/realtime.js.

// maxRealtimeBody caps the body of the host's realtime calls the SDK reads.
const maxRealtimeBody = 1 << 20

// Publish sends data (any value encoding/json can encode) as an event to
// the subscribers of topic, which must be one of the module's topics
// (errors.Is(err, ErrDenied) otherwise). The data is limited to 64 KiB of
// JSON by default (the site may change it): larger, Publish fails. An
// event published from a request that then fails is still published.
func Publish(ctx context.Context, topic string, data any) error {
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("sdk: publish to %s: %w", topic, err)
	}
	req := struct {
		Topic string          `json:"topic"`
		Data  json.RawMessage `json:"data"`
	}{topic, raw}
	if err := callHost(ctx, "realtime.publish", req, nil); err != nil {
		return fmt.Errorf("sdk: publish to %s: %w", topic, err)
	}
	return nil
}

// OnSubscribe sets the function that decides whether a user (nil: an
// anonymous visitor) may subscribe to a topic of the module's: a nil error
// allows it, any error refuses (the client is told "denied"; the error's
// text stays in the module). The runtime asks once per subscription and
// remembers nothing else: without OnSubscribe every subscription is
// refused. Call it from an init function.
func OnSubscribe(f func(ctx context.Context, u *User, topic string) error) {
	onHost(abi.RealtimeSubscribePath, func(r *http.Request) (int, []byte) {
		var body struct {
			Topic string `json:"topic"`
		}
		if err := readJSON(r, &body); err != nil {
			return http.StatusBadRequest, []byte(err.Error())
		}
		if err := f(r.Context(), UserFrom(r), body.Topic); err != nil {
			return http.StatusForbidden, []byte(err.Error())
		}
		return http.StatusNoContent, nil
	})
	hostcall.SetHandler(disp.serve)
}

// OnMessage sets the function that receives what a subscribed client
// sends on a topic of the module's, with the sender (nil: anonymous): data
// is the JSON value the client sent. A nil error accepts it; an error
// tells the client its message was refused. The runtime calls it once per
// message; a connection sends at most 20 frames a second (bursts of 40) by
// default, and the client's data is at most 16 KiB. To relay a message,
// Publish it. Call it from an init function.
func OnMessage(f func(ctx context.Context, u *User, topic string, data json.RawMessage) error) {
	onHost(abi.RealtimeMessagePath, func(r *http.Request) (int, []byte) {
		var body struct {
			Topic string          `json:"topic"`
			Data  json.RawMessage `json:"data"`
		}
		if err := readJSON(r, &body); err != nil {
			return http.StatusBadRequest, []byte(err.Error())
		}
		if err := f(r.Context(), UserFrom(r), body.Topic, body.Data); err != nil {
			return http.StatusUnprocessableEntity, []byte(err.Error())
		}
		return http.StatusNoContent, nil
	})
	hostcall.SetHandler(disp.serve)
}

// readJSON decodes the body of a host call.
func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRealtimeBody))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// RealtimeConnection is an open realtime connection of the site, as
// RealtimeConnections lists it.
type RealtimeConnection struct {
	UserID   int64    `json:"user_id,omitempty"` // 0: anonymous
	Username string   `json:"username,omitempty"`
	ClientIP string   `json:"client_ip"`
	Since    string   `json:"since"` // RFC 3339
	Topics   []string `json:"topics"`
}

// RealtimeConnections lists the open realtime connections of the replica
// that serves the call (at most 1000, oldest first), for a module whose
// manifest lists the user action "connections" (errors.Is(err, ErrDenied)
// otherwise). Each connection's Topics are its subscriptions to the
// calling module's own topics only.
func RealtimeConnections(ctx context.Context) ([]RealtimeConnection, error) {
	var resp struct {
		Connections []RealtimeConnection `json:"connections"`
	}
	if err := callHost(ctx, "users.connections", struct{}{}, &resp); err != nil {
		return nil, fmt.Errorf("sdk: realtime connections: %w", err)
	}
	return resp.Connections, nil
}

// Unsubscribe ends the user's subscriptions to topic, one of the module's
// topics, on every replica of the site: they get every event published
// before the call and none after, and the client is told (a "refused"
// frame with reason "revoked"). Call it when a user loses the right to
// read a topic (a member removed from a room): OnSubscribe is asked once
// per subscription, and a subscription it allowed lasts until the
// connection ends otherwise. A new subscription asks OnSubscribe again;
// one that catches up from before the revocation is told to reload, and
// gets no stored event from before it: call Unsubscribe also just before
// granting a user a topic they could not read (a member joining a room),
// so that a catch-up of theirs from an older event id cannot replay what
// was published before they could read it.
func Unsubscribe(ctx context.Context, topic string, userID int64) error {
	if userID <= 0 {
		return fmt.Errorf("sdk: unsubscribe user %d from %s: a user id is above 0", userID, topic)
	}
	req := struct {
		Topic  string `json:"topic"`
		UserID int64  `json:"user_id"`
	}{topic, userID}
	if err := callHost(ctx, "realtime.revoke", req, nil); err != nil {
		return fmt.Errorf("sdk: unsubscribe user %d from %s: %w", userID, topic, err)
	}
	return nil
}

// UnsubscribeAll ends every subscription to topic, one of the module's
// topics, on every replica, as Unsubscribe does for one user: call it just
// before more people may read a topic than could before (a chat room
// opened to everyone), so that no catch-up from an older event id replays
// to them what only the former readers could read. Every page following
// the topic is told ("revoked") and subscribes again if it wants to, which
// asks OnSubscribe again; its catch-up across the call is a reload.
func UnsubscribeAll(ctx context.Context, topic string) error {
	req := struct {
		Topic    string `json:"topic"`
		Everyone bool   `json:"everyone"`
	}{topic, true}
	if err := callHost(ctx, "realtime.revoke", req, nil); err != nil {
		return fmt.Errorf("sdk: unsubscribe everyone from %s: %w", topic, err)
	}
	return nil
}

package sdk_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/sdktest"
)

// A module decides who may subscribe to its topics. The runtime asks once
// per subscription, with a call sdktest.Do can make natively: 2xx allows.
func ExampleOnSubscribe() {
	sdk.OnSubscribe(func(ctx context.Context, u *sdk.User, topic string) error {
		if strings.HasPrefix(topic, "chat.staff.") && !u.HasRole("staff") {
			return errors.New("staff only")
		}
		return nil
	})

	ask := func(topic string, u *sdk.User) {
		resp := sdktest.Do(httptest.NewRequest("POST", abi.RealtimeSubscribePath, strings.NewReader(`{"topic":"`+topic+`"}`)), u)
		fmt.Println(topic, resp.StatusCode)
	}
	ask("chat.lobby", nil)
	ask("chat.staff.room", &sdk.User{ID: 1, Username: "ada", Roles: []string{"member"}})
	ask("chat.staff.room", &sdk.User{ID: 2, Username: "bob", Roles: []string{"staff", "member"}})
	// Output:
	// chat.lobby 204
	// chat.staff.room 403
	// chat.staff.room 204
}

// A module hears what subscribed clients send on its topics, one call per
// message, and typically publishes it to the topic's subscribers
// (sdk.Publish only works inside the runtime).
func ExampleOnMessage() {
	sdk.OnMessage(func(ctx context.Context, u *sdk.User, topic string, data json.RawMessage) error {
		var msg struct{ Text string }
		if err := json.Unmarshal(data, &msg); err != nil || msg.Text == "" {
			return errors.New("send {\"text\": ...}")
		}
		fmt.Printf("%s on %s: %s\n", u.Username, topic, msg.Text)
		return nil // inside the runtime: return sdk.Publish(ctx, topic, ...)
	})

	send := func(body string) {
		resp := sdktest.Do(httptest.NewRequest("POST", abi.RealtimeMessagePath, strings.NewReader(body)), &sdk.User{ID: 1, Username: "ada"})
		fmt.Println(resp.StatusCode)
	}
	send(`{"topic":"chat.lobby","data":{"text":"hello"}}`)
	send(`{"topic":"chat.lobby","data":42}`)
	// Output:
	// ada on chat.lobby: hello
	// 204
	// 422
}

// Publish sends an event to a topic the module declared in its manifest
// ("topics": ["chat.*"]), to every subscriber on every replica. Outside
// the runtime (as here) it fails.
func ExamplePublish() {
	// Inside the runtime, a topic the manifest does not declare is denied:
	// errors.Is(err, sdk.ErrDenied).
	err := sdk.Publish(context.Background(), "chat.lobby", map[string]string{"text": "hello"})
	fmt.Println(err != nil)
	// Output:
	// true
}

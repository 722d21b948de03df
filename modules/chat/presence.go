package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/websonic/websonic/sdk"
)

// presenceMessage receives a page's frame on chat.presence (heartbeat).
// (Foundation stub: the social slice replaces this file.)
func presenceMessage(ctx context.Context, u *sdk.User, data json.RawMessage) error {
	return errors.New("not yet")
}

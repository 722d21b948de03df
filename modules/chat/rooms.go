package main

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/websonic/websonic/sdk"
)

// canRead answers nil when u may read room id. (Foundation stub: the rooms
// slice replaces this file.)
func canRead(ctx context.Context, u *sdk.User, id int64) error { return errors.New("not yet") }

// roomMessage receives a page's frame on a room's topic (typing).
func roomMessage(ctx context.Context, u *sdk.User, id int64, data json.RawMessage) error {
	return errors.New("not yet")
}

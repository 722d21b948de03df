package main

import (
	"context"

	"github.com/websonic/websonic/sdk"
)

// Its users' data export says whether the module could act through a
// host service meanwhile (a realtime publish): a disabled module is
// still asked for its users' data, and must do nothing else.
func init() {
	sdk.UserData(func(ctx context.Context, userID int64) (any, error) {
		published := "yes"
		if err := sdk.Publish(ctx, "extras.news", map[string]string{"from": "export"}); err != nil {
			published = "no: " + err.Error()
		}
		return map[string]string{"published": published}, nil
	}, func(ctx context.Context, userID int64) error { return nil })
}

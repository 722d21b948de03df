package sdk_test

import (
	"context"
	"fmt"
	"time"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/sdktest"
)

// A scheduled job is declared in module.json with its cron schedule (five
// fields, UTC):
//
//	"schedules": [{"name": "digest", "cron": "0 7 * * 1"}]
//
// and registered in init. The runtime runs it at each tick exactly once
// across the site's replicas; JobTick names the tick, the same on every
// replica, to make a run idempotent (e.g. as a key in the module's own
// table).
func ExampleJob() {
	sdk.Job("digest", func(ctx context.Context) error {
		fmt.Println("weekly digest for", sdk.JobTick(ctx).Format(time.DateTime))
		return nil
	})

	err := sdktest.RunJob("digest", time.Date(2026, 11, 30, 7, 0, 0, 0, time.UTC))
	fmt.Println(err)
	// Output:
	// weekly digest for 2026-11-30 07:00:00
	// <nil>
}

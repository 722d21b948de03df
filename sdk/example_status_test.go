package sdk_test

import (
	"context"
	"fmt"

	"github.com/websonic/websonic/sdk"
)

// An admin command "threads" shows what the runtime replica that serves
// it is running (the module's manifest lists user action "status"): one
// row per module, with its instances, and a summary line. Outside the
// runtime the call fails with sdktest.ErrNotInRuntime, so this example
// only shows the code.
func ExampleRuntimeStatus() {
	sdk.Command("threads", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		st, err := sdk.RuntimeStatus(ctx)
		if err != nil {
			return sdk.Result{}, err // errors.Is(err, sdk.ErrDenied): the action is not approved
		}
		rows := [][]any{}
		for _, m := range st.Modules {
			rows = append(rows, []any{m.Name + "@" + m.Version, m.Instances, m.Busy, m.Queued, m.Max})
		}
		rows = append(rows, []any{
			fmt.Sprintf("%s since %s: %d goroutines, %d connections, database %d/%d", st.Replica, st.StartedAt,
				st.Goroutines, st.Connections, st.DBPool.Acquired, st.DBPool.Max),
			"", "", "", "",
		})
		return sdk.Table([]string{"module", "instances", "busy", "queued", "max"}, rows), nil
	})
}

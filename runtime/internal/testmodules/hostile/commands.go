package main

import (
	"context"
	"strings"

	"github.com/websonic/websonic/sdk"
)

// Admin commands and scheduled jobs that attack the host: each must fail
// its own run only, recorded as such, while the neighbour modules answer.
func init() {
	sdk.Command("loop", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		spin()
		return sdk.Text("unreachable"), nil
	})
	sdk.Command("trap", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		panic("hostile command traps")
	})
	sdk.Command("giant", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		return sdk.Text(strings.Repeat("x", 3<<20)), nil // over the host's 1 MiB cap
	})
	sdk.Command("giant_error", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		return sdk.Result{}, errorString(strings.Repeat("e", 3<<20))
	})
	sdk.Command("ragged", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		return sdk.Table([]string{"a", "b"}, [][]any{{"only one cell"}}), nil
	})
	sdk.Command("nested", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		return sdk.Table([]string{"a"}, [][]any{{map[string]any{"x": 1}}}), nil
	})
	sdk.Command("escape", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		return sdk.Text("before\x1b]0;pwned\x07\x1b[2Jafter"), nil
	})
	sdk.Job("loop", func(ctx context.Context) error { spin(); return nil })
	sdk.Job("trap", func(ctx context.Context) error { panic("hostile job traps") })
}

type errorString string

func (e errorString) Error() string { return string(e) }

func spin() {
	for i := 0; ; i++ {
		if i < 0 {
			break
		}
	}
}

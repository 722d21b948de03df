package sdk_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/sdktest"
)

// An admin command is declared in module.json with its typed arguments:
//
//	"admin_commands": [{"name": "greet", "description": "Greet someone",
//	  "args": [{"name": "name", "type": "string", "required": true},
//	           {"name": "times", "type": "integer", "default": 1}]}]
//
// and registered in init. The runtime checks the arguments against the
// declaration before calling it, so Decode only meets values of the
// declared types. The site's owner runs it with
// `websonic exec MODULE greet --name Ada --times 2`.
func ExampleCommand() {
	sdk.Command("greet", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		var a struct {
			Name  string `json:"name"`
			Times int    `json:"times"`
		}
		if err := args.Decode(&a); err != nil {
			return sdk.Result{}, err
		}
		if a.Times > 10 {
			return sdk.Result{}, fmt.Errorf("at most 10 greetings, not %d", a.Times)
		}
		return sdk.Text(strings.Repeat("Hello, "+a.Name+"!\n", a.Times)), nil
	})

	res, err := sdktest.RunCommand("greet", map[string]any{"name": "Ada", "times": 2}, nil)
	fmt.Print(res.Text, err, "\n")
	_, err = sdktest.RunCommand("greet", map[string]any{"name": "Ada", "times": 11}, nil)
	fmt.Println(err)
	// Output:
	// Hello, Ada!
	// Hello, Ada!
	// <nil>
	// sdktest: the command failed: 500 at most 10 greetings, not 11
}

// A command answers a table: `websonic exec` aligns its columns (`--json`
// gives it as JSON). Typed getters read single arguments; User is the
// admin running it (nil from the terminal).
func ExampleTable() {
	sdk.Command("top_pages", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		limit := args.Int("limit")
		rows := [][]any{{"/", 120}, {"/blog", 42}, {"/about", 7}}
		if int64(len(rows)) > limit {
			rows = rows[:limit]
		}
		by := "the terminal"
		if u := args.User(); u != nil {
			by = u.Username
		}
		return sdk.Table([]string{"path", "views (for " + by + ")"}, rows), nil
	})

	admin := &sdk.User{ID: 1, Username: "ada", Roles: []string{"admin", "staff", "member"}}
	res, _ := sdktest.RunCommand("top_pages", map[string]any{"limit": 2}, admin)
	fmt.Println(res.Columns)
	for _, row := range res.Rows {
		fmt.Println(row...)
	}
	// Output:
	// [path views (for ada)]
	// / 120
	// /blog 42
}

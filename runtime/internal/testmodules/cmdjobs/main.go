// Command cmdjobs is a test-only module for admin commands and scheduled
// jobs: a command with arguments of each type (greet), one answering a
// table (runs), one naming who runs it (whoami), one failing (fail); a job
// recording each tick it runs for (tick) and one that, by the tick's
// minute, succeeds, panics or loops past the deadline (flaky).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
)

func init() {
	sdk.Handle(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "cmdjobs") }))

	sdk.Command("greet", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		var a struct {
			Name  string  `json:"name"`
			Times int     `json:"times"`
			Ratio float64 `json:"ratio"`
			Loud  bool    `json:"loud"`
		}
		if err := args.Decode(&a); err != nil {
			return sdk.Result{}, err
		}
		s := fmt.Sprintf("hello %s", a.Name)
		if a.Loud {
			s = strings.ToUpper(s)
		}
		return sdk.Text(fmt.Sprintf("%s x%d ratio=%g", s, a.Times, a.Ratio)), nil
	})
	sdk.Command("runs", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		rows, err := sdk.DB().QueryContext(ctx, `SELECT job, tick, count(*) FROM ticks GROUP BY job, tick ORDER BY job, tick`)
		if err != nil {
			return sdk.Result{}, err
		}
		defer rows.Close()
		var out [][]any
		for rows.Next() {
			var job string
			var tick time.Time
			var n int64
			if err := rows.Scan(&job, &tick, &n); err != nil {
				return sdk.Result{}, err
			}
			out = append(out, []any{job, tick.UTC().Format(time.RFC3339), n})
		}
		return sdk.Table([]string{"job", "tick", "runs"}, out), rows.Err()
	})
	sdk.Command("whoami", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		user := "none"
		if u := args.User(); u != nil {
			user = u.Username
		}
		return sdk.Text("actor=" + args.Actor() + " user=" + user), nil
	})
	sdk.Command("fail", func(ctx context.Context, args sdk.Args) (sdk.Result, error) {
		return sdk.Result{}, errors.New("this command always fails")
	})

	sdk.Job("tick", func(ctx context.Context) error {
		_, err := sdk.DB().ExecContext(ctx, `INSERT INTO ticks (job, tick) VALUES ('tick', $1)`, sdk.JobTick(ctx))
		return err
	})
	sdk.Job("flaky", func(ctx context.Context) error {
		tick := sdk.JobTick(ctx)
		switch tick.Minute() % 3 {
		case 1:
			panic("flaky traps at minute " + fmt.Sprint(tick.Minute()))
		case 2:
			for i := 0; ; i++ { // past the call deadline
				if i < 0 {
					break
				}
			}
		}
		_, err := sdk.DB().ExecContext(ctx, `INSERT INTO ticks (job, tick) VALUES ('flaky', $1)`, tick)
		return err
	})
}

func main() {}

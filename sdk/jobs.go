package sdk

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// jobFuncs are the module's scheduled jobs, by name.
var jobFuncs = map[string]func(context.Context) error{}

type tickKey struct{}

// Job registers run as the scheduled job name, which module.json must
// declare with its cron schedule (capabilities.schedules, five fields,
// in UTC):
//
//	"schedules": [{"name": "cleanup", "cron": "0 3 * * *"}]
//
// The runtime calls run at each tick, exactly once across the site's
// replicas; a tick missed while the site was down runs once when it
// starts. A run never overlaps the job's previous one (that tick is
// skipped). run's error, a panic or the call deadline records the run as
// failed (`websonic jobs` shows it); the next tick runs all the same.
// JobTick(ctx) is the tick being run. Call Job from an init function.
func Job(name string, run func(ctx context.Context) error) {
	jobFuncs[name] = run
	onHost(abi.JobPathPrefix, serveJob)
	hostcall.SetHandler(disp.serve)
}

// JobTick returns the scheduled time a job runs for (zero outside a job).
// It is the same on every replica: use it to make a run idempotent.
func JobTick(ctx context.Context) time.Time {
	t, _ := ctx.Value(tickKey{}).(time.Time)
	return t
}

func serveJob(r *http.Request) (int, []byte) {
	name := strings.TrimPrefix(r.URL.Path, abi.JobPathPrefix)
	run := jobFuncs[name]
	if run == nil {
		return http.StatusNotFound, []byte("this module has no job " + name + "\n")
	}
	var call struct {
		Tick time.Time `json:"tick"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<16)).Decode(&call); err != nil {
		return http.StatusBadRequest, []byte("sdk: the job call: " + err.Error())
	}
	if err := run(context.WithValue(r.Context(), tickKey{}, call.Tick)); err != nil {
		return http.StatusInternalServerError, []byte(err.Error())
	}
	return http.StatusOK, []byte("{}")
}

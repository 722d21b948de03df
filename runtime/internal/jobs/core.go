package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// CoreModule is the module name under which the runtime's own jobs
// (Config.Core) are recorded in websonic.jobs and job_runs. No module can
// take it: a module's name starts with a letter.
const CoreModule = "_core"

// CoreJob is a job of the runtime itself (a retention rule, the erasure of
// accounts whose grace period ended): a Go function run on a cron
// schedule, exactly once per tick across replicas, with the modules' jobs'
// rules (no overlap, a missed tick run once, the newest runs recorded).
type CoreJob struct {
	// Name is an identifier (a-z, 0-9, _), unique among the core jobs.
	Name string
	// Cron is a five-field schedule, evaluated in UTC.
	Cron string
	// Run does the job for tick; its error is recorded as the run's.
	Run func(ctx context.Context, tick time.Time) error
}

// coreModule runs the core jobs as if they were a module's, so that one
// scheduler claims, records and prunes every job.
type coreModule struct {
	man     *manifest.Manifest
	runs    map[string]func(context.Context, time.Time) error
	timeout time.Duration
}

// coreName is what a core job's name must look like.
var coreName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// newCoreModule checks the core jobs and wraps them; nil when there are
// none.
func newCoreModule(jobs []CoreJob, timeout time.Duration) (*coreModule, error) {
	if len(jobs) == 0 {
		return nil, nil
	}
	m := &coreModule{man: &manifest.Manifest{Name: CoreModule, Version: "0.0.0"}, runs: map[string]func(context.Context, time.Time) error{}, timeout: timeout}
	for _, j := range jobs {
		if !coreName.MatchString(j.Name) || m.runs[j.Name] != nil || j.Run == nil {
			return nil, fmt.Errorf("jobs: core job %q: want a unique identifier (a-z, 0-9, _) and a Run func", j.Name)
		}
		if _, err := Parse(j.Cron); err != nil {
			return nil, fmt.Errorf("jobs: core job %q: %w", j.Name, err)
		}
		m.runs[j.Name] = j.Run
		m.man.Capabilities.Schedules = append(m.man.Capabilities.Schedules, manifest.Schedule{Name: j.Name, Cron: j.Cron})
	}
	slices.SortFunc(m.man.Capabilities.Schedules, func(a, b manifest.Schedule) int { return strings.Compare(a.Name, b.Name) })
	return m, nil
}

func (m *coreModule) Manifest() *manifest.Manifest { return m.man }

// Call runs the job the body names (the scheduler's Call document).
func (m *coreModule) Call(ctx context.Context, path string, _ *abi.User, body []byte, _ string) (*abi.HTTPResponse, error) {
	var c Call
	if err := json.Unmarshal(body, &c); err != nil || path != abi.JobPathPrefix+c.Job || m.runs[c.Job] == nil {
		return &abi.HTTPResponse{Status: http.StatusNotFound}, errors.New("jobs: no such core job")
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if err := m.runs[c.Job](ctx, c.Tick); err != nil {
		return nil, err
	}
	return &abi.HTTPResponse{Status: http.StatusOK}, nil
}

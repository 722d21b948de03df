package server

import (
	"context"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/updater"
	"github.com/websonic/websonic/sdk/manifest"
)

// adminLifecycle carries the admin area's Modules pages' actions through
// the site's module request queue (Console), as the CLI's; what it lists
// comes from the database and from this runtime's view of its modules.
type adminLifecycle struct {
	s *Server
	c *Console
}

var _ admin.Lifecycle = adminLifecycle{}

func (m adminLifecycle) opts(actor string) RequestOptions {
	return RequestOptions{Actor: "admin:" + actor}
}

// States joins the registry's installation records, the running modules,
// the local builds waiting for approval, the local folders that failed and
// the newest failure event of each module.
func (m adminLifecycle) States(ctx context.Context) ([]admin.ModuleState, error) {
	ins, err := updater.ListFrom(ctx, m.s.db.Pool)
	if err != nil {
		return nil, err
	}
	by := map[string]*admin.ModuleState{}
	get := func(name string) *admin.ModuleState {
		st := by[name]
		if st == nil {
			st = &admin.ModuleState{Name: name}
			by[name] = st
		}
		return st
	}
	for i := range ins {
		st := get(ins[i].Name)
		st.Installed, st.Version, st.Granted = &ins[i], ins[i].Version, ins[i].Approved
	}
	for _, mod := range m.s.Modules() {
		man := mod.Manifest()
		st := get(man.Name)
		st.Running, st.Version, st.Description = true, man.Version, man.Description
		if st.Installed == nil {
			st.Local, st.Granted = true, grantedLocal(ctx, m.s, man)
		}
	}
	for _, aw := range m.s.AwaitingApproval() {
		st := get(aw.Module)
		st.Local = true
		if !st.Running {
			st.Version = aw.Version
		}
		st.Awaiting = &admin.Awaiting{Version: aw.Version, Digest: aw.Digest, Capabilities: aw.Capabilities, Approved: aw.Approved}
		if m.s.Module(aw.Module) == nil {
			st.Description = ""
		}
	}
	for _, p := range m.s.ModuleProblems() {
		if p.Module == "" {
			continue
		}
		st := get(p.Module)
		st.Local, st.Problem = true, p.String()
		if st.Version == "" {
			st.Version = "-"
		}
	}
	// A registry module that does not run: its last failure says why.
	evs, err := updater.EventsFrom(ctx, m.s.db.Pool, 200)
	if err != nil {
		return nil, err
	}
	for _, st := range by {
		if st.Running || st.Problem != "" || st.Installed == nil {
			continue
		}
		for _, e := range evs {
			if e.Module == st.Name && e.Outcome == "failed" {
				st.Problem = e.Reason
				break
			}
		}
	}
	out := make([]admin.ModuleState, 0, len(by))
	for _, st := range by {
		out = append(out, *st)
	}
	slices.SortFunc(out, func(a, b admin.ModuleState) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// grantedLocal is what the owner approved for a running local module (all
// it asks for under Config.ApproveLocalModules).
func grantedLocal(ctx context.Context, s *Server, man *manifest.Manifest) manifest.Capabilities {
	if !s.cfg.ApproveLocalModules {
		if caps, err := readLocalApproval(ctx, s.db.Pool, man.Name); err == nil && caps != nil {
			return *caps
		}
	}
	return man.Capabilities
}

func (m adminLifecycle) Events(ctx context.Context, limit int) ([]updater.Event, error) {
	return updater.EventsFrom(ctx, m.s.db.Pool, limit)
}

func (m adminLifecycle) Catalogue(ctx context.Context) ([]updater.Offer, error) {
	return m.c.Available(ctx, RequestOptions{Actor: "admin"})
}

func (m adminLifecycle) PreviewInstall(ctx context.Context, module, version, channel string) (*updater.Preview, error) {
	return m.c.Preview(ctx, ModuleRequest{Action: "install", Module: module, Version: version, Channel: channel, Actor: "admin"}, RequestOptions{})
}

func (m adminLifecycle) Install(ctx context.Context, r admin.InstallRequest) (string, error) {
	return m.c.Request(ctx, ModuleRequest{Action: "install", Module: r.Module, Version: r.Version, Channel: r.Channel, Policy: r.Policy,
		Digest: r.Digest, Actor: "admin:" + r.Actor}, RequestOptions{})
}

func (m adminLifecycle) Rollback(ctx context.Context, module, actor string) (string, error) {
	return m.c.Request(ctx, ModuleRequest{Action: "rollback", Module: module, Actor: "admin:" + actor}, RequestOptions{})
}

func (m adminLifecycle) SetPolicy(ctx context.Context, module, policy, channel, actor string) (string, error) {
	return m.c.Request(ctx, ModuleRequest{Action: "policy", Module: module, Policy: policy, Channel: channel, Actor: "admin:" + actor}, RequestOptions{})
}

func (m adminLifecycle) ModuleData(ctx context.Context, module string) (*admin.ModuleData, error) {
	d, err := moduleData(ctx, m.s.db, module)
	if err != nil {
		return nil, err
	}
	return &admin.ModuleData{Schema: d.Schema, Role: d.Role, Tables: d.Tables, Used: d.Used}, nil
}

func (m adminLifecycle) Export(ctx context.Context, module string, w io.Writer) error {
	return m.c.ExportModule(ctx, module, w, m.opts("export"))
}

func (m adminLifecycle) Uninstall(ctx context.Context, module, actor string) (string, error) {
	return m.c.Uninstall(ctx, module, m.opts(actor))
}

// ModuleFigures are the module's figures from the runtime's telemetry
// (calls and errors since it started, p95 over the last hour): none
// before the first sample.
func (m adminLifecycle) ModuleFigures(name string) (calls, errors int64, p95 time.Duration, memory int64, ok bool) {
	t := m.s.Telemetry()
	if t == nil {
		return 0, 0, 0, 0, false
	}
	st := t.ModuleStats(name)
	if st.At.IsZero() {
		return 0, 0, 0, 0, false
	}
	return st.Calls, st.Errors, st.P95, st.Memory, true
}

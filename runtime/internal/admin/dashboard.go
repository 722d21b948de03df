package admin

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/logstore"
	"github.com/websonic/websonic/runtime/internal/telemetry"
	"github.com/websonic/websonic/runtime/internal/telemetry/chart"
	"github.com/websonic/websonic/runtime/internal/updater"
)

// chartHours is how far back the dashboard's charts go.
const chartHours = 6

// chartSeries is how many modules a chart draws: the busiest.
const chartSeries = 4

// alert is one thing on the dashboard that needs the owner's attention.
type alert struct {
	Text   string // translated
	Detail string // technical detail, untranslated (may be empty)
	Link   string // a page of the area where it is dealt with ("": none)
}

// dashRow is one module of the dashboard's table.
type dashRow struct {
	Name, Version, State string // State translated
	Problem              bool
	Calls, Errors        int64 // in the last hour
	P95, Memory          string
}

type dashboard struct {
	Alerts  []alert
	Modules []dashRow
	Site    telemetry.SiteStats
	P95     string
	Charts  []template.HTML
	Sampled bool
}

// handleDashboard is the dashboard: the site's health and what needs the
// owner's attention, the modules with their figures, and charts.
func (a *Area) handleDashboard(w http.ResponseWriter, r *http.Request, q *request) {
	d, err := a.dashboard(r.Context(), q, time.Now())
	if err != nil {
		a.fail(w, r, q, "building the dashboard failed", err)
		return
	}
	a.show(w, r, q, http.StatusOK, "dashboard.html", page{Title: i18n.Key("Dashboard"), Data: d})
}

func (a *Area) dashboard(ctx context.Context, q *request, now time.Time) (*dashboard, error) {
	d := &dashboard{}
	rt := a.cfg.Runtime
	isAdmin := Admins.allows(q.user)
	link := func(p string) string {
		if isAdmin {
			return Prefix + p
		}
		return ""
	}
	if rt != nil {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := rt.Ping(pctx)
		cancel()
		if err != nil {
			d.Alerts = append(d.Alerts, alert{Text: q.T("The database does not answer: the site cannot work until it does."), Detail: err.Error()})
		}
		for _, p := range rt.Problems() {
			text := q.T("A module did not start.")
			if p.Module != "" {
				text = q.T("The module {module} did not start.", "module", p.Module)
			}
			d.Alerts = append(d.Alerts, alert{Text: text, Detail: p.Detail, Link: link("/logs?" + logsQuery(p.Module))})
		}
	}
	installed, err := a.cfg.Modules.Installed(ctx)
	if err != nil {
		return nil, err
	}
	for _, in := range installed {
		if in.StagedVersion != "" {
			d.Alerts = append(d.Alerts, alert{
				Text: q.T("{module} {version} is waiting for your approval.", "module", in.Name, "version", in.StagedVersion),
				Link: link("/modules#module-" + in.Name),
			})
		}
	}
	events, err := updater.EventsFrom(ctx, a.cfg.Pool, 50)
	if err != nil {
		return nil, err
	}
	for _, e := range events {
		if e.Outcome == "failed" && now.Sub(e.At) < 7*24*time.Hour {
			d.Alerts = append(d.Alerts, alert{
				Text:   q.T("The update of {module} to {version} failed; the previous version keeps serving.", "module", e.Module, "version", e.To),
				Detail: e.Reason,
			})
		}
	}
	if a.cfg.Backups != nil {
		f, err := a.cfg.Backups.BackupFailure(ctx)
		if err != nil {
			return nil, err
		}
		if f != nil {
			d.Alerts = append(d.Alerts, alert{
				Text:   q.T("A backup failed ({time}), and none has succeeded since.", "time", whenIn(q.p, f.Started)),
				Detail: f.Error, Link: link("/backups"),
			})
		}
	}
	// The modules: running ones, and installed ones that do not run.
	var tel *telemetry.Sampler
	versions := map[string]string{}
	running := map[string]bool{}
	if rt != nil {
		tel = rt.Telemetry()
		for _, m := range rt.Running() {
			versions[m.Name], running[m.Name] = m.Version, true
		}
	}
	for _, in := range installed {
		if _, ok := versions[in.Name]; !ok {
			versions[in.Name] = in.Version
		}
	}
	names := make([]string, 0, len(versions))
	for n := range versions {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		row := dashRow{Name: n, Version: versions[n], State: q.T("Running")}
		if !running[n] {
			row.State, row.Problem = q.T("Not running"), true
		}
		if tel != nil {
			st := tel.ModuleStats(n)
			row.Calls, row.Errors = st.RecentCalls, st.RecentErrors
			row.P95, row.Memory = duration(q, st.P95), size(q, st.Memory)
			if running[n] && st.RecentErrors > 0 {
				d.Alerts = append(d.Alerts, alert{
					Text: q.T("{module} failed {n} requests in the last hour.", "module", n, "n", st.RecentErrors),
					Link: link("/logs?" + logsQuery(n)),
				})
			}
		}
		d.Modules = append(d.Modules, row)
	}
	if tel != nil {
		d.Site = tel.Site()
		d.Sampled = !d.Site.At.IsZero()
		d.P95 = duration(q, d.Site.P95)
		if d.Charts, err = a.charts(q, tel, names, now); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// logsQuery selects a module's warnings and errors on the system logs
// page (everyone's for "").
func logsQuery(module string) string {
	v := url.Values{"level": {"warn"}}
	if module != "" {
		v.Set("component", logstore.ModuleComponent(module))
	}
	return v.Encode()
}

// charts draws the site's requests and errors, and the busiest modules'
// requests, p95 latency and errors over the last chartHours.
func (a *Area) charts(q *request, tel *telemetry.Sampler, modules []string, now time.Time) ([]template.HTML, error) {
	since := now.Add(-chartHours * time.Hour)
	perInterval := q.T("per minute")
	if tel.Interval() != time.Minute {
		perInterval = q.T("per {interval}", "interval", q.p.Duration(tel.Interval()))
	}
	toChart := func(ps []telemetry.Point, scale float64) []chart.Point {
		out := make([]chart.Point, len(ps))
		for i, p := range ps {
			out[i] = chart.Point{Time: p.Time, Value: p.Value * scale}
		}
		return out
	}
	// The busiest modules over the charts' span.
	type busy struct {
		name  string
		calls float64
	}
	var ranked []busy
	for _, m := range modules {
		var sum float64
		for _, p := range tel.Series(m, telemetry.Requests, since) {
			sum += p.Value
		}
		ranked = append(ranked, busy{m, sum})
	}
	slices.SortStableFunc(ranked, func(x, y busy) int {
		switch {
		case x.calls > y.calls:
			return -1
		case x.calls < y.calls:
			return 1
		}
		return 0
	})
	ranked = ranked[:min(len(ranked), chartSeries)]
	loc := time.Local
	type spec struct {
		id, title, ylabel string
		series            []chart.Series
		value             func(float64) string
	}
	specs := []spec{
		{id: "site", title: q.T("Requests to the site"), ylabel: q.T("requests") + " " + perInterval, series: []chart.Series{
			{Name: q.T("All requests"), Points: toChart(tel.Series(telemetry.Site, telemetry.Requests, since), 1)},
			{Name: q.T("Server errors"), Points: toChart(tel.Series(telemetry.Site, telemetry.Errors, since), 1)},
		}},
	}
	var calls, latency, errs []chart.Series
	for _, b := range ranked {
		calls = append(calls, chart.Series{Name: b.name, Points: toChart(tel.Series(b.name, telemetry.Requests, since), 1)})
		latency = append(latency, chart.Series{Name: b.name, Points: toChart(tel.Series(b.name, telemetry.P95, since), 1000)})
		errs = append(errs, chart.Series{Name: b.name, Points: toChart(tel.Series(b.name, telemetry.Errors, since), 1)})
	}
	ms := func(v float64) string { return q.p.Duration(time.Duration(v * float64(time.Millisecond))) }
	specs = append(specs,
		spec{"calls", q.T("Requests per module"), q.T("requests") + " " + perInterval, calls, nil},
		spec{"latency", q.T("Response time per module (95% of requests are faster)"), q.T("milliseconds"), latency, ms},
		spec{"errors", q.T("Failed requests per module"), q.T("failed requests") + " " + perInterval, errs, nil},
	)
	count := func(v float64) string { return q.p.Number(v) }
	var out []template.HTML
	for _, sp := range specs {
		desc := []string{q.T("Over the last {hours} hours.", "hours", chartHours)}
		f := sp.value
		if f == nil {
			f = count
		}
		for _, s := range sp.series {
			latest, highest := 0.0, 0.0
			for _, p := range s.Points {
				latest, highest = p.Value, max(highest, p.Value)
			}
			desc = append(desc, q.T("{name}: latest {latest}, highest {highest}.", "name", s.Name, "latest", f(latest), "highest", f(highest)))
		}
		if len(sp.series) == 0 {
			desc = append(desc, q.T("No data yet."))
		}
		svg, err := chart.Render(chart.Line{
			ID: "chart-" + sp.id, Title: sp.title, Desc: strings.Join(desc, " "), YLabel: sp.ylabel,
			NoData: q.T("No data yet."), Series: sp.series, Start: since, End: now, Location: loc, Value: f, Time: q.p.Clock,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, svg)
	}
	return out, nil
}

// duration shows a latency for the owner ("—" when none), as every page
// of the area does.
func duration(q *request, d time.Duration) string {
	if d <= 0 {
		return "—"
	}
	return q.p.Duration(d)
}

// size shows a memory size for the owner ("—" when none), as every page
// of the area does.
func size(q *request, b int64) string {
	if b <= 0 {
		return "—"
	}
	return q.p.Bytes(b)
}

package admin

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/runtime/internal/logstore"
)

// levelChoice is one choice of the level filter.
type levelChoice struct {
	Value, Label string
	Level        hclog.Level
}

var levelChoices = []levelChoice{
	{"", i18n.Key("All levels"), hclog.NoLevel},
	{"info", i18n.Key("Information and above"), hclog.Info},
	{"warn", i18n.Key("Warnings and errors"), hclog.Warn},
	{"error", i18n.Key("Errors only"), hclog.Error},
}

// levelLabels names each level for the owner.
var levelLabels = map[hclog.Level]string{
	hclog.Trace: i18n.Key("Trace"), hclog.Debug: i18n.Key("Debug"), hclog.Info: i18n.Key("Information"),
	hclog.Warn: i18n.Key("Warning"), hclog.Error: i18n.Key("Error"),
}

type logRow struct {
	Time, Stamp, Level, LevelClass, Component, Message string // Stamp: RFC 3339, for <time datetime>
	Fields                                             []logstore.Field
}

type componentChoice struct{ Value, Label string }

type logsPage struct {
	Available              bool
	Level, Component, Text string
	Levels                 []levelChoice
	Components             []componentChoice
	Entries                []logRow
	Next                   uint64
	Paged                  bool // not the newest page
	NewestURL, OlderURL    string
}

// maxFilterText bounds the text filter.
const maxFilterText = 200

// handleLogs is the system logs page: the runtime's and modules' recent
// log entries, filtered by level, component and text, newest first, paged.
func (a *Area) handleLogs(w http.ResponseWriter, r *http.Request, q *request) {
	v := r.URL.Query()
	d := logsPage{Level: v.Get("level"), Component: v.Get("component"), Text: v.Get("text"), Levels: levelChoices}
	if len(d.Text) > maxFilterText {
		d.Text = d.Text[:maxFilterText]
	}
	query := logstore.Query{Component: d.Component, Text: d.Text, Limit: 50}
	for _, c := range levelChoices {
		if c.Value == d.Level {
			query.Level = c.Level
		}
	}
	if b, err := strconv.ParseUint(v.Get("before"), 10, 64); err == nil {
		query.Before, d.Paged = b, true
	}
	if a.cfg.Runtime != nil && a.cfg.Runtime.Logs() != nil {
		store := a.cfg.Runtime.Logs()
		d.Available = true
		for _, name := range store.Components() {
			d.Components = append(d.Components, componentChoice{Value: name, Label: componentLabel(q, name)})
		}
		p := store.Query(query)
		d.Next = p.Next
		for _, e := range p.Entries {
			d.Entries = append(d.Entries, logRow{
				Time: when(q, e.Time), Stamp: e.Time.UTC().Format(time.RFC3339Nano), Level: q.T(levelLabels[e.Level]), LevelClass: e.Level.String(),
				Component: componentLabel(q, e.Name), Message: e.Message, Fields: e.Fields,
			})
		}
	}
	filters := url.Values{}
	for k, v := range map[string]string{"level": d.Level, "component": d.Component, "text": d.Text} {
		if v != "" {
			filters.Set(k, v)
		}
	}
	d.NewestURL = Prefix + "/logs?" + filters.Encode()
	if d.Next != 0 {
		filters.Set("before", strconv.FormatUint(d.Next, 10))
		d.OlderURL = Prefix + "/logs?" + filters.Encode()
	}
	a.show(w, r, q, http.StatusOK, "logs.html", page{Title: i18n.Key("System logs"), Data: d})
}

// componentLabel names a logger for the owner: "Module chat" for a
// module's, the name without the runtime's root otherwise.
func componentLabel(q *request, name string) string {
	if _, mod, ok := strings.Cut(name, "module."); ok && mod != "" && (strings.HasPrefix(name, "module.") || strings.Contains(name, ".module.")) {
		return q.T("Module {module}", "module", mod)
	}
	if name == "" || !strings.Contains(name, ".") {
		return q.T("Runtime")
	}
	_, rest, _ := strings.Cut(name, ".")
	return rest
}

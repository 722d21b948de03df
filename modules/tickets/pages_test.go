package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/internal/safetmpl"
	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/modules/internal/sentences"
	"github.com/websonic/websonic/sdk/manifest"
)

// The pages' texts: tickets.js reads every text it shows from the page
// (#tk-i18n, rendered with t in the visitor's language) and the API's
// sentences from #tk-errors; every text of the module has its French.
// These tests read the files as shipped.

var (
	jsKey   = regexp.MustCompile(`\bT\("((?:[^"\\]|\\.)*)"`)
	tmplKey = regexp.MustCompile(`\{\{-?\s*t\s+"((?:[^"\\]|\\.)*)"`)
)

var update = flag.Bool("update", false, "rewrite the texts blocks (#tk-i18n, #tk-errors) of assets/templates/tickets.html")

func readAsset(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(path.Join("assets", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// templates reads every page template of the module, by name.
func templates(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	err := fs.WalkDir(os.DirFS("assets"), "templates", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path.Ext(p) != ".html" {
			return err
		}
		b, err := os.ReadFile(path.Join("assets", p))
		files[p] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func unquote(t *testing.T, s string) string {
	t.Helper()
	var out string
	if err := json.Unmarshal([]byte(`"`+s+`"`), &out); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return out
}

// scriptKeys are the texts tickets.js shows: its T("…") keys.
func scriptKeys(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range jsKey.FindAllStringSubmatch(readAsset(t, "tickets.js"), -1) {
		seen[unquote(t, m[1])] = true
	}
	return slices.Sorted(maps.Keys(seen))
}

// apiSentences are the API's error sentences written in the module's Go
// code and in the jsonapi helpers it answers with (sentences.Extract):
// the argument of badRequest, forbidden, notFound, conflict, tooLarge and
// unsupported (web.go) or of jsonapi's constructors, the notFound
// sentence of jsonapi.PathID, the Msg of a jsonapi.Error literal and the
// "error" of a map literal.
func apiSentences(t *testing.T) []string {
	t.Helper()
	rules := sentences.JSONAPI().With(map[string]int{
		"badRequest": 0, "forbidden": 0, "notFound": 0, "conflict": 0, "tooLarge": 0, "unsupported": 0,
	})
	out, err := sentences.Extract([]string{".", "../internal/jsonapi"}, rules)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAPISentencesFound: the extraction finds the sentences of the
// foundation (access.go's errNoTicket, web.go's ticketID, jsonapi's own).
func TestAPISentencesFound(t *testing.T) {
	got := apiSentences(t)
	for _, want := range []string{
		"There is no such ticket, or it is not yours.",
		"Sign in first.",
		"Something went wrong on the server; try again.",
		"The request is larger than {a} KiB.",
		"The request is not the JSON expected: {a}",
		"This link does not lead to a request. Check that you copied all of it.",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("the API's sentences lack %q", want)
		}
	}
}

// textsBlock is the body of a JSON script element of tickets.html giving
// each key its text in the page's language.
func textsBlock(keys []string) string {
	lines := make([]string, len(keys))
	for i, k := range keys {
		j, _ := json.Marshal(k)
		lines[i] = fmt.Sprintf("%s: {{t %s}}", j, strconv.Quote(k))
	}
	return "{\n" + strings.Join(lines, ",\n") + "\n}"
}

// TestPageTextBlocks: tickets.html hands tickets.js every text it shows
// (#tk-i18n) and the API's error sentences (#tk-errors), each through t,
// so that the script speaks the page's language without a copy per
// language. go test -run TestPageTextBlocks -update rewrites both blocks.
func TestPageTextBlocks(t *testing.T) {
	page := readAsset(t, "templates/tickets.html")
	got := page
	for _, b := range []struct {
		id   string
		keys []string
	}{{"tk-i18n", scriptKeys(t)}, {"tk-errors", apiSentences(t)}} {
		if len(b.keys) == 0 {
			t.Fatalf("no keys for #%s", b.id)
		}
		open := `<script type="application/json" id="` + b.id + `">`
		i := strings.Index(got, open)
		if i < 0 {
			t.Fatalf("tickets.html has no %s", open)
		}
		j := strings.Index(got[i+len(open):], "</script>")
		if j < 0 {
			t.Fatalf("tickets.html has no %s…</script>", open)
		}
		got = got[:i+len(open)] + textsBlock(b.keys) + got[i+len(open)+j:]
	}
	if got == page {
		return
	}
	if *update {
		if err := os.WriteFile(filepath.Join("assets", "templates", "tickets.html"), []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("tickets.html's #tk-i18n or #tk-errors does not give the texts of tickets.js and the API: run go test -run TestPageTextBlocks -update")
}

// TestFrenchCatalogue: every text of the templates, of tickets.js, of the
// API's sentences and of module.json (the admin area's labels and
// descriptions) has a French translation with the same {placeholders},
// and the catalogue holds nothing else.
func TestFrenchCatalogue(t *testing.T) {
	var fr map[string]string
	if err := json.Unmarshal([]byte(readAsset(t, "locales/fr.json")), &fr); err != nil {
		t.Fatalf("fr.json: %v", err)
	}
	keys := map[string]string{} // key -> where
	for name, src := range templates(t) {
		for _, m := range tmplKey.FindAllStringSubmatch(string(src), -1) {
			keys[unquote(t, m[1])] = name
		}
	}
	for _, k := range scriptKeys(t) {
		keys[k] = "tickets.js"
	}
	for _, k := range apiSentences(t) {
		keys[k] = "the API"
	}
	b, err := os.ReadFile("module.json")
	if err != nil {
		t.Fatal(err)
	}
	var mf manifest.Manifest
	if err := json.Unmarshal(b, &mf); err != nil {
		t.Fatal(err)
	}
	c := mf.Capabilities
	keys[mf.Description] = "module.json"
	for _, n := range c.Nav {
		keys[n.Label] = "module.json"
	}
	for _, p := range c.AdminPages {
		keys[p.Label] = "module.json"
	}
	for _, s := range c.ConfigSchema {
		keys[s.Description] = "module.json"
	}
	for _, cmd := range c.AdminCommands {
		keys[cmd.Description] = "module.json"
		for _, a := range cmd.Args {
			keys[a.Description] = "module.json"
		}
	}
	delete(keys, "")
	placeholders := regexp.MustCompile(`\{[a-z_]+\}`)
	var missing []string
	for k, where := range keys {
		v, ok := fr[k]
		if !ok {
			missing = append(missing, fmt.Sprintf("%s: %q", where, k))
			continue
		}
		a, b := placeholders.FindAllString(k, -1), placeholders.FindAllString(v, -1)
		slices.Sort(a)
		slices.Sort(b)
		if !slices.Equal(a, b) {
			t.Errorf("%q: the French %q has placeholders %v, not %v", k, v, b, a)
		}
	}
	slices.Sort(missing)
	for _, m := range missing {
		t.Errorf("%s has no French", m)
	}
	for k := range fr {
		if _, ok := keys[k]; !ok {
			t.Errorf("fr.json translates %q, which nothing shows", k)
		}
	}
}

// renderTemplate renders the template name with data d as the runtime
// does, in lang.
func renderTemplate(t *testing.T, name string, d any, lang string) string {
	t.Helper()
	pages, err := safetmpl.ParsePages(templates(t))
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.Parse(map[string][]byte{"fr.json": []byte(readAsset(t, "locales/fr.json"))})
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = pages.Render(&out, name, data, safetmpl.Env{
		Printer: cat.Printer(lang),
		Asset: func(p string) (string, error) {
			if _, err := os.Stat(path.Join("assets", p)); err != nil {
				return "", err
			}
			return "/static/modules/tickets/test/" + p, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return out.String()
}

var jsonScript = regexp.MustCompile(`(?s)<script type="application/json" id="([a-z0-9-]+)">(.*?)</script>`)

// scripts returns the page's JSON script elements, decoded, by id.
func scripts(t *testing.T, page string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, m := range jsonScript.FindAllStringSubmatch(page, -1) {
		var v map[string]any
		if err := json.Unmarshal([]byte(m[2]), &v); err != nil {
			t.Fatalf("#%s is not JSON (%v):\n%s", m[1], err, m[2])
		}
		out[m[1]] = v
	}
	return out
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

const hostile = `<script>alert(1)</script><img src=x onerror=alert(2)></script><!--`

// TestPagesRender renders every page: each has its part, its labels, the
// script and style assets and its state as JSON; a hostile subject stays
// text in the state; the French page is French.
func TestPagesRender(t *testing.T) {
	subject, _ := json.Marshal(hostile)
	ticket := raw(`{"ticket":{"id":12,"panel":{"id":2,"name":"Problem"},"subject":` + string(subject) + `,"status":"open","priority":2},"messages":[],"notes":[]}`)
	me := meOf(nil)
	for _, tc := range []struct {
		name  string
		d     pageData
		wants []string // in the English page
		fr    []string // in the French page
	}{
		{"mine", pageData{Page: "mine", Me: me, State: map[string]any{"status": "closed", "list": raw(`{"tickets":[],"next":null}`)}},
			[]string{`<a class="tk-big" href="/tickets/new">`, `<a href="/tickets?status=closed" data-status="closed" aria-current="page">Finished</a>`, `id="tk-list"`},
			[]string{`Mes demandes`}},
		{"new", pageData{Page: "new", Me: me, State: map[string]any{"panel": 0, "panels": raw(`{"panels":[]}`)}},
			[]string{`<legend>How urgent is it?</legend>`, `<legend>How many people are affected?</legend>`, `<input id="tk-files" name="files" type="file" multiple`, `<label for="tk-subject-input">`},
			[]string{`Est-ce urgent ?`}},
		{"guest", pageData{Page: "guest", Me: me, State: map[string]any{"panels": raw(`{"panels":[]}`)}},
			[]string{`<input id="tk-email" name="email" type="email"`, `<h1>Contact support</h1>`, `<a href="/login?next=/tickets/new">I have an account: sign in</a>`},
			[]string{`Votre adresse e-mail`}},
		{"customer ticket", pageData{Page: "ticket", Me: me, State: map[string]any{"id": 12, "staff": false, "view": ticket}},
			[]string{`<ol id="tk-messages" class="tk-messages"></ol>`, `<a class="tk-back" href="/tickets">Back to my requests</a>`, `<label for="tk-reply-body">Your answer</label>`},
			[]string{`Retour à mes demandes`}},
		{"staff ticket", pageData{Page: "ticket", Me: me, Staff: true, State: map[string]any{"id": 12, "staff": true, "view": ticket}},
			[]string{`<div class="tk-cols tk-staff">`, `<ol id="tk-notes" class="tk-messages"></ol>`, `<button type="button" id="tk-claim">`, `<select id="tk-reply-status">`},
			[]string{`Notes internes`}},
		{"guest ticket", pageData{Page: "guest_ticket", Me: me, State: map[string]any{"token": "x", "view": ticket}},
			[]string{`<textarea id="tk-reply-body"`},
			[]string{`Votre réponse`}},
		{"staff", pageData{Page: "staff", Me: raw(`{"id":3,"username":"ada","display_name":"Ada","staff":true,"admin":true}`), State: map[string]any{"query": url.Values{"q": {"printer"}}, "panels": []panelName{{1, "Bug <b>", false}}, "counts": raw(`{"new":1}`), "queue": raw(`{"tickets":[],"next":null}`)}},
			[]string{`<form id="tk-filters" class="tk-filters" role="search">`, `<option value="due">Due date</option>`, `id="tk-tabs"`, `<a href="/tickets/admin">Support desk settings</a>`},
			[]string{`File des demandes`}},
		{"admin", pageData{Page: "admin", Me: me, State: map[string]any{"panels": raw(`{"panels":[]}`), "groups": raw(`{"groups":[]}`)}},
			[]string{`<form id="tk-panel-form"`, `<form id="tk-group-form"`},
			[]string{`Groupes du personnel`}},
		{"error", pageData{Page: "ticket", Me: me, State: map[string]any{}, Error: "There is no such ticket, or it is not yours."},
			[]string{`<p id="tk-error" class="tk-slot error" role="alert">There is no such ticket, or it is not yours.</p>`},
			[]string{`Cette demande n&#39;existe pas, ou elle n&#39;est pas la vôtre.`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			en := renderTemplate(t, "tickets.html", tc.d, "en")
			for _, want := range append(tc.wants,
				`<div id="tk" class="tk" data-page="`+tc.d.Page+`"`,
				`<script type="module" src="/static/modules/tickets/test/tickets.js"></script>`,
				`<link rel="stylesheet" href="/static/modules/tickets/test/tickets.css">`) {
				if !strings.Contains(en, want) {
					t.Errorf("the page lacks %s", want)
				}
			}
			if strings.Contains(en, "<img src=x") || strings.Contains(en, "<b>") {
				t.Error("people's text became markup")
			}
			js := scripts(t, en)
			state, texts, errs := js["tk-state"], js["tk-i18n"], js["tk-errors"]
			if state == nil || texts == nil || errs == nil {
				t.Fatalf("JSON scripts: %v", js)
			}
			if state["page"] != tc.d.Page || texts["Overdue"] != "Overdue" {
				t.Errorf("state %v, texts %d", state, len(texts))
			}
			if v, ok := state["state"].(map[string]any)["view"].(map[string]any); ok && v["ticket"].(map[string]any)["subject"] != hostile {
				t.Errorf("the subject in the state: %v", v)
			}
			fr := renderTemplate(t, "tickets.html", tc.d, "fr")
			for _, want := range tc.fr {
				if !strings.Contains(fr, want) {
					t.Errorf("the French page lacks %s", want)
				}
			}
			if texts := scripts(t, fr)["tk-i18n"]; texts["Overdue"] != "En retard" {
				t.Errorf("French texts for the script: %v", texts["Overdue"])
			}
		})
	}
}

// TestReportsRender: the reports' tables, with a hostile panel name kept
// as text, in English and French; an error instead of figures.
func TestReportsRender(t *testing.T) {
	rep := raw(`{"from":"2030-01-01T00:00:00Z","to":"2030-01-31T00:00:00Z","opened":17,"solved":9,"first_response_breaches":2,"resolution_breaches":1,"median_first_response_minutes":42,"ratings":3,"average_rating":4.33,
		"by_panel":[{"panel":{"id":1,"name":"Bug <b>"},"opened":17,"solved":9,"first_response_breaches":2,"resolution_breaches":1,"median_first_response_minutes":null,"ratings":3,"average_rating":4.33}],
		"by_agent":[{"agent":{"id":3,"username":"sam","display_name":"Sam"},"solved":9,"ratings":3,"average_rating":4.33},{"agent":{"id":4,"username":"lee","display_name":""},"solved":1,"ratings":0,"average_rating":null}]}`)
	en := renderTemplate(t, "reports.html", reportData{Days: 30, Report: rep}, "en")
	for _, want := range []string{
		`<h2>The last 30 days</h2>`,
		`<tr><th scope="row">Requests opened</th><td class="num">17</td></tr>`,
		`<th scope="row"><bdi>Bug &lt;b&gt;</bdi></th><td class="num">17</td><td class="num">9</td><td class="num">2</td><td class="num">1</td><td class="num">–</td><td class="num">3</td><td class="num">4.33</td>`,
		`<th scope="row"><bdi>Sam</bdi></th>`, `<th scope="row"><bdi>lee</bdi></th><td class="num">1</td><td class="num">0</td><td class="num">–</td>`,
		`<input id="tk-days" name="days" type="number" min="1" max="3650" value="30">`,
		`<link rel="stylesheet" href="/static/modules/tickets/test/tickets.css">`,
	} {
		if !strings.Contains(en, want) {
			t.Errorf("the reports lack %s", want)
		}
	}
	if strings.Contains(en, "<b>") {
		t.Error("a panel's name became markup")
	}
	if fr := renderTemplate(t, "reports.html", reportData{Days: 7, Report: rep}, "fr"); !strings.Contains(fr, "Les 7 derniers jours") {
		t.Errorf("the French reports:\n%s", fr)
	}
	bad := renderTemplate(t, "reports.html", reportData{Days: 30, Report: raw("null"), Error: "Something went wrong on the server; try again."}, "en")
	if !strings.Contains(bad, `<p class="tk-slot error" role="alert">Something went wrong on the server; try again.</p>`) || strings.Contains(bad, "Requests opened") {
		t.Errorf("the reports' error:\n%s", bad)
	}
}

func TestWebQueueQuery(t *testing.T) {
	in := url.Values{"status": {"new,open"}, "q": {"printer", "second"}, "cursor": {"abc"}, "evil": {"x"}, "panel": {strings.Repeat("1", 201)}, "sort": {"\xff"}}
	got := webQueueQuery(in)
	want := url.Values{"status": {"new,open"}, "q": {"printer"}}
	if got.Encode() != want.Encode() {
		t.Errorf("webQueueQuery = %v, want %v", got, want)
	}
}

// TestWebPageGet: a page reads the API through the module's own mux; an
// answer too long for the host's page is left to the script (the state's
// "later"), and an API error becomes the page's sentence and status.
func TestWebPageGet(t *testing.T) {
	mux.HandleFunc("GET /tickets/api/test-web/{what}", func(w http.ResponseWriter, r *http.Request) {
		switch r.PathValue("what") {
		case "small":
			jsonapi.Write(w, http.StatusOK, map[string]string{"subject": "hi"})
		case "big":
			jsonapi.Write(w, http.StatusOK, map[string]string{"body": strings.Repeat("<", firstPaintBudget)})
		case "refused":
			jsonapi.Fail(w, r, notFound("There is no such ticket, or it is not yours."))
		case "html":
			http.Error(w, "<html>oops</html>", http.StatusBadGateway)
		}
	})
	r := httptest.NewRequest(http.MethodGet, "/tickets/1", nil)
	p := newWebPage(httptest.NewRecorder(), r, "ticket", "Request")
	if !p.get("view", "/tickets/api/test-web/small") || string(p.d.State["view"].(json.RawMessage)) != `{"subject":"hi"}` || p.d.State["later"] != nil {
		t.Errorf("small: %v", p.d.State)
	}
	p = newWebPage(httptest.NewRecorder(), r, "ticket", "Request")
	if !p.get("view", "/tickets/api/test-web/big") || p.d.State["view"] != nil ||
		p.d.State["later"].(map[string]string)["path"] != "/tickets/api/test-web/big" {
		t.Errorf("big: %v", p.d.State["later"])
	}
	if p.get("view", "/tickets/api/test-web/refused") || p.status != http.StatusNotFound || p.d.Error != "There is no such ticket, or it is not yours." {
		t.Errorf("refused: %d %q", p.status, p.d.Error)
	}
	p = newWebPage(httptest.NewRecorder(), r, "ticket", "Request")
	if p.get("view", "/tickets/api/test-web/html") || p.status != http.StatusInternalServerError || p.d.Error != "Something went wrong on the server; try again." {
		t.Errorf("html: %d %q", p.status, p.d.Error)
	}
}

// Package capwords says in plain words, for a site owner who is not a
// developer, what a module's capabilities let it do: "Read the list of
// user names", "Run the task “digest” every night at 03:00 (UTC)". The
// admin area's approval pages and the CLI's confirmation use it, so the
// owner reads one description wherever they approve.
//
// The sentences are message keys of the package's own catalogue
// (locales/<lang>/capwords.json, package i18n): English is the source,
// French its translation; a test fails on a sentence French lacks.
// Describe is safe for concurrent use.
package capwords

import (
	"embed"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/internal/i18n"
	"github.com/websonic/websonic/sdk/manifest"
)

//go:embed locales/*/*.json
var files embed.FS

var catalog = sync.OnceValues(func() (*i18n.Catalog, error) { return i18n.Load(files, "locales") })

// Catalog is the package's message catalogue.
func Catalog() *i18n.Catalog {
	c, err := catalog()
	if err != nil {
		panic(err) // embedded files, checked by the package's tests
	}
	return c
}

// Kind groups the sentences (a page may show them under headings or
// mark some as sensitive).
type Kind string

// The kinds of sentences.
const (
	KindPages    Kind = "pages"    // routes
	KindData     Kind = "data"     // core data views, its own schema
	KindLive     Kind = "live"     // realtime topics
	KindInternet Kind = "internet" // outbound HTTP
	KindSchedule Kind = "schedule" // recurring jobs
	KindCommand  Kind = "command"  // admin commands
	KindUsers    Kind = "users"    // user actions
	KindSecret   Kind = "secret"   // seal
	KindMail     Kind = "mail"     // e-mail through the site's relay
	KindMenu     Kind = "menu"     // nav entries
	KindSettings Kind = "settings" // config schema
)

// Line is one thing a module may do, in plain words.
type Line struct {
	Kind Kind
	Text string
	// New marks a line the owner has not approved before (Compare).
	New bool
}

// Describe says in language lang ("en", "fr"; others fall back to
// English) what caps let module do, one sentence each, in the order of
// the manifest's fields.
func Describe(lang, module string, caps manifest.Capabilities) []Line {
	p := Catalog().Printer(lang)
	var out []Line
	add := func(k Kind, key string, args ...any) {
		for i, a := range args {
			if s, ok := a.(string); ok {
				args[i] = printable(s)
			}
		}
		out = append(out, Line{Kind: k, Text: p.T(key, args...)})
	}
	for _, r := range caps.Routes {
		who := audience(p, r.Access)
		var writes []string
		for _, m := range r.Methods {
			if m != "GET" && m != "HEAD" && m != "OPTIONS" {
				writes = append(writes, m)
			}
		}
		if len(writes) == 0 {
			add(KindPages, "Add pages at {path} for {who}", "path", r.Path, "who", who)
		} else {
			add(KindPages, "Add pages at {path} for {who}, and receive what they send there ({methods})",
				"path", r.Path, "who", who, "methods", strings.Join(writes, ", "))
		}
	}
	for _, v := range caps.CoreData {
		switch v {
		case manifest.CoreUsers:
			add(KindData, "Read the list of user names (usernames, display names and roles)")
		case manifest.CoreUserEmails:
			add(KindData, "Read users' e-mail addresses")
		default:
			add(KindData, "Read the site's data “{view}”", "view", v)
		}
	}
	for _, t := range caps.Topics {
		add(KindLive, "Publish live updates on {topic}", "topic", t)
	}
	for _, o := range caps.OutboundHTTP {
		host, port := origin(o)
		if mailPort(port) || strings.HasPrefix(host, "smtp.") {
			add(KindInternet, "Send e-mail through {host}:{port}", "host", host, "port", port)
		} else {
			add(KindInternet, "Exchange data over the internet with {origin}", "origin", o)
		}
	}
	for _, s := range caps.Schedules {
		add(KindSchedule, "Run the task “{name}” {when}", "name", s.Name, "when", When(lang, s.Cron))
	}
	for _, c := range caps.AdminCommands {
		if c.Description != "" {
			add(KindCommand, "Offer admins the action “{name}”: {description}", "name", c.Name, "description", c.Description)
		} else {
			add(KindCommand, "Offer admins the action “{name}”", "name", c.Name)
		}
	}
	for _, a := range caps.UserActions {
		switch a {
		case manifest.UserBan:
			add(KindUsers, "Ban and unban users")
		case manifest.UserSuspend:
			add(KindUsers, "Suspend users for a while")
		case manifest.UserBlockIP:
			add(KindUsers, "Block and unblock internet addresses")
		case manifest.UserSetPassword:
			add(KindUsers, "Change users' passwords")
		case manifest.UserRoles:
			add(KindUsers, "Give users roles and take them away")
		case manifest.UserConnections:
			add(KindUsers, "See who is connected to the site's live updates")
		case manifest.UserStatus:
			add(KindUsers, "See how busy the server is: connections, running modules, database use")
		default:
			add(KindUsers, "Act on users: “{action}”", "action", a)
		}
	}
	if caps.Seal {
		add(KindSecret, "Encrypt and decrypt its data with the site's secret key")
	}
	if caps.Mail {
		add(KindMail, "Send e-mail through the site's mail relay, from the site's address, to the addresses it chooses")
	}
	for _, n := range caps.Nav {
		add(KindMenu, "Show a link “{label}” in the site's menu for {who}", "label", n.Label, "who", audience(p, n.Access))
	}
	if len(caps.ConfigSchema) > 0 {
		add(KindSettings, "Have settings you choose: {names}", "names", strings.Join(slices.Sorted(maps.Keys(caps.ConfigSchema)), ", "))
	}
	add(KindData, "Keep its own data in a private part of the database ({schema}) that only it can use", "schema", "mod_"+module)
	return out
}

// Compare describes requested, marking New each line that describing
// approved does not give (a new page, a wider audience, more data…).
// Comparing sentences compares what the owner was shown.
func Compare(lang, module string, approved, requested manifest.Capabilities) []Line {
	seen := map[string]bool{}
	for _, l := range Describe(lang, module, approved) {
		seen[l.Text] = true
	}
	out := Describe(lang, module, requested)
	for i := range out {
		out[i].New = !seen[out[i].Text]
	}
	return out
}

// Texts returns the sentences of lines.
func Texts(lines []Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

func audience(p *i18n.Printer, a manifest.Access) string {
	switch a {
	case manifest.AccessPublic:
		return p.T("everyone")
	case manifest.AccessMember:
		return p.T("members")
	case manifest.AccessStaff:
		return p.T("staff")
	case manifest.AccessAdmin:
		return p.T("admins")
	}
	return string(a)
}

// printable replaces, in a string a module chose (a nav label, a command's
// description, or anything an unchecked manifest carries), what must not
// reach the owner's page or terminal: control characters (a terminal's
// escape sequences could erase the sentences above; line breaks would fake
// new ones), line and paragraph separators, and the bidirectional controls
// that reorder what is read. Each becomes U+FFFD, so that it shows.
func printable(s string) string {
	if strings.IndexFunc(s, unprintable) < 0 && utf8.ValidString(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unprintable(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, string(utf8.RuneError)))
}

func unprintable(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// origin splits "scheme://host:port".
func origin(o string) (host, port string) {
	u, err := url.Parse(o)
	if err != nil {
		return o, ""
	}
	return u.Hostname(), u.Port()
}

func mailPort(port string) bool {
	return port == "25" || port == "465" || port == "587" || port == "2525"
}

// weekly are the sentences of a weekly schedule, by cron day of the week
// (0 and 7 are Sunday).
var weekly = [8]string{
	"every Sunday at {time} (UTC)", "every Monday at {time} (UTC)", "every Tuesday at {time} (UTC)",
	"every Wednesday at {time} (UTC)", "every Thursday at {time} (UTC)", "every Friday at {time} (UTC)",
	"every Saturday at {time} (UTC)", "every Sunday at {time} (UTC)",
}

// When says when a five-field cron expression (in UTC, as the job runner
// reads it) runs: every N minutes, every hour, every N hours, every day
// or night at HH:MM, every DAY at HH:MM, every month on day D at HH:MM;
// any other shape as "on the schedule <cron> (UTC)".
func When(lang, cron string) string {
	p := Catalog().Printer(lang)
	f := strings.Fields(cron)
	other := func() string { return p.T("on the schedule {cron} (UTC)", "cron", printable(strings.Join(f, " "))) }
	if len(f) != 5 {
		return other()
	}
	min, hour, dom, mon, dow := f[0], f[1], f[2], f[3], f[4]
	num := func(s string, lo, hi int) (int, bool) {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= lo && n <= hi && strconv.Itoa(n) == s
	}
	step := func(s string) (int, bool) {
		rest, ok := strings.CutPrefix(s, "*/")
		if !ok {
			return 0, false
		}
		return num(rest, 1, 59)
	}
	if mon != "*" {
		return other()
	}
	m, mOK := num(min, 0, 59)
	h, hOK := num(hour, 0, 23)
	clock := fmt.Sprintf("%02d:%02d", h, m)
	switch {
	case dom != "*" || dow != "*":
		if !mOK || !hOK {
			return other()
		}
		if d, ok := num(dow, 0, 7); ok && dom == "*" {
			return p.T(weekly[d], "time", clock)
		}
		if d, ok := num(dom, 1, 31); ok && dow == "*" {
			return p.T("every month on day {day} at {time} (UTC)", "day", d, "time", clock)
		}
		return other()
	case min == "*" && hour == "*":
		return p.T("every minute")
	case hour == "*":
		if n, ok := step(min); ok {
			if n == 1 {
				return p.T("every minute")
			}
			return p.T("every {n} minutes", "n", n)
		}
		if mOK {
			if m == 0 {
				return p.T("every hour, on the hour")
			}
			return p.T("every hour at minute {n}", "n", m)
		}
	case mOK && hOK:
		if h < 6 {
			return p.T("every night at {time} (UTC)", "time", clock)
		}
		return p.T("every day at {time} (UTC)", "time", clock)
	case mOK:
		if n, ok := step(hour); ok && n < 24 {
			if n == 1 {
				return p.T("every hour, on the hour")
			}
			if m == 0 {
				return p.T("every {n} hours", "n", n)
			}
			return p.T("every {n} hours at minute {m}", "n", n, "m", m)
		}
	}
	return other()
}

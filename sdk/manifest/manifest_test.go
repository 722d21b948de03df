package manifest_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/websonic/websonic/sdk/manifest"
)

// full returns a valid manifest that uses every capability.
func full() *manifest.Manifest {
	return &manifest.Manifest{
		ManifestVersion: 2,
		Name:            "guestbook",
		Version:         "1.2.3",
		ABIVersion:      1,
		Description:     "A guestbook.",
		Capabilities: manifest.Capabilities{
			Routes: []manifest.Route{
				{Path: "/guestbook", Methods: []string{"GET", "HEAD", "POST"}, Access: manifest.AccessPublic},
				{Path: "/guestbook/moderate", Methods: []string{"POST", "DELETE"}, Access: manifest.AccessStaff},
			},
			CoreData:      []string{manifest.CoreUsers, manifest.CoreUserEmails},
			Topics:        []string{"guestbook.new", "guestbook_2-x"},
			OutboundHTTP:  []string{"https://api.example.com:443", "http://localhost:8080", "https://[2001:db8::1]:8443"},
			Schedules:     []manifest.Schedule{{Name: "cleanup", Cron: "0 3 * * *"}, {Name: "digest", Cron: "*/15 9-17 * * 1-5"}},
			AdminCommands: []manifest.AdminCommand{{Name: "cleanup", Description: "Delete old entries now"}},
			Mail:          true,
			Nav: []manifest.NavEntry{
				{Label: "Guestbook", Path: "/guestbook", Access: manifest.AccessPublic},
				{Label: "Moderate", Path: "/guestbook/moderate/queue", Access: manifest.AccessStaff},
			},
			ConfigSchema: map[string]manifest.ConfigItem{
				"title":       {Type: "string", Default: json.RawMessage(`"Guestbook"`)},
				"max_entries": {Type: "integer", Default: json.RawMessage(`50`)},
				"ratio":       {Type: "number", Default: json.RawMessage(`0.5`)},
				"open":        {Type: "boolean", Default: json.RawMessage(`true`)},
				"api_key":     {Type: "string", Required: true, Description: "Key of the spam filter"},
			},
		},
		Migrations: []string{"migrations/001_entries.sql", "migrations/002_index.sql", "migrations/0003_more.sql"},
		PersonalData: []manifest.PersonalData{
			{Category: "guestbook entries", Purpose: "Show what visitors wrote", Retention: "until the account is erased", Fields: []string{"entries.message", "entries"}},
			{Category: "guestbook entries", Subjects: "visitors", Purpose: "Show what visitors wrote", Retention: "90 days"},
		},
	}
}

func minimal() *manifest.Manifest {
	return &manifest.Manifest{ManifestVersion: 2, Name: "ab", Version: "0.0.1", ABIVersion: 2}
}

func encode(t testing.TB, m *manifest.Manifest) []byte {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fields lists the Field of every *FieldError in err, in order.
func fields(err error) []string {
	var out []string
	var walk func(error)
	walk = func(err error) {
		if multi, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range multi.Unwrap() {
				walk(e)
			}
			return
		}
		var fe *manifest.FieldError
		if errors.As(err, &fe) {
			out = append(out, fe.Field)
		}
	}
	walk(err)
	return out
}

func TestDecodeValid(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(m *manifest.Manifest)
	}{
		{"minimal", nil},
		{"full", func(m *manifest.Manifest) { *m = *full() }},
		{"prerelease and build", func(m *manifest.Manifest) { m.Version = "2.0.0-beta.1+exp.sha.5114f85" }},
		{"long name", func(m *manifest.Manifest) { m.Name = "a" + strings.Repeat("b_9", 9) + "c" }},
		{"description of 300", func(m *manifest.Manifest) { m.Description = strings.Repeat("x", 300) }},
		{"route below a reserved-looking prefix", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/apis", Access: manifest.AccessPublic}, {Path: "/administration", Access: manifest.AccessAdmin}}
		}},
		{"dots inside segments", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/a.b/c..d/...", Access: manifest.AccessMember}}
		}},
		{"every method", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/x", Methods: []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, Access: manifest.AccessAdmin}}
		}},
		{"cron forms", func(m *manifest.Manifest) {
			for i, c := range []string{"* * * * *", "0 0 1,15 * *", "0 0 * * 7", "5-10/2 * * * *", "59 23 31 12 0", "0,30 */2 1-7 1-12/3 *", "  0   3 * * *  "} {
				m.Capabilities.Schedules = append(m.Capabilities.Schedules, manifest.Schedule{Name: "s" + string(rune('a'+i)), Cron: c})
			}
		}},
		{"schedule and command share a name", func(m *manifest.Manifest) {
			m.Capabilities.Schedules = []manifest.Schedule{{Name: "cleanup", Cron: "0 * * * *"}}
			m.Capabilities.AdminCommands = []manifest.AdminCommand{{Name: "cleanup"}}
		}},
		{"nav on the route itself", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/shop", Access: manifest.AccessPublic}}
			m.Capabilities.Nav = []manifest.NavEntry{{Label: strings.Repeat("x", 40), Path: "/shop", Access: manifest.AccessMember}}
		}},
		{"every user action", func(m *manifest.Manifest) { m.Capabilities.UserActions = slices.Clone(manifest.UserActionList) }},
		{"the status user action", func(m *manifest.Manifest) { m.Capabilities.UserActions = []string{manifest.UserStatus} }},
		{"personal data in format 1", func(m *manifest.Manifest) {
			m.ManifestVersion = 1
			m.PersonalData = []manifest.PersonalData{{Category: strings.Repeat("é", 60), Purpose: strings.Repeat("p", 200), Retention: strings.Repeat("r", 100), Subjects: strings.Repeat("s", 60)}}
		}},
		{"negative and big integers", func(m *manifest.Manifest) {
			m.Capabilities.ConfigSchema = map[string]manifest.ConfigItem{
				"a": {Type: "integer", Default: json.RawMessage(`-7`)},
				"b": {Type: "integer", Default: json.RawMessage(`9223372036854775807`)},
				"c": {Type: "number", Default: json.RawMessage(`1e300`)},
				"d": {Type: "string", Default: json.RawMessage(`""`)},
				"e": {Type: "boolean", Default: json.RawMessage(`false`)},
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := minimal()
			if tc.edit != nil {
				tc.edit(want)
			}
			if err := want.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			got, err := manifest.Decode(encode(t, want))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if a, b := encode(t, got), encode(t, want); string(a) != string(b) {
				t.Errorf("decoded\n%s\nwant\n%s", a, b)
			}
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	route := func(p string) func(m *manifest.Manifest) {
		return func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: p, Access: manifest.AccessPublic}}
		}
	}
	origin := func(o string) func(m *manifest.Manifest) {
		return func(m *manifest.Manifest) { m.Capabilities.OutboundHTTP = []string{"https://ok.example:443", o} }
	}
	cron := func(c string) func(m *manifest.Manifest) {
		return func(m *manifest.Manifest) { m.Capabilities.Schedules = []manifest.Schedule{{Name: "job", Cron: c}} }
	}
	config := func(typ, def string) func(m *manifest.Manifest) {
		return func(m *manifest.Manifest) {
			m.Capabilities.ConfigSchema = map[string]manifest.ConfigItem{"k": {Type: typ, Default: json.RawMessage(def)}}
		}
	}
	pd := func(ds ...manifest.PersonalData) func(m *manifest.Manifest) {
		return func(m *manifest.Manifest) { m.PersonalData = ds }
	}
	migrations := func(ps ...string) func(m *manifest.Manifest) {
		return func(m *manifest.Manifest) { m.Migrations = ps }
	}
	for _, tc := range []struct {
		name string
		edit func(m *manifest.Manifest)
		want []string // the fields named, in order
		msg  string   // a part of the first error's message
	}{
		{"manifest version", func(m *manifest.Manifest) { m.ManifestVersion = 3 }, []string{"manifest_version"}, "must be 1 to 2, got 3"},
		{"topic prefix in format 1", func(m *manifest.Manifest) { m.ManifestVersion, m.Capabilities.Topics = 1, []string{"chat.*"} }, []string{"capabilities.topics[0]"}, "needs manifest_version 2"},
		{"bare wildcard topic", func(m *manifest.Manifest) { m.Capabilities.Topics = []string{"*"} }, []string{"capabilities.topics[0]"}, "prefix such as chat.*"},
		{"inner wildcard topic", func(m *manifest.Manifest) { m.Capabilities.Topics = []string{"chat.*.x"} }, []string{"capabilities.topics[0]"}, ""},
		{"empty topic segment", func(m *manifest.Manifest) { m.Capabilities.Topics = []string{"chat..x"} }, []string{"capabilities.topics[0]"}, ""},
		{"topic ending in a dot", func(m *manifest.Manifest) { m.Capabilities.Topics = []string{"chat.", "news.*"} }, []string{"capabilities.topics[0]"}, ""},
		{"user actions in format 1", func(m *manifest.Manifest) { m.ManifestVersion, m.Capabilities.UserActions = 1, []string{"ban"} }, []string{"capabilities.user_actions[0]"}, "needs manifest_version 2"},
		{"unknown user action", func(m *manifest.Manifest) { m.Capabilities.UserActions = []string{"ban", "delete_site"} }, []string{"capabilities.user_actions[1]"}, "must be one of"},
		{"admin pages in format 1", func(m *manifest.Manifest) {
			m.ManifestVersion, m.Capabilities.AdminPages = 1, []manifest.AdminPage{{Name: "mod", Label: "Moderation"}}
		}, []string{"capabilities.admin_pages"}, "needs manifest_version 2"},
		{"admin page name", func(m *manifest.Manifest) {
			m.Capabilities.AdminPages = []manifest.AdminPage{{Name: "Mod-1", Label: "M"}}
		}, []string{"capabilities.admin_pages[0].name"}, "unique identifier"},
		{"admin page twice", func(m *manifest.Manifest) {
			m.Capabilities.AdminPages = []manifest.AdminPage{{Name: "mod", Label: "M"}, {Name: "mod", Label: "N"}}
		}, []string{"capabilities.admin_pages[1].name"}, "unique"},
		{"admin page label", func(m *manifest.Manifest) {
			m.Capabilities.AdminPages = []manifest.AdminPage{{Name: "mod", Label: "a\nb"}}
		}, []string{"capabilities.admin_pages[0].label"}, "control characters"},
		{"admin page label empty", func(m *manifest.Manifest) { m.Capabilities.AdminPages = []manifest.AdminPage{{Name: "mod"}} }, []string{"capabilities.admin_pages[0].label"}, "1-40"},
		{"user action twice", func(m *manifest.Manifest) { m.Capabilities.UserActions = []string{"ban", "ban"} }, []string{"capabilities.user_actions[1]"}, "listed once"},
		{"status twice", func(m *manifest.Manifest) { m.Capabilities.UserActions = []string{"status", "connections", "status"} }, []string{"capabilities.user_actions[2]"}, "listed once"},
		{"status in format 1", func(m *manifest.Manifest) { m.ManifestVersion, m.Capabilities.UserActions = 1, []string{"status"} }, []string{"capabilities.user_actions[0]"}, "needs manifest_version 2"},
		{"user action in capitals", func(m *manifest.Manifest) { m.Capabilities.UserActions = []string{"Status"} }, []string{"capabilities.user_actions[0]"}, "must be one of"},
		{"seal in format 1", func(m *manifest.Manifest) { m.ManifestVersion, m.Capabilities.Seal = 1, true }, []string{"capabilities.seal"}, "needs manifest_version 2"},
		{"mail in format 1", func(m *manifest.Manifest) { m.ManifestVersion, m.Capabilities.Mail = 1, true }, []string{"capabilities.mail"}, "needs manifest_version 2"},
		{"command args in format 1", func(m *manifest.Manifest) {
			m.ManifestVersion = 1
			m.Capabilities.AdminCommands = []manifest.AdminCommand{{Name: "c", Args: []manifest.CommandArg{{Name: "a", Type: "string"}}}}
		}, []string{"capabilities.admin_commands[0].args"}, "needs manifest_version 2"},
		{"command arg type", func(m *manifest.Manifest) {
			m.Capabilities.AdminCommands = []manifest.AdminCommand{{Name: "c", Args: []manifest.CommandArg{{Name: "a", Type: "date"}}}}
		}, []string{"capabilities.admin_commands[0].args[0].type"}, "is not one of"},
		{"command arg twice", func(m *manifest.Manifest) {
			m.Capabilities.AdminCommands = []manifest.AdminCommand{{Name: "c", Args: []manifest.CommandArg{{Name: "a", Type: "string"}, {Name: "a", Type: "integer"}}}}
		}, []string{"capabilities.admin_commands[0].args[1].name"}, "unique"},
		{"command arg default of wrong type", func(m *manifest.Manifest) {
			m.Capabilities.AdminCommands = []manifest.AdminCommand{{Name: "c", Args: []manifest.CommandArg{{Name: "a", Type: "integer", Default: json.RawMessage(`"x"`)}}}}
		}, []string{"capabilities.admin_commands[0].args[0].default"}, "is not a integer"},
		{"required command arg with default", func(m *manifest.Manifest) {
			m.Capabilities.AdminCommands = []manifest.AdminCommand{{Name: "c", Args: []manifest.CommandArg{{Name: "a", Type: "integer", Required: true, Default: json.RawMessage(`1`)}}}}
		}, []string{"capabilities.admin_commands[0].args[0].required"}, "no default"},
		{"empty name", func(m *manifest.Manifest) { m.Name = "" }, []string{"name"}, ""},
		{"one-letter name", func(m *manifest.Manifest) { m.Name = "a" }, []string{"name"}, ""},
		{"name too long", func(m *manifest.Manifest) { m.Name = strings.Repeat("a", 31) }, []string{"name"}, ""},
		{"name with capitals", func(m *manifest.Manifest) { m.Name = "Guestbook" }, []string{"name"}, ""},
		{"name with dash", func(m *manifest.Manifest) { m.Name = "guest-book" }, []string{"name"}, ""},
		{"name starts with digit", func(m *manifest.Manifest) { m.Name = "1book" }, []string{"name"}, ""},
		{"semver two parts", func(m *manifest.Manifest) { m.Version = "1.0" }, []string{"version"}, "not a semantic version"},
		{"semver v prefix", func(m *manifest.Manifest) { m.Version = "v1.0.0" }, []string{"version"}, ""},
		{"semver leading zero", func(m *manifest.Manifest) { m.Version = "01.0.0" }, []string{"version"}, ""},
		{"semver empty prerelease", func(m *manifest.Manifest) { m.Version = "1.0.0-" }, []string{"version"}, ""},
		{"semver numeric prerelease with zero", func(m *manifest.Manifest) { m.Version = "1.0.0-01" }, []string{"version"}, ""},
		{"semver empty", func(m *manifest.Manifest) { m.Version = "" }, []string{"version"}, ""},
		{"abi version", func(m *manifest.Manifest) { m.ABIVersion = 0 }, []string{"abi_version"}, "is required"},
		{"description too long", func(m *manifest.Manifest) { m.Description = strings.Repeat("x", 301) }, []string{"description"}, ""},
		{"name reserved: available", func(m *manifest.Manifest) { m.Name = "available" }, []string{"name"}, "reserved"},
		{"name reserved: install", func(m *manifest.Manifest) { m.Name = "install" }, []string{"name"}, "reserved"},

		{"route without slash", route("guestbook"), []string{"capabilities.routes[0].path"}, `must start with "/"`},
		{"route root", route("/"), []string{"capabilities.routes[0].path"}, ""},
		{"route capitals", route("/Guestbook"), []string{"capabilities.routes[0].path"}, ""},
		{"route trailing slash", route("/a/"), []string{"capabilities.routes[0].path"}, ""},
		{"route empty segment", route("/a//b"), []string{"capabilities.routes[0].path"}, ""},
		{"route with query", route("/a?b"), []string{"capabilities.routes[0].path"}, ""},
		{"route dot-dot into reserved", route("/a/../admin"), []string{"capabilities.routes[0].path"}, `".." segments`},
		{"route dot segment", route("/a/./b"), []string{"capabilities.routes[0].path"}, ""},
		{"route dot-dot last", route("/a/.."), []string{"capabilities.routes[0].path"}, ""},
		{"reserved admin", route("/admin"), []string{"capabilities.routes[0].path"}, "reserved by the core site"},
		{"reserved below admin", route("/admin/modules"), []string{"capabilities.routes[0].path"}, "reserved"},
		{"reserved api", route("/api"), []string{"capabilities.routes[0].path"}, "reserved"},
		{"reserved static", route("/static/x.css"), []string{"capabilities.routes[0].path"}, "reserved"},
		{"reserved login", route("/login"), []string{"capabilities.routes[0].path"}, "reserved"},
		{"reserved ws", route("/ws"), []string{"capabilities.routes[0].path"}, "reserved"},
		{"host path prefix itself", route("/_websonic"), []string{"capabilities.routes[0].path"}, "reserved for the runtime's own calls"},
		{"host health path", route("/_websonic/health"), []string{"capabilities.routes[0].path"}, "reserved for the runtime's own calls"},
		{"below the host path prefix", route("/_websonic/x/y"), []string{"capabilities.routes[0].path"}, "reserved for the runtime's own calls"},
		{"nav under the host path prefix", func(m *manifest.Manifest) {
			m.Capabilities.Nav = []manifest.NavEntry{{Label: "Health", Path: "/_websonic/health", Access: manifest.AccessPublic}}
		}, []string{"capabilities.nav[0].path", "capabilities.nav[0].path"}, "reserved for the runtime's own calls"},
		{"route twice", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/a", Access: manifest.AccessPublic}, {Path: "/a", Access: manifest.AccessAdmin}}
		}, []string{"capabilities.routes[1].path"}, "listed twice"},
		{"bad method", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/a", Methods: []string{"GET", "get", "FETCH"}, Access: manifest.AccessPublic}}
		}, []string{"capabilities.routes[0].methods[1]", "capabilities.routes[0].methods[2]"}, "is not one of GET"},
		{"bad access", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/a", Access: "root"}}
		}, []string{"capabilities.routes[0].access"}, "is not one of public"},
		{"missing access", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/a"}}
		}, []string{"capabilities.routes[0].access"}, ""},

		{"core data", func(m *manifest.Manifest) { m.Capabilities.CoreData = []string{"users", "passwords"} }, []string{"capabilities.core_data[1]"}, "not a core view"},
		{"topic", func(m *manifest.Manifest) { m.Capabilities.Topics = []string{"ok", "Bad Topic"} }, []string{"capabilities.topics[1]"}, ""},
		{"topic too long", func(m *manifest.Manifest) { m.Capabilities.Topics = []string{strings.Repeat("t", 64)} }, []string{"capabilities.topics[0]"}, ""},

		{"origin without port", origin("https://x"), []string{"capabilities.outbound_http[1]"}, "explicit port"},
		{"origin with path", origin("https://x.example:443/path"), []string{"capabilities.outbound_http[1]"}, ""},
		{"origin with path before port", origin("https://x.example/p:443"), []string{"capabilities.outbound_http[1]"}, "plain host name"},
		{"origin wildcard", origin("https://*.example.com:443"), []string{"capabilities.outbound_http[1]"}, "wildcard"},
		{"origin with user", origin("https://me@x.example:443"), []string{"capabilities.outbound_http[1]"}, ""},
		{"origin other scheme", origin("ftp://x.example:21"), []string{"capabilities.outbound_http[1]"}, "scheme"},
		{"origin without scheme", origin("x.example:443"), []string{"capabilities.outbound_http[1]"}, ""},
		{"origin without host", origin("https://:443"), []string{"capabilities.outbound_http[1]"}, ""},
		{"origin port 0", origin("https://x.example:0"), []string{"capabilities.outbound_http[1]"}, "port must be"},
		{"origin port too big", origin("https://x.example:65536"), []string{"capabilities.outbound_http[1]"}, ""},
		{"origin port leading zero", origin("https://x.example:0443"), []string{"capabilities.outbound_http[1]"}, ""},
		{"origin trailing slash", origin("https://x.example:443/"), []string{"capabilities.outbound_http[1]"}, ""},

		{"cron four fields", cron("* * * *"), []string{"capabilities.schedules[0].cron"}, "five fields"},
		{"cron six fields", cron("0 * * * * *"), []string{"capabilities.schedules[0].cron"}, ""},
		{"cron minute 60", cron("60 * * * *"), []string{"capabilities.schedules[0].cron"}, "field 1: 60 outside 0-59"},
		{"cron hour 24", cron("0 24 * * *"), []string{"capabilities.schedules[0].cron"}, ""},
		{"cron day 0", cron("0 0 0 * *"), []string{"capabilities.schedules[0].cron"}, ""},
		{"cron month 13", cron("0 0 * 13 *"), []string{"capabilities.schedules[0].cron"}, ""},
		{"cron weekday 8", cron("0 0 * * 8"), []string{"capabilities.schedules[0].cron"}, ""},
		{"cron names", cron("0 0 * * MON"), []string{"capabilities.schedules[0].cron"}, "bad syntax"},
		{"cron empty", cron(""), []string{"capabilities.schedules[0].cron"}, ""},
		{"cron step zero", cron("*/0 * * * *"), []string{"capabilities.schedules[0].cron"}, "step"},
		{"cron range step zero", cron("1-5/0 * * * *"), []string{"capabilities.schedules[0].cron"}, "step"},
		{"cron backwards range", cron("0 0 * * 5-1"), []string{"capabilities.schedules[0].cron"}, "backwards"},
		{"cron out of range after a step", cron("*/5,99 * * * *"), []string{"capabilities.schedules[0].cron"}, "99 outside"},
		{"cron out of range range end", cron("0 0 1-32 * *"), []string{"capabilities.schedules[0].cron"}, "32 outside"},
		{"cron huge number", cron("99999999999999999999 * * * *"), []string{"capabilities.schedules[0].cron"}, ""},
		{"schedule name", func(m *manifest.Manifest) {
			m.Capabilities.Schedules = []manifest.Schedule{{Name: "Nightly", Cron: "0 0 * * *"}}
		}, []string{"capabilities.schedules[0].name"}, ""},
		{"schedule twice", func(m *manifest.Manifest) {
			m.Capabilities.Schedules = []manifest.Schedule{{Name: "n", Cron: "0 0 * * *"}, {Name: "n", Cron: "0 1 * * *"}}
		}, []string{"capabilities.schedules[1].name"}, "unique"},
		{"admin command name", func(m *manifest.Manifest) {
			m.Capabilities.AdminCommands = []manifest.AdminCommand{{Name: ""}}
		}, []string{"capabilities.admin_commands[0].name"}, ""},
		{"admin command twice", func(m *manifest.Manifest) {
			m.Capabilities.AdminCommands = []manifest.AdminCommand{{Name: "x"}, {Name: "x"}}
		}, []string{"capabilities.admin_commands[1].name"}, ""},

		{"nav not routed", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/shop", Access: manifest.AccessPublic}}
			m.Capabilities.Nav = []manifest.NavEntry{{Label: "Blog", Path: "/blog", Access: manifest.AccessPublic}}
		}, []string{"capabilities.nav[0].path"}, "not served by any of the module's routes"},
		{"nav prefix is not a parent", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/shop", Access: manifest.AccessPublic}}
			m.Capabilities.Nav = []manifest.NavEntry{{Label: "Shopping", Path: "/shopping", Access: manifest.AccessPublic}}
		}, []string{"capabilities.nav[0].path"}, "not served"},
		{"nav label", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/shop", Access: manifest.AccessPublic}}
			m.Capabilities.Nav = []manifest.NavEntry{{Label: "", Path: "/shop", Access: manifest.AccessPublic}, {Label: strings.Repeat("x", 41), Path: "/shop", Access: manifest.AccessPublic}}
		}, []string{"capabilities.nav[0].label", "capabilities.nav[1].label"}, "1-40"},
		{"nav access", func(m *manifest.Manifest) {
			m.Capabilities.Routes = []manifest.Route{{Path: "/shop", Access: manifest.AccessPublic}}
			m.Capabilities.Nav = []manifest.NavEntry{{Label: "Shop", Path: "/shop", Access: "everyone"}}
		}, []string{"capabilities.nav[0].access"}, ""},

		{"config key", func(m *manifest.Manifest) {
			m.Capabilities.ConfigSchema = map[string]manifest.ConfigItem{"Bad-Key": {Type: "string"}}
		}, []string{"capabilities.config_schema.Bad-Key"}, "identifier"},
		{"config type", config("array", ""), []string{"capabilities.config_schema.k.type"}, "is not one of string"},
		{"config string default is a number", config("string", "5"), []string{"capabilities.config_schema.k.default"}, "5 is not a string"},
		{"config integer default is a string", config("integer", `"5"`), []string{"capabilities.config_schema.k.default"}, ""},
		{"config integer default is fractional", config("integer", "1.5"), []string{"capabilities.config_schema.k.default"}, ""},
		{"config integer default written as float", config("integer", "1.0"), []string{"capabilities.config_schema.k.default"}, "1.0 is not a integer"},
		{"config integer default with exponent", config("integer", "1e2"), []string{"capabilities.config_schema.k.default"}, ""},
		{"config integer default past int64", config("integer", "9223372036854775808"), []string{"capabilities.config_schema.k.default"}, ""},
		{"config number default is a bool", config("number", "true"), []string{"capabilities.config_schema.k.default"}, ""},
		{"config boolean default is a string", config("boolean", `"true"`), []string{"capabilities.config_schema.k.default"}, ""},
		{"config default null", config("string", "null"), []string{"capabilities.config_schema.k.default"}, ""},
		{"config default object", config("string", `{"a":1}`), []string{"capabilities.config_schema.k.default"}, ""},

		{"migration outside folder", migrations("001_init.sql"), []string{"migrations[0]"}, "migrations/001_name.sql"},
		{"migration short number", migrations("migrations/1_init.sql"), []string{"migrations[0]"}, ""},
		{"migration capitals", migrations("migrations/001_Init.sql"), []string{"migrations[0]"}, ""},
		{"migration extension", migrations("migrations/001_init.SQL"), []string{"migrations[0]"}, ""},
		{"migration traversal", migrations("migrations/../001_init.sql"), []string{"migrations[0]"}, ""},
		{"migration twice", migrations("migrations/001_a.sql", "migrations/002_b.sql", "migrations/001_a.sql"), []string{"migrations[2]"}, "listed twice"},

		{"personal data without purpose", pd(manifest.PersonalData{Category: "c", Retention: "r"}), []string{"personal_data[0].purpose"}, "is required"},
		{"personal data empty", pd(manifest.PersonalData{}), []string{"personal_data[0].category", "personal_data[0].purpose", "personal_data[0].retention"}, ""},
		{"personal data category too long", pd(manifest.PersonalData{Category: strings.Repeat("x", 61), Purpose: "p", Retention: "r"}), []string{"personal_data[0].category"}, "at most 60"},
		{"personal data purpose too long", pd(manifest.PersonalData{Category: "c", Purpose: strings.Repeat("x", 201), Retention: "r"}), []string{"personal_data[0].purpose"}, "at most 200"},
		{"personal data retention too long", pd(manifest.PersonalData{Category: "c", Purpose: "p", Retention: strings.Repeat("x", 101)}), []string{"personal_data[0].retention"}, "at most 100"},
		{"personal data subjects too long", pd(manifest.PersonalData{Category: "c", Purpose: "p", Retention: "r", Subjects: strings.Repeat("x", 61)}), []string{"personal_data[0].subjects"}, "at most 60"},
		{"personal data control character", pd(manifest.PersonalData{Category: "c\nd", Purpose: "p", Retention: "r"}), []string{"personal_data[0].category"}, "one line"},
		{"personal data padded", pd(manifest.PersonalData{Category: "c", Purpose: " p", Retention: "r"}), []string{"personal_data[0].purpose"}, "surrounding spaces"},
		{"personal data twice", pd(manifest.PersonalData{Category: "Messages", Purpose: "p", Retention: "r"}, manifest.PersonalData{Category: "messages", Purpose: "q", Retention: "r", Subjects: "users"}), []string{"personal_data[1].category"}, "listed twice"},
		{"personal data bad field", pd(manifest.PersonalData{Category: "c", Purpose: "p", Retention: "r", Fields: []string{"a.b", "a.b.c", "A", "a.b"}}), []string{"personal_data[0].fields[1]", "personal_data[0].fields[2]", "personal_data[0].fields[3]"}, "table or table.column"},
		{"personal data too many", func(m *manifest.Manifest) {
			for i := range manifest.MaxPersonalData + 1 {
				m.PersonalData = append(m.PersonalData, manifest.PersonalData{Category: fmt.Sprint("c", i), Purpose: "p", Retention: "r"})
			}
		}, []string{"personal_data"}, "at most 32"},

		{"every problem at once", func(m *manifest.Manifest) {
			m.ManifestVersion, m.Name, m.Version, m.ABIVersion = 0, "", "x", 0
			m.Capabilities.Routes = []manifest.Route{{Path: "/admin", Access: "x"}}
			m.Migrations = []string{"x"}
		}, []string{"manifest_version", "name", "version", "abi_version", "capabilities.routes[0].path", "capabilities.routes[0].access", "migrations[0]"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := minimal()
			tc.edit(m)
			verr := m.Validate()
			_, err := manifest.Decode(encode(t, m))
			if err == nil {
				t.Fatal("Decode accepted an invalid manifest")
			}
			if verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate and Decode disagree:\n%v\n%v", verr, err)
			}
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			if got := fields(err); !slices.Equal(got, tc.want) {
				t.Errorf("fields = %q, want %q (error: %v)", got, tc.want, err)
			}
			if tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "manifest: ") {
					t.Errorf("error line %q lacks the package prefix", line)
				}
			}
		})
	}
}

func TestDecodeRejectsBadJSON(t *testing.T) {
	good := string(encode(t, minimal()))
	for _, tc := range []struct {
		name, in, field, msg string
	}{
		{"unknown top-level field", `{"manifest_version":1,"name":"ab","version":"1.0.0","abi_version":1,"homepage":"x"}`, "(file)", `unknown field "homepage"`},
		{"unknown nested field", `{"manifest_version":1,"name":"ab","version":"1.0.0","abi_version":1,"capabilities":{"routes":[{"path":"/a","access":"public","auth":"none"}]}}`, "(file)", `unknown field "auth"`},
		{"unknown capability", `{"manifest_version":1,"name":"ab","version":"1.0.0","abi_version":1,"capabilities":{"filesystem":true}}`, "(file)", `unknown field "filesystem"`},
		{"trailing object", good + `{}`, "(file)", "trailing data"},
		{"trailing garbage", good + ` x`, "(file)", "trailing data"},
		{"trailing bracket", good + `]`, "(file)", "trailing data"},
		{"second manifest", good + "\n" + good, "(file)", "trailing data"},
		{"wrong type", `{"manifest_version":"1"}`, "manifest_version", "cannot unmarshal"},
		{"wrong nested type", `{"capabilities":{"routes":[{"path":5}]}}`, "capabilities.routes.path", "cannot unmarshal"},
		{"negative abi version", `{"abi_version":-1}`, "abi_version", ""},
		{"not JSON", `manifest_version: 1`, "(file)", "invalid character"},
		{"empty", ``, "(file)", "EOF"},
		{"truncated", good[:len(good)-1], "(file)", "unexpected EOF"},
		{"array", `[]`, "(file)", "cannot unmarshal array"},
		{"too large", `{"description":"` + strings.Repeat("x", manifest.MaxSize) + `"}`, "(file)", "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := manifest.Decode([]byte(tc.in))
			var fe *manifest.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field {
				t.Errorf("field = %q, want %q (error: %v)", fe.Field, tc.field, err)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
			if !errors.Is(err, manifest.ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
		})
	}
}

func TestDecodeAllowsTrailingWhitespace(t *testing.T) {
	if _, err := manifest.Decode(append(encode(t, minimal()), " \n\t\r\n"...)); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeNullIsInvalid(t *testing.T) {
	_, err := manifest.Decode([]byte("null"))
	if got, want := fields(err), []string{"manifest_version", "name", "version", "abi_version"}; !slices.Equal(got, want) {
		t.Errorf("fields = %q, want %q", got, want)
	}
}

func TestExampleHelloManifest(t *testing.T) {
	data, err := os.ReadFile("../../examples/hello/module.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Decode(data)
	if err != nil {
		t.Fatalf("examples/hello/module.json: %v", err)
	}
	if m.Name != "hello" || m.ABIVersion != 1 || !m.Capabilities.Grants(manifest.CoreUsers) {
		t.Errorf("unexpected manifest: %+v", m)
	}
	cfg, err := m.ResolveConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(cfg), `{"max_entries":50,"title":"Guestbook"}`; got != want {
		t.Errorf("default config = %s, want %s", got, want)
	}
}

func TestResolveConfig(t *testing.T) {
	m := full()
	m.Capabilities.ConfigSchema = map[string]manifest.ConfigItem{
		"title":   {Type: "string", Default: json.RawMessage(`"Guestbook"`)},
		"max":     {Type: "integer", Default: json.RawMessage(`50`)},
		"ratio":   {Type: "number"},
		"open":    {Type: "boolean", Default: json.RawMessage(`true`)},
		"api_key": {Type: "string", Required: true},
		"region":  {Type: "string", Required: true, Default: json.RawMessage(`"eu"`)},
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	key := json.RawMessage(`"k-123"`)
	for _, tc := range []struct {
		name   string
		values map[string]json.RawMessage
		want   string   // resolved JSON, when valid
		fields []string // the fields named, when not (sorted)
	}{
		{"defaults", map[string]json.RawMessage{"api_key": key},
			`{"api_key":"k-123","max":50,"open":true,"region":"eu","title":"Guestbook"}`, nil},
		{"owner overrides", map[string]json.RawMessage{"api_key": key, "title": json.RawMessage(` "Visitors" `), "max": json.RawMessage(`10`), "ratio": json.RawMessage(`0.25`), "open": json.RawMessage(`false`), "region": json.RawMessage(`"us"`)},
			`{"api_key":"k-123","max":10,"open":false,"ratio":0.25,"region":"us","title":"Visitors"}`, nil},
		{"required missing", nil, "", []string{"config.api_key"}},
		{"wrong type", map[string]json.RawMessage{"api_key": key, "max": json.RawMessage(`"ten"`), "open": json.RawMessage(`1`)}, "", []string{"config.max", "config.open"}},
		{"fraction for integer", map[string]json.RawMessage{"api_key": key, "max": json.RawMessage(`2.5`)}, "", []string{"config.max"}},
		{"null value", map[string]json.RawMessage{"api_key": json.RawMessage(`null`)}, "", []string{"config.api_key"}},
		{"not JSON", map[string]json.RawMessage{"api_key": json.RawMessage(`k-123`)}, "", []string{"config.api_key"}},
		{"unknown key", map[string]json.RawMessage{"api_key": key, "colour": json.RawMessage(`"red"`)}, "", []string{"config.colour"}},
		{"everything wrong", map[string]json.RawMessage{"max": json.RawMessage(`true`), "extra": json.RawMessage(`1`)}, "", []string{"config.api_key", "config.extra", "config.max"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := m.ResolveConfig(tc.values)
			if tc.fields != nil {
				f := fields(err)
				slices.Sort(f)
				if !slices.Equal(f, tc.fields) {
					t.Errorf("fields = %q, want %q (error: %v)", f, tc.fields, err)
				}
				if !errors.Is(err, manifest.ErrInvalid) {
					t.Errorf("error does not wrap ErrInvalid: %v", err)
				}
				if got != nil {
					t.Errorf("config returned with an error: %s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("config = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestResolveConfigWithoutSchema(t *testing.T) {
	m := minimal()
	got, err := m.ResolveConfig(nil)
	if err != nil || string(got) != "{}" {
		t.Errorf("ResolveConfig(nil) = %s, %v; want {}", got, err)
	}
	if _, err := m.ResolveConfig(map[string]json.RawMessage{"x": json.RawMessage(`1`)}); err == nil {
		t.Error("a value without a schema was accepted")
	}
}

func TestGrants(t *testing.T) {
	c := manifest.Capabilities{CoreData: []string{manifest.CoreUsers}}
	if !c.Grants(manifest.CoreUsers) || c.Grants(manifest.CoreUserEmails) || c.Grants("") {
		t.Error("Grants disagrees with CoreData")
	}
}

func TestFieldError(t *testing.T) {
	err := error(&manifest.FieldError{Field: "capabilities.routes[0].path", Msg: `must start with "/"`})
	if got, want := err.Error(), `manifest: capabilities.routes[0].path: must start with "/"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, manifest.ErrInvalid) {
		t.Error("FieldError does not unwrap to ErrInvalid")
	}
}

func TestTopicAllowed(t *testing.T) {
	patterns := []string{"news", "chat.*"}
	for topic, want := range map[string]bool{
		"news": true, "news.x": false, "chat": false, "chat.": false, "chat.general": true, "chat.room.12": true,
		"chatx.a": false, "other": false, "": false,
	} {
		if got := manifest.TopicAllowed(patterns, topic); got != want {
			t.Errorf("TopicAllowed(%q) = %v, want %v", topic, got, want)
		}
	}
	for topic, want := range map[string]bool{
		"chat.general": true, "a": true, "0.a-b_c": true, "": false, ".a": false, "a..b": false, "a.": false,
		"Chat": false, "chat.*": false, "a b": false, strings.Repeat("a", 201): false, "-a": false,
	} {
		if got := manifest.ValidTopic(topic); got != want {
			t.Errorf("ValidTopic(%q) = %v, want %v", topic, got, want)
		}
	}
}

func TestParseArgs(t *testing.T) {
	cmd := &manifest.AdminCommand{Name: "purge", Args: []manifest.CommandArg{
		{Name: "days", Type: "integer", Default: json.RawMessage(`30`)},
		{Name: "reason", Type: "string", Required: true},
		{Name: "dry", Type: "boolean"},
		{Name: "ratio", Type: "number"},
	}}
	for _, tc := range []struct {
		in   map[string]string
		want string // JSON, or "" for an error
		err  string
	}{
		{map[string]string{"reason": "spam"}, `{"days":30,"reason":"spam"}`, ""},
		{map[string]string{"reason": "x", "days": "7", "dry": "true", "ratio": "0.5"}, `{"days":7,"dry":true,"ratio":0.5,"reason":"x"}`, ""},
		{map[string]string{"reason": "12"}, `{"days":30,"reason":"12"}`, ""},
		{map[string]string{}, "", "--reason: is required"},
		{map[string]string{"reason": "x", "days": "seven"}, "", "--days"},
		{map[string]string{"reason": "x", "days": "1.5"}, "", "--days"},
		{map[string]string{"reason": "x", "dry": "maybe"}, "", "not true or false"},
		{map[string]string{"reason": "x", "ratio": "{}"}, "", "--ratio"},
		{map[string]string{"reason": "x", "force": "1"}, "", "--force: is not an argument of purge"},
	} {
		got, err := cmd.ParseArgs(tc.in)
		if tc.want != "" {
			if err != nil || string(got) != tc.want {
				t.Errorf("%v: %s, %v; want %s", tc.in, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, manifest.ErrInvalid) {
			t.Errorf("%v: %s, %v; want an error with %q", tc.in, got, err, tc.err)
		}
	}
}

func TestTopicsOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"news", "news", true},
		{"news", "news2", false},
		{"chat.*", "chat.lobby", true},
		{"chat.*", "chat", false},
		{"chat.*", "chatx.*", false},
		{"chat.*", "chat.room.*", true},
		{"chat.*", "chat.*", true},
		{"chat.room.*", "chat.lobby", false},
		{"a.*", "b.*", false},
	} {
		if got := manifest.TopicsOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("TopicsOverlap(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
		if got := manifest.TopicsOverlap(tc.b, tc.a); got != tc.want {
			t.Errorf("TopicsOverlap(%q, %q) = %v, want %v", tc.b, tc.a, got, tc.want)
		}
	}
}

// TestFirstPartyManifestsDeclarePersonalData: every module and example
// of the repository decodes and says what personal data it stores (they
// all store some), so the site's record of processing is complete.
func TestFirstPartyManifestsDeclarePersonalData(t *testing.T) {
	paths, err := filepath.Glob("../../modules/*/module.json")
	if err != nil {
		t.Fatal(err)
	}
	examples, _ := filepath.Glob("../../examples/*/module.json")
	paths = append(paths, examples...)
	if len(paths) < 4 {
		t.Fatalf("found only %q", paths)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m, err := manifest.Decode(data)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if len(m.PersonalData) == 0 {
			t.Errorf("%s declares no personal_data", p)
		}
	}
}

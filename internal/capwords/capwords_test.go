package capwords_test

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/capwords"
	"github.com/websonic/websonic/sdk/manifest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestWhen(t *testing.T) {
	tests := []struct{ cron, en, fr string }{
		{"* * * * *", "every minute", "chaque minute"},
		{"*/1 * * * *", "every minute", "chaque minute"},
		{"*/5 * * * *", "every 5 minutes", "toutes les 5 minutes"},
		{"0 * * * *", "every hour, on the hour", "toutes les heures, à l'heure pile"},
		{"15 * * * *", "every hour at minute 15", "toutes les heures à la minute 15"},
		{"0 */6 * * *", "every 6 hours", "toutes les 6 heures"},
		{"30 */2 * * *", "every 2 hours at minute 30", "toutes les 2 heures à la minute 30"},
		{"0 3 * * *", "every night at 03:00 (UTC)", "chaque nuit à 03:00 (UTC)"},
		{"30 18 * * *", "every day at 18:30 (UTC)", "chaque jour à 18:30 (UTC)"},
		{"0 9 * * 1", "every Monday at 09:00 (UTC)", "chaque lundi à 09:00 (UTC)"},
		{"0 9 * * 0", "every Sunday at 09:00 (UTC)", "chaque dimanche à 09:00 (UTC)"},
		{"0 9 * * 7", "every Sunday at 09:00 (UTC)", "chaque dimanche à 09:00 (UTC)"},
		{"5 0 1 * *", "every month on day 1 at 00:05 (UTC)", "chaque mois le 1 à 00:05 (UTC)"},
		{"0 9 * * 1-5", "on the schedule 0 9 * * 1-5 (UTC)", "selon le calendrier 0 9 * * 1-5 (UTC)"},
		{"0 9 1 1 *", "on the schedule 0 9 1 1 * (UTC)", "selon le calendrier 0 9 1 1 * (UTC)"},
		{"0,30 * * * *", "on the schedule 0,30 * * * * (UTC)", "selon le calendrier 0,30 * * * * (UTC)"},
		{"07 3 * * *", "on the schedule 07 3 * * * (UTC)", "selon le calendrier 07 3 * * * (UTC)"},
		{"nonsense", "on the schedule nonsense (UTC)", "selon le calendrier nonsense (UTC)"},
	}
	for _, tc := range tests {
		t.Run(tc.cron, func(t *testing.T) {
			if got := capwords.When("en", tc.cron); got != tc.en {
				t.Errorf("en: %q, want %q", got, tc.en)
			}
			if got := capwords.When("fr", tc.cron); got != tc.fr {
				t.Errorf("fr: %q, want %q", got, tc.fr)
			}
		})
	}
}

// TestDescribe compares the sentences of a few manifests' capabilities,
// in English and French, with testdata/describe.golden (-update rewrites
// it).
func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		caps string
	}{
		{"nothing", `{}`},
		{"noticeboard", `{"routes":[{"path":"/notices","access":"public"},{"path":"/notices/new","methods":["GET","POST"],"access":"member"}],
			"core_data":["users"],"nav":[{"label":"Notices","path":"/notices","access":"member"}],"schedules":[{"name":"digest","cron":"0 3 * * *"}]}`},
		{"mailer", `{"core_data":["users","user_emails"],"outbound_http":["https://smtp.example.com:587","https://api.example.com:443"],
			"schedules":[{"name":"sweep","cron":"*/15 * * * *"},{"name":"weekly","cron":"0 8 * * 1"},{"name":"odd","cron":"0 9 * * 1-5"}]}`},
		{"chat", `{"routes":[{"path":"/chat","access":"staff"}],"topics":["chat.*","presence"],"user_actions":["ban","suspend","block_ip","set_password","roles","connections","status"],
			"seal":true,"mail":true,"admin_commands":[{"name":"purge","description":"delete old messages"},{"name":"reindex"}],
			"config_schema":{"max_len":{"type":"integer"},"greeting":{"type":"string"}}}`},
	}
	var b strings.Builder
	for _, tc := range tests {
		var caps manifest.Capabilities
		if err := json.Unmarshal([]byte(tc.caps), &caps); err != nil {
			t.Fatal(err)
		}
		for _, lang := range []string{"en", "fr"} {
			fmt.Fprintf(&b, "== %s (%s)\n", tc.name, lang)
			for _, l := range capwords.Describe(lang, tc.name, caps) {
				fmt.Fprintf(&b, "[%s] %s\n", l.Kind, l.Text)
			}
		}
	}
	const golden = "testdata/describe.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("descriptions differ from %s (go test -update rewrites it):\n%s", golden, b.String())
	}
}

// TestCompare: a wider audience, a new view and a new topic are new; what
// was approved is not.
func TestCompare(t *testing.T) {
	approved := manifest.Capabilities{Routes: []manifest.Route{{Path: "/a", Access: manifest.AccessMember}}, Topics: []string{"news"}}
	requested := manifest.Capabilities{Routes: []manifest.Route{{Path: "/a", Access: manifest.AccessPublic}}, Topics: []string{"news", "chat.*"},
		CoreData: []string{manifest.CoreUsers}}
	var newLines []string
	for _, l := range capwords.Compare("en", "m", approved, requested) {
		if l.New {
			newLines = append(newLines, l.Text)
		}
	}
	want := []string{"Add pages at /a for everyone", "Read the list of user names (usernames, display names and roles)", "Publish live updates on chat.*"}
	if strings.Join(newLines, "|") != strings.Join(want, "|") {
		t.Fatalf("new: %q, want %q", newLines, want)
	}
}

// TestEveryKeyTranslated: every sentence the package's code passes to T
// has its French.
func TestEveryKeyTranslated(t *testing.T) {
	src, err := os.ReadFile("capwords.go")
	if err != nil {
		t.Fatal(err)
	}
	fr := map[string]bool{}
	for _, k := range capwords.Catalog().Keys("fr") {
		fr[k] = true
	}
	keys := regexp.MustCompile(`(?:\.T\(|add\(Kind[A-Za-z]+, |[{\t] ?)"((?:[^"\\]|\\.)*)"[,)]`).FindAllSubmatch(src, -1)
	n := 0
	for _, m := range keys {
		k, err := strconv.Unquote(`"` + string(m[1]) + `"`)
		if err != nil || !strings.Contains(k, " ") && !strings.HasPrefix(k, "every") && !slices.Contains([]string{"members", "staff", "admins"}, k) {
			continue
		}
		n++
		if !fr[k] {
			t.Errorf("no French for %q", k)
		}
	}
	if n < 30 {
		t.Fatalf("found only %d keys in the source: the scan is broken", n)
	}
}

// TestEveryUserActionSaid: each user action a manifest may list has its
// own sentence, in English and French (not the fallback for an unknown
// action), and no two actions read alike.
func TestEveryUserActionSaid(t *testing.T) {
	for _, lang := range []string{"en", "fr"} {
		fallback := capwords.Describe(lang, "m", manifest.Capabilities{UserActions: []string{"unknown"}})[0].Text
		fallback = fallback[:strings.Index(fallback, "unknown")]
		seen := map[string]string{}
		for _, a := range manifest.UserActionList {
			l := capwords.Describe(lang, "m", manifest.Capabilities{UserActions: []string{a}})[0]
			if l.Kind != capwords.KindUsers || strings.HasPrefix(l.Text, fallback) {
				t.Errorf("%s: %s is said as %q (%s)", lang, a, l.Text, l.Kind)
			}
			if other, ok := seen[l.Text]; ok {
				t.Errorf("%s: %s and %s are both said %q", lang, other, a, l.Text)
			}
			seen[l.Text] = a
		}
	}
}

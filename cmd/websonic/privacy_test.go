package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// TestPrivacyCommands runs `websonic privacy retention` and `privacy
// record` in process against a site on its embedded PostgreSQL: the rules
// show, change (audited as the terminal's) and refuse every bad value with
// a clear error, changing nothing; the record reads as a table, JSON and
// CSV, with the rules in force.
func TestPrivacyCommands(t *testing.T) {
	ctx := context.Background()
	data := dataDir(t)
	t.Setenv("WEBSONIC_DATABASE_URL", "")
	cfg := server.Config{DataDir: data}
	srv, err := server.Open(ctx, cfg) // migrates the database
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(ctx)
	console, err := server.OpenConsole(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	site := []string{"--data-dir", data}
	cli := func(args ...string) (string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		err := run(append(args, site...), strings.NewReader(""), &stdout, &stderr)
		if err != nil {
			return err.Error(), err
		}
		return stdout.String(), nil
	}
	want := server.PrivacySettings{EraseGraceDays: 7, AuditDays: 90, IPDays: 30, InactiveMonths: 24}
	for _, st := range []struct {
		args []string
		ok   bool
		out  string
	}{
		{[]string{"privacy", "retention"}, true, "account deletion grace:   14 days\naudit log kept:           no limit (off)\naddresses kept:           no limit (off)\ninactive accounts erased: never (off)\n"},
		{[]string{"privacy", "retention", "--grace-days", "7", "--audit-days", "90", "--ip-days", "30", "--inactive-months", "24"}, true, "saved"},
		{[]string{"privacy", "retention"}, true, "grace:   7 days\naudit log kept:           90 days\naddresses kept:           30 days\ninactive accounts erased: 24 months without a sign-in\n"},
		{[]string{"privacy", "retention", "--audit-days", "0"}, false, "want a positive whole number or off"},
		{[]string{"privacy", "retention", "--ip-days", "-3"}, false, "want a positive whole number or off"},
		{[]string{"privacy", "retention", "--inactive-months", "soon"}, false, "want a positive whole number or off"},
		{[]string{"privacy", "retention", "--grace-days", "off"}, false, "want a whole number of days"},
		{[]string{"privacy", "retention", "--grace-days", "400"}, false, "erase grace must be 0 to 365 days, got 400"},
		{[]string{"privacy", "retention", "--ip-days", "40000", "--grace-days", "1"}, false, "IP address retention must be off (0) or 1 to 36500, got 40000"},
		{[]string{"privacy", "retention", "--inactive-months", "1201"}, false, "inactive accounts must be off (0) or 1 to 1200"},
		{[]string{"privacy", "retention", "30"}, false, "takes no arguments"},
		{[]string{"privacy", "record"}, true, "SOURCE  DATA"},
		{[]string{"privacy", "record"}, true, "30 days after last use"},
		{[]string{"privacy", "record", "--json", "--csv"}, false, "one of --json or --csv"},
		{[]string{"privacy", "record", "extra"}, false, "takes no arguments"},
		{[]string{"admin", "audit", "--action", "privacy.settings"}, true, "terminal  privacy.settings"},
	} {
		t.Run(strings.Join(st.args, " "), func(t *testing.T) {
			got, err := cli(st.args...)
			if (err == nil) != st.ok {
				t.Fatalf("error %v, want ok=%v; output:\n%s", err, st.ok, got)
			}
			if !strings.Contains(got, st.out) {
				t.Errorf("output lacks %q:\n%s", st.out, got)
			}
			ps, err := console.PrivacySettings(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ps.Updated = time.Time{}
			if !st.ok && ps != want {
				t.Errorf("a refused change changed the rules: %+v", ps)
			}
		})
	}

	out, err := cli("privacy", "record", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rec server.ProcessingRecord
	if err := json.Unmarshal([]byte(out), &rec); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	var ipRule string
	for _, a := range rec.Activities {
		if a.Source == "core" && a.Category == "IP addresses" {
			ipRule = a.Retention
		}
	}
	if rec.Format != "websonic-processing-record/1" || len(rec.Activities) < 4 || ipRule != "30 days after last use" {
		t.Errorf("--json: %+v", rec)
	}
	out, err = cli("privacy", "record", "--csv")
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("--csv: %v\n%s", err, out)
	}
	if len(rows) != len(rec.Activities)+1 || strings.Join(rows[0], ",") != "source,version,category,subjects,purpose,retention,fields" ||
		rows[3][2] != "IP addresses" || rows[3][5] != ipRule {
		t.Errorf("--csv:\n%s", out)
	}
}

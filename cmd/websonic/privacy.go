package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/websonic/websonic/runtime/server"
)

// `websonic privacy record|retention`: the site's record of processing
// and the owner's retention rules (server/privacy.go). Both read and
// write the database directly: the runtimes apply the rules at each run
// of their privacy jobs.

func addPrivacyCommands(cmds map[string]commandInfo, siteEnv map[string]string) {
	cmds["privacy record"] = commandInfo{privacyRecord, "[--json|--csv] [flags]", "the site's record of processing: what it keeps about people, why, for how long",
		"The core's own data with the retention rules in force, and each running module's personal_data declaration\n" +
			"(as a runtime last saw it: every few minutes). --json and --csv write it for a file.", siteEnv}
	cmds["privacy retention"] = commandInfo{privacyRetention, "[--grace-days N] [--audit-days N|off] [--ip-days N|off] [--inactive-months N|off] [flags]",
		"show or set the retention rules the runtime applies every night",
		"Without flags, prints the rules. --grace-days: how long a user's account deletion waits (0-365, 14 by default).\n" +
			"--audit-days: delete audit log entries older than N days. --ip-days: forget addresses older than N days.\n" +
			"--inactive-months: erase accounts without a sign-in for N months (admins never). Audited.", siteEnv}
}

func privacyRecord(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "privacy record"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	asJSON := fs.Bool("json", false, "write the record as JSON")
	asCSV := fs.Bool("csv", false, "write the record as CSV")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || (*asJSON && *asCSV) {
		return fmt.Errorf("%s: takes no arguments, and one of --json or --csv (see websonic %s -h)", cmd, cmd)
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	rec, err := console.ProcessingRecord(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	switch {
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rec)
	case *asCSV:
		return rec.WriteCSV(stdout)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tDATA\tWHOSE\tPURPOSE\tKEPT")
	for _, a := range rec.Activities {
		src := a.Source
		if a.Version != "" {
			src += "@" + a.Version
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", termSafe(src), termSafe(a.Category), termSafe(a.Subjects), termSafe(a.Purpose), termSafe(a.Retention))
	}
	return tw.Flush()
}

// ruleFlag is a retention rule on the command line: a number, or "off"
// (zero: 0 too, for the grace period, which is never off).
type ruleFlag struct {
	v    *int
	set  bool
	zero bool
}

func (f *ruleFlag) String() string {
	if f.v == nil || *f.v == 0 {
		return "off"
	}
	return strconv.Itoa(*f.v)
}

func (f *ruleFlag) Set(s string) error {
	if strings.TrimSpace(s) == "off" && !f.zero {
		*f.v, f.set = 0, true
		return nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n == 0 && !f.zero {
		if f.zero {
			return fmt.Errorf("want a whole number of days, got %q", s)
		}
		return fmt.Errorf("want a positive whole number or off, got %q", s)
	}
	*f.v, f.set = n, true
	return nil
}

func privacyRetention(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "privacy retention"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	var ps server.PrivacySettings
	grace := &ruleFlag{v: &ps.EraseGraceDays, zero: true}
	fs.Var(grace, "grace-days", "days a user's account deletion waits, 0-365")
	audit, ips, inactive := &ruleFlag{v: &ps.AuditDays}, &ruleFlag{v: &ps.IPDays}, &ruleFlag{v: &ps.InactiveMonths}
	fs.Var(audit, "audit-days", "delete audit log entries older than N days (off: keep)")
	fs.Var(ips, "ip-days", "forget addresses older than N days (off: keep)")
	fs.Var(inactive, "inactive-months", "erase accounts without a sign-in for N months (off: never)")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%s: takes no arguments (see websonic %s -h)", cmd, cmd)
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	cur, err := console.PrivacySettings(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if grace.set || audit.set || ips.set || inactive.set {
		next := cur
		for _, r := range []struct {
			f  *ruleFlag
			to *int
		}{{grace, &next.EraseGraceDays}, {audit, &next.AuditDays}, {ips, &next.IPDays}, {inactive, &next.InactiveMonths}} {
			if r.f.set {
				*r.to = *r.f.v
			}
		}
		if err := console.SetPrivacySettings(ctx, next); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		cur = next
		fmt.Fprintln(stdout, "saved; the runtime applies the rules every night (03:17 UTC)")
	}
	// A rule that is off keeps everything: say so, not "kept: off".
	rule := func(n int, unit, off string) string {
		if n == 0 {
			return off + " (off)"
		}
		return strconv.Itoa(n) + " " + unit
	}
	fmt.Fprintf(stdout, "account deletion grace:   %d days\naudit log kept:           %s\naddresses kept:           %s\ninactive accounts erased: %s\n",
		cur.EraseGraceDays, rule(cur.AuditDays, "days", "no limit"), rule(cur.IPDays, "days", "no limit"),
		rule(cur.InactiveMonths, "months without a sign-in", "never"))
	return nil
}

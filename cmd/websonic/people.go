package main

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// `websonic user list|sessions|end-session` and `websonic admin audit`:
// what the admin area's Users and Audit log pages show and do, from the
// terminal (server.Console).

func addPeopleCommands(cmds map[string]commandInfo, siteEnv map[string]string) {
	cmds["user list"] = commandInfo{userList, "[--search TEXT] [--role ROLE] [--state STATE] [--sort ORDER] [--page N] [flags]",
		"list and search the site's users, with their roles, state and when last seen",
		"--search matches anywhere in the username, display name or e-mail address, in any case.", siteEnv}
	cmds["user sessions"] = commandInfo{userSessions, "USER [flags]", "list a user's live sessions and the addresses they came from",
		"Each session's ID is what `websonic user end-session` takes.", siteEnv}
	cmds["user end-session"] = commandInfo{userEndSession, "USER ID|--all [flags]", "end one of a user's sessions, or all of them",
		"The user's next request with that session is signed out, and its realtime connections close; running runtimes apply it at once.", siteEnv}
	cmds["admin audit"] = commandInfo{adminAudit, "[--action ACTION] [--actor WHO] [--subject S] [--since DATE] [--until DATE] [--limit N] [flags]",
		"show the audit log, newest first: who did what, when, from which address",
		"--action is an action (user.ban) or a prefix ending in a dot (user.); --actor a username, terminal or module:NAME;\n" +
			"--since and --until are dates (2024-01-31, both included). --before ID pages on from an entry's ID.", siteEnv}
}

func userList(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "user list"
	var search, role, state, sort *string
	var pageNo, limit *int
	_, open, err := userCommand(cmd, args, 0, "no argument: websonic user list [--search TEXT]", stdout, stderr, func(fs *flagSet) {
		search = fs.String("search", "", "only users whose username, display name or e-mail contains this")
		role = fs.String("role", "", "only holders of this role: admin, staff or auditor")
		state = fs.String("state", "", "only accounts in this state: active, banned or suspended")
		sort = fs.String("sort", "name", "order: name, created (newest first) or seen (most recently seen first)")
		pageNo = fs.Int("page", 1, "which page of the list")
		limit = fs.Int("limit", 50, "users per page (at most 200)")
	})
	if err != nil {
		return err
	}
	if *pageNo < 1 || *limit < 1 {
		return fmt.Errorf("%s: --page and --limit start at 1", cmd)
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.done()
	users, total, err := r.ListUsers(r.ctx, server.UserQuery{Search: *search, Role: server.Role(*role), State: server.UserState(*state),
		Sort: server.UserSort(*sort), Offset: (*pageNo - 1) * *limit, Limit: *limit})
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tNAME\tE-MAIL\tROLES\tSTATE\tCREATED\tLAST SEEN")
	for _, u := range users {
		st := "active"
		switch u.State() {
		case server.StateBanned:
			st = "banned"
		case server.StateSuspended:
			st = "suspended until " + u.SuspendedUntil.Local().Format(time.DateTime)
		}
		seen := "never"
		if !u.LastSeen.IsZero() {
			seen = u.LastSeen.Local().Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Username, termSafe(u.DisplayName), termSafe(orDash(u.Email)), strings.Join(u.Roles(), ","), st,
			u.Created.Local().Format(time.DateTime), seen)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	from := (*pageNo-1)**limit + 1
	if len(users) == 0 {
		fmt.Fprintf(stdout, "no user on this page (%d match)\n", total)
		return nil
	}
	fmt.Fprintf(stdout, "users %d to %d of %d\n", from, from+len(users)-1, total)
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func userSessions(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "user sessions"
	pos, open, err := userCommand(cmd, args, 1, "a username: websonic user sessions USER", stdout, stderr, nil)
	if err != nil {
		return err
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.done()
	sessions, addrs, err := r.Sessions(r.ctx, pos[0])
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if len(sessions) == 0 {
		fmt.Fprintf(tw, "%s has no live session\n", pos[0])
	} else {
		fmt.Fprintln(tw, "ID\tWHERE\tSIGNED IN\tENDS")
		for _, s := range sessions {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.ID, s.Area, s.Started.Local().Format(time.DateTime), s.Expires.Local().Format(time.DateTime))
		}
	}
	if len(addrs) > 0 {
		fmt.Fprintln(tw, "\nADDRESS\tFIRST SEEN\tLAST SEEN")
		for _, a := range addrs {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Prefix, a.First.Local().Format(time.DateTime), a.Last.Local().Format(time.DateTime))
		}
	}
	return tw.Flush()
}

func userEndSession(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "user end-session"
	var all *bool
	pos, open, err := userCommand(cmd, args, -1, "", stdout, stderr, func(fs *flagSet) {
		all = fs.Bool("all", false, "end every session of the user")
	})
	if err != nil {
		return err
	}
	switch {
	case *all && len(pos) == 1:
		return withConsole(cmd, open, func(r *consoleRun) (string, error) {
			n, err := r.EndSessions(r.ctx, pos[0])
			return fmt.Sprintf("ended %d session(s) of %s", n, pos[0]), err
		})
	case !*all && len(pos) == 2:
		return withConsole(cmd, open, func(r *consoleRun) (string, error) {
			return "ended session " + pos[1] + " of " + pos[0], r.EndSession(r.ctx, pos[0], pos[1])
		})
	}
	return fmt.Errorf("%s: want a username and a session ID (websonic user sessions USER lists them), or USER --all (see websonic %s -h)", cmd, cmd)
}

func adminAudit(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin audit"
	var action, actor, subject, since, until *string
	var before *int64
	var limit *int
	var asJSON *bool
	_, open, err := userCommand(cmd, args, 0, "no argument: websonic admin audit [--action user.ban]", stdout, stderr, func(fs *flagSet) {
		action = fs.String("action", "", "only this action (user.ban), or actions starting with a prefix ending in a dot (user.)")
		actor = fs.String("actor", "", "only what this one did: a username, terminal or module:NAME")
		subject = fs.String("subject", "", "only what was done to this: a username, a module, an address")
		since = fs.String("since", "", "from this date on (YYYY-MM-DD, local time)")
		until = fs.String("until", "", "up to this date, included (YYYY-MM-DD, local time)")
		before = fs.Int64("before", 0, "only entries older than the entry of this ID (the next page)")
		limit = fs.Int("limit", 50, "at most this many entries (1 to 500)")
		asJSON = fs.Bool("json", false, "print one JSON object per entry")
	})
	if err != nil {
		return err
	}
	q := server.AuditQuery{Action: *action, Actor: *actor, Subject: *subject, Before: *before, Limit: *limit}
	for _, d := range []struct {
		flag, s string
		into    *time.Time
		next    bool
	}{{"--since", *since, &q.Since, false}, {"--until", *until, &q.Until, true}} {
		if d.s == "" {
			continue
		}
		t, err := time.ParseInLocation(time.DateOnly, d.s, time.Local)
		if err != nil {
			return fmt.Errorf("%s: %s %q: want a date such as 2024-01-31", cmd, d.flag, d.s)
		}
		if d.next {
			t = t.AddDate(0, 0, 1)
		}
		*d.into = t
	}
	if q.Limit < 1 || q.Limit > 500 {
		return fmt.Errorf("%s: --limit is 1 to 500", cmd)
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.done()
	entries, err := r.AuditLog(r.ctx, q)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, e := range entries {
			if err := enc.Encode(map[string]any{"id": e.ID, "at": e.At, "actor_id": e.ActorID, "actor": e.Actor, "action": e.Action,
				"subject": e.Subject, "detail": json.RawMessage(e.Detail)}); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWHEN\tWHO\tACTION\tSUBJECT\tFROM\tDETAIL")
	for _, e := range entries {
		var d map[string]any
		json.Unmarshal([]byte(e.Detail), &d) //nolint:errcheck // the database holds JSON objects
		who := e.Actor
		if who == "" {
			if by, _ := d["by"].(string); by != "" {
				who = by
			} else if e.ActorID != 0 {
				who = fmt.Sprintf("user:%d", e.ActorID)
			} else {
				who = "system"
			}
		}
		ip, _ := d["ip"].(string)
		var rest []string
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range d {
				if !yield(k) {
					return
				}
			}
		}) {
			if k != "ip" && k != "by" && k != "user_id" {
				rest = append(rest, termSafe(fmt.Sprintf("%s=%v", k, d[k])))
			}
		}
		// The subject may be what anyone typed at a failed sign-in, the
		// details what a module or an admin wrote: inert on the terminal.
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", e.ID, e.At.Local().Format(time.DateTime), termSafe(who), termSafe(e.Action),
			termSafe(orDash(e.Subject)), termSafe(orDash(ip)),
			strings.Join(rest, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(entries) == q.Limit {
		fmt.Fprintf(stdout, "older entries: --before %d\n", entries[len(entries)-1].ID)
	}
	return nil
}

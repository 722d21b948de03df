package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// The owner's user commands: `websonic admin ban|unban|suspend|block-ip|
// unblock-ip|password|role|user` act on the site's database through the
// console (server.Console); running runtimes react through the user events
// they record. `websonic data-key rotate` adds a data key (package privacy).

// addUserCommands adds the user and data key commands to cmds.
func addUserCommands(cmds map[string]commandInfo, siteEnv map[string]string) {
	keyEnv := map[string]string{"WEBSONIC_SITE_KEY": "the site's data keys (ID:BASE64,…), instead of --data-dir's data-keys.json"}
	serve := cmds["serve"]
	serve.env = keyEnv
	cmds["serve"] = serve
	const running = "Acts on the site in --data-dir or --database-url, running or not; running runtimes apply it at once."
	cmds["admin user"] = commandInfo{adminUser, "USER [flags]", "show a user's account: roles, ban, suspension", "", siteEnv}
	cmds["admin ban"] = commandInfo{adminBan, "USER [--reason TEXT] [flags]", "ban a user: sessions end, sign-in and their addresses refused",
		running + "\nThe addresses the user came from are refused at sign-in and registration while the ban lasts.", siteEnv}
	cmds["admin unban"] = commandInfo{adminUnban, "USER [flags]", "lift a user's ban", running, siteEnv}
	cmds["admin suspend"] = commandInfo{adminSuspend, "USER DURATION|--lift [--reason TEXT] [flags]", "suspend a user for a while (e.g. 2h, 7d), or lift it",
		running + "\nDURATION is a Go duration (90m, 2h) or a number of days or weeks (7d, 2w).", siteEnv}
	cmds["admin block-ip"] = commandInfo{adminBlockIP, "ADDRESS|CIDR [--for DURATION] [--reason TEXT] [flags] | --list", "refuse every request from an address or network",
		running + "\nIPv4 or IPv6, an address or a prefix such as 203.0.113.0/24; without --for the block lasts until unblock-ip.", siteEnv}
	cmds["admin unblock-ip"] = commandInfo{adminUnblockIP, "ADDRESS|CIDR [flags]", "lift a block (exactly the prefix given)", running, siteEnv}
	cmds["admin password"] = commandInfo{adminPassword, "USER [flags]", "set a user's password: all their sessions end", running,
		map[string]string{"WEBSONIC_USER_PASSWORD": "the new password" + passwordHelp}}
	cmds["admin role"] = commandInfo{adminRole, "USER grant|revoke ROLE [flags]", "grant or remove a role: admin, staff or auditor",
		running + "\nAn auditor reads, and changes nothing: the admin area's dashboard, audit log and system logs, and the audit log at\n" +
			"/account/audit on the site. The last admin keeps admin.", siteEnv}
	addUserDataCommands(cmds, siteEnv)
	addPrivacyCommands(cmds, siteEnv) // privacy.go
	addBackupCommands(cmds)           // backup.go
	addPeopleCommands(cmds, siteEnv)
	addSettingsCommands(cmds, siteEnv) // sitesettings.go
	cmds["data-key rotate"] = commandInfo{dataKeyRotate, "[flags]", "add a data key: new seals use it, older values still open",
		"Writes the new key into --data-dir's data-keys.json (mode 0600) and its check value into the database. Copy the\n" +
			"file to every replica on another machine. Keys from WEBSONIC_SITE_KEY are rotated by hand: add an entry ID:BASE64\n" +
			"with a higher id (a key: `openssl rand -base64 32`) on every replica, keeping the older entries.", keyEnv}
}

// userCommand parses a user command's flags and wants exactly n
// positional arguments (described by want); it returns them and the
// site's console.
func userCommand(cmd string, args []string, n int, want string, stdout, stderr io.Writer, register func(*flagSet)) ([]string, func() (*consoleRun, error), error) {
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	if register != nil {
		register(fs)
	}
	pos, err := fs.parseArgs(args)
	if err != nil {
		return nil, nil, err
	}
	if n >= 0 && len(pos) != n {
		return nil, nil, fmt.Errorf("%s: want %s (see websonic %s -h)", cmd, want, cmd)
	}
	open := func() (*consoleRun, error) {
		ctx, console, done, err := c.openSite(cmd, stderr)
		if err != nil {
			return nil, err
		}
		return &consoleRun{ctx: ctx, Console: console, done: done, out: stdout}, nil
	}
	return pos, open, nil
}

// consoleRun is an open console for one command.
type consoleRun struct {
	*server.Console
	ctx  context.Context
	done func()
	out  io.Writer
}

func adminUser(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin user"
	pos, open, err := userCommand(cmd, args, 1, "a username: websonic admin user USER", stdout, stderr, nil)
	if err != nil {
		return err
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.done()
	u, err := r.User(r.ctx, pos[0])
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "user:\t%s (id %d)\n", u.Username, u.ID)
	fmt.Fprintf(tw, "display name:\t%s\n", u.DisplayName)
	fmt.Fprintf(tw, "roles:\t%s\n", strings.Join(u.Roles(), ", "))
	fmt.Fprintf(tw, "created:\t%s\n", u.Created.Local().Format(time.DateTime))
	switch {
	case u.Banned:
		fmt.Fprintf(tw, "status:\tBANNED by %s: %s\n", u.BannedBy, orNone(u.BanReason))
	case !u.SuspendedUntil.IsZero():
		fmt.Fprintf(tw, "status:\tsuspended until %s: %s\n", u.SuspendedUntil.Local().Format(time.DateTime), orNone(u.SuspendReason))
	default:
		fmt.Fprintf(tw, "status:\tactive\n")
	}
	return tw.Flush()
}

func orNone(s string) string {
	if s == "" {
		return "(no reason given)"
	}
	return s
}

func adminBan(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin ban"
	var reason *string
	pos, open, err := userCommand(cmd, args, 1, "a username: websonic admin ban USER [--reason TEXT]", stdout, stderr, func(fs *flagSet) {
		reason = fs.String("reason", "", "why, for the audit log (at most 500 characters)")
	})
	if err != nil {
		return err
	}
	return withConsole(cmd, open, func(r *consoleRun) (string, error) {
		return fmt.Sprintf("banned %s: their sessions ended; they and the addresses they used cannot sign in or register until `websonic admin unban %s`", pos[0], pos[0]),
			r.Ban(r.ctx, pos[0], *reason)
	})
}

func adminUnban(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin unban"
	pos, open, err := userCommand(cmd, args, 1, "a username: websonic admin unban USER", stdout, stderr, nil)
	if err != nil {
		return err
	}
	return withConsole(cmd, open, func(r *consoleRun) (string, error) {
		return "lifted the ban of " + pos[0], r.Unban(r.ctx, pos[0])
	})
}

func adminSuspend(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin suspend"
	var reason *string
	var lift *bool
	pos, open, err := userCommand(cmd, args, -1, "", stdout, stderr, func(fs *flagSet) {
		reason = fs.String("reason", "", "why, for the audit log and the user's sign-in message… (at most 500 characters)")
		lift = fs.Bool("lift", false, "lift the user's suspension now")
	})
	if err != nil {
		return err
	}
	if *lift && len(pos) == 1 {
		return withConsole(cmd, open, func(r *consoleRun) (string, error) {
			return "lifted the suspension of " + pos[0], r.Unsuspend(r.ctx, pos[0])
		})
	}
	if len(pos) != 2 || *lift {
		return fmt.Errorf("%s: want a username and a duration: websonic admin suspend USER 7d (or USER --lift) (see websonic %s -h)", cmd, cmd)
	}
	d, err := parseLongDuration(pos[1])
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	until := time.Now().Add(d)
	return withConsole(cmd, open, func(r *consoleRun) (string, error) {
		return fmt.Sprintf("suspended %s until %s: their sessions ended", pos[0], until.Local().Format(time.DateTime)),
			r.Suspend(r.ctx, pos[0], until, *reason)
	})
}

func adminBlockIP(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin block-ip"
	var reason, forS *string
	var list *bool
	pos, open, err := userCommand(cmd, args, -1, "", stdout, stderr, func(fs *flagSet) {
		reason = fs.String("reason", "", "why, for the audit log (at most 500 characters)")
		forS = fs.String("for", "", "how long (e.g. 12h, 30d); empty: until unblock-ip")
		list = fs.Bool("list", false, "list the blocks in force instead")
	})
	if err != nil {
		return err
	}
	if *list {
		if len(pos) != 0 {
			return fmt.Errorf("%s: --list takes no address", cmd)
		}
		r, err := open()
		if err != nil {
			return err
		}
		defer r.done()
		blocks, err := r.IPBlocks(r.ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "PREFIX\tUNTIL\tBY\tREASON")
		for _, b := range blocks {
			until := "unblocked"
			if !b.Until.IsZero() {
				until = b.Until.Local().Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", b.Prefix, until, b.CreatedBy, b.Reason)
		}
		return tw.Flush()
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s: want an address or prefix: websonic admin block-ip 203.0.113.0/24 [--for 30d] (see websonic %s -h)", cmd, cmd)
	}
	var until time.Time
	if *forS != "" {
		d, err := parseLongDuration(*forS)
		if err != nil {
			return fmt.Errorf("%s: --for: %w", cmd, err)
		}
		until = time.Now().Add(d)
	}
	return withConsole(cmd, open, func(r *consoleRun) (string, error) {
		msg := "blocked " + pos[0] + " until `websonic admin unblock-ip " + pos[0] + "`"
		if !until.IsZero() {
			msg = "blocked " + pos[0] + " until " + until.Local().Format(time.DateTime)
		}
		return msg + "; running runtimes refuse it within seconds", r.BlockIP(r.ctx, pos[0], until, *reason)
	})
}

func adminUnblockIP(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin unblock-ip"
	pos, open, err := userCommand(cmd, args, 1, "an address or prefix: websonic admin unblock-ip 203.0.113.0/24", stdout, stderr, nil)
	if err != nil {
		return err
	}
	return withConsole(cmd, open, func(r *consoleRun) (string, error) {
		return "lifted the block of " + pos[0], r.UnblockIP(r.ctx, pos[0])
	})
}

func adminPassword(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin password"
	pos, open, err := userCommand(cmd, args, 1, "a username: websonic admin password USER", stdout, stderr, nil)
	if err != nil {
		return err
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.done()
	if _, err := r.User(r.ctx, pos[0]); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	password, err := readPassword(stdin, stderr, "WEBSONIC_USER_PASSWORD", cmd)
	if err != nil {
		return err
	}
	if err := r.SetPassword(r.ctx, pos[0], password); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintf(stdout, "set the password of %s; all their sessions ended\n", pos[0])
	return nil
}

func adminRole(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin role"
	const want = "a username, grant or revoke, and a role: websonic admin role USER grant auditor"
	pos, open, err := userCommand(cmd, args, 3, want, stdout, stderr, nil)
	if err != nil {
		return err
	}
	role := server.Role(pos[2])
	var f func(r *consoleRun) error
	switch pos[1] {
	case "grant":
		f = func(r *consoleRun) error { return r.GrantRole(r.ctx, pos[0], role) }
	case "revoke":
		f = func(r *consoleRun) error { return r.RevokeRole(r.ctx, pos[0], role) }
	default:
		return fmt.Errorf("%s: want %s", cmd, want)
	}
	return withConsole(cmd, open, func(r *consoleRun) (string, error) {
		if err := f(r); err != nil {
			return "", err
		}
		u, err := r.User(r.ctx, pos[0])
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s now holds: %s", u.Username, strings.Join(u.Roles(), ", ")), nil
	})
}

func dataKeyRotate(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "data-key rotate"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	if err := fs.parse(args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	cfg := c.config(log.Named("cli"))
	cfg.SiteKey = env("WEBSONIC_SITE_KEY", "")
	id, err := server.RotateDataKey(ctx, cfg)
	if errors.Is(err, server.ErrNoSite) {
		return fmt.Errorf("%s: no site in %s: %s", cmd, c.where(), c.noSiteHint())
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintf(stdout, "added data key %d: running runtimes seal with it within seconds; copy %s/data-keys.json to replicas on other machines, and back it up\n", id, c.dataDir)
	return nil
}

// withConsole opens the console, runs f and prints its message.
func withConsole(cmd string, open func() (*consoleRun, error), f func(r *consoleRun) (string, error)) error {
	r, err := open()
	if err != nil {
		return err
	}
	defer r.done()
	msg, err := f(r)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintln(r.out, msg)
	return nil
}

// parseLongDuration reads a Go duration, or whole days or weeks ("7d",
// "2w"); it must be positive.
func parseLongDuration(s string) (time.Duration, error) {
	var d time.Duration
	var err error
	switch {
	case strings.HasSuffix(s, "d"), strings.HasSuffix(s, "w"):
		var n int
		n, err = strconv.Atoi(s[:len(s)-1])
		unit := 24 * time.Hour
		if strings.HasSuffix(s, "w") {
			unit *= 7
		}
		d = time.Duration(n) * unit
	default:
		d, err = time.ParseDuration(s)
	}
	if err != nil || d <= 0 || d > 100*365*24*time.Hour {
		return 0, fmt.Errorf("%q: want a duration such as 90m, 12h, 7d or 2w", s)
	}
	return d, nil
}

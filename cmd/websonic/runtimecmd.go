package main

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"

	"github.com/websonic/websonic/internal/buildinfo"
	"github.com/websonic/websonic/runtime/server"
)

// addRuntimeCommands adds `websonic runtime status|update|policy`: the
// runtime binary's own updates (package updater's runtime.go).
func addRuntimeCommands(cmds map[string]commandInfo, siteEnv map[string]string) {
	cmds["runtime status"] = commandInfo{runtimeStatus, "[flags]", "the runtime's version, self-update policy, channel, available release and recent events", "", siteEnv}
	cmds["runtime update"] = commandInfo{runtimeRequest(server.RuntimeUpdate), "[VERSION] [flags]",
		"install a newer runtime release (default: the newest on the channel) and restart into it",
		"A running runtime that can replace itself (Linux, --database-url, its binary writable; see `websonic serve -h`) takes\n" +
			"the request: the release is verified against the signed metadata, written beside its binary, checked to run, put\n" +
			"in place (the old one kept as websonic.previous) and restarted into without a failed request. A new binary that\n" +
			"does not become ready is replaced by the old one, which serves on. Never an older or equal version.", siteEnv}
	cmds["runtime policy"] = commandInfo{runtimeRequest(server.RuntimePolicy), "--policy POLICY|--channel CHANNEL [flags]",
		"set the site's runtime update policy (auto, notify, pinned, or default: each runtime's --self-update) and channel", "", siteEnv}
}

func runtimeStatus(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "runtime status"
	ctx, console, events, done, err := openListing(cmd, "runtime update", args, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	st, evs, err := console.Runtime(ctx, events)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	policy := string(st.Policy)
	if policy == "" {
		policy = "each runtime's --self-update (default notify)"
	}
	fmt.Fprintf(stdout, "this binary:  websonic %s %s/%s\n", buildinfo.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(stdout, "policy:       %s\nchannel:      %s\n", policy, st.Channel)
	line := func(name, v string) {
		if v != "" {
			fmt.Fprintf(stdout, "%-13s %s\n", name+":", v)
		}
	}
	line("updated to", st.CurrentVersion)
	line("previous", st.PreviousVersion)
	line("available", st.AvailableVersion)
	line("in progress", st.PendingVersion)
	if len(st.Refused) > 0 {
		line("refused", strings.Join(st.Refused, ", ")+" (not installed again unless asked: websonic runtime update VERSION)")
	}
	if len(evs) > 0 {
		fmt.Fprintln(stdout, "\nrecent runtime update events:")
		for _, e := range evs {
			fmt.Fprintf(stdout, "  %s  %-11s %s→%s %s\n", e.At.Format(time.DateTime), e.Outcome, e.From, e.To, e.Reason)
		}
	}
	return nil
}

// runtimeRequest sends a runtime request through the site's request
// queue, as `websonic theme policy` does, and prints the answer.
func runtimeRequest(action string) command {
	return func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
		cmd := "runtime update"
		if action == server.RuntimePolicy {
			cmd = "runtime policy"
		}
		fs := newFlagSet(cmd, stdout, stderr)
		var c common
		c.register(fs.FlagSet, "warn")
		var channel, policy *string
		if action == server.RuntimePolicy {
			channel = fs.String("channel", "", "release channel to follow: stable or beta (not given: unchanged)")
			policy = fs.String("policy", "", "auto installs new releases and restarts into them, notify records them, pinned ignores them, default follows each runtime's --self-update (not given: unchanged)")
		}
		wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the runtime's answer; a request no runtime took by then is cancelled")
		rest, err := fs.parseArgs(args)
		if err != nil {
			return err
		}
		r := server.ModuleRequest{Action: action, Module: "websonic"}
		switch {
		case action == server.RuntimeUpdate && len(rest) == 1:
			r.Version = strings.TrimPrefix(rest[0], "websonic@")
		case len(rest) > 0:
			return fmt.Errorf("%s: unexpected argument %q (see websonic %s -h)", cmd, rest[0], cmd)
		}
		if channel != nil {
			r.Channel, r.Policy = *channel, *policy
			if r.Channel == "" && r.Policy == "" {
				return errors.New("runtime policy: give --policy, --channel or both")
			}
		}
		return c.sendRequest(cmd, r, *wait, stdout, stderr)
	}
}

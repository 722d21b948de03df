package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/websonic/websonic/runtime/server"
)

// moduleRequest is `websonic module install|rollback|approve|policy`: a
// request that a runtime serving the site carries out (any replica). With
// no runtime answering, nothing is queued; see server.Console.Request.
func moduleRequest(action string) command {
	return func(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
		cmd := "module " + action
		fs := newFlagSet(cmd, stdout, stderr)
		var c common
		c.register(fs.FlagSet, "warn")
		var channel, policy *string
		if action == "install" || action == "policy" {
			defChannel, defPolicy := "(default: stable)", "(default: auto)"
			if action == "policy" {
				defChannel, defPolicy = "(not given: unchanged)", "(not given: unchanged)"
			}
			channel = fs.String("channel", "", "release channel to follow: stable or beta "+defChannel)
			policy = fs.String("policy", "", "updates: auto installs them, notify records them, pinned ignores them "+defPolicy)
		}
		var yes *bool
		if action == "install" || action == "approve" {
			yes = fs.Bool("yes", false, "approve what the release asks for without asking (for scripts; needed without a terminal)")
		}
		wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the runtime's answer; a request no runtime took by then is cancelled")
		refs, err := fs.parseArgs(args)
		if err != nil {
			return err
		}
		if len(refs) != 1 {
			return fmt.Errorf("%s: want one module name: websonic %s %s", cmd, cmd, commands[cmd].args)
		}
		r := server.ModuleRequest{Action: action, Module: refs[0]}
		if action == "install" {
			var at bool
			r.Module, r.Version, at = strings.Cut(refs[0], "@")
			if r.Module == "" || at && r.Version == "" {
				return fmt.Errorf("%s: %q: want NAME or NAME@VERSION", cmd, refs[0])
			}
		} else if strings.Contains(refs[0], "@") {
			return fmt.Errorf("%s: want a module name without a version, not %q", cmd, refs[0])
		}
		if channel != nil {
			r.Channel, r.Policy = *channel, *policy
		}
		if action == "policy" && r.Channel == "" && r.Policy == "" {
			return errors.New("module policy: give --policy, --channel or both")
		}
		ctx, console, done, err := c.openSite(cmd, stderr)
		if err != nil {
			return err
		}
		defer done()
		opts := server.RequestOptions{Wait: *wait, Progress: progress(stderr)}
		if yes != nil {
			p, err := console.Preview(ctx, r, opts)
			if err != nil {
				return c.requestError(cmd, err)
			}
			showPreview(stdout, action, p)
			if !*yes {
				if err := confirm(stdin, stderr, isTerminal(stdin), fmt.Sprintf("%s %s@%s and grant it all of the above?", action, p.Module, p.Version)); err != nil {
					return fmt.Errorf("%s: %w: nothing was changed", cmd, err)
				}
			}
			r.Digest = p.Digest // exactly the release shown, or nothing
		}
		result, err := console.Request(ctx, r, opts)
		if err != nil {
			return c.requestError(cmd, err)
		}
		fmt.Fprintln(stdout, result)
		return nil
	}
}

// requestError tells what became of a request that did not succeed.
func (c *common) requestError(cmd string, err error) error {
	if errors.Is(err, server.ErrNoRuntime) {
		return fmt.Errorf("%s: no runtime is answering module requests on the site in %s (it does not run, or is still "+
			"starting its modules): nothing was queued; start it (`websonic serve`; `make run` or `make run-local` in development; "+
			"module install, rollback, approve and policy need `--registry URL --trusted-root root.json`), wait for its "+
			"\"answering module requests\" log line and send the request again",
			cmd, c.where())
	}
	return fmt.Errorf("%s: %w", cmd, err)
}

// progress prints a request's progress on w.
func progress(w io.Writer) func(server.RequestState) {
	start := time.Now()
	return func(st server.RequestState) {
		took := time.Since(start).Round(time.Second)
		what := st.Request.Action + " " + st.Request.Module
		if st.Request.Version != "" {
			what += "@" + st.Request.Version
		}
		if st.Request.Command != "" {
			what += " " + st.Request.Command
		}
		if st.Request.DryRun {
			what = "what " + what + " would do"
		}
		switch {
		case st.Status == "pending":
			fmt.Fprintf(w, "request %d queued: %s (%d runtime(s) answering requests)… %s\n", st.ID, what, st.Listeners, took)
		case st.Status == "running" && st.TakerAlive:
			fmt.Fprintf(w, "request %d taken by the runtime on database session %d: %s… %s\n", st.ID, st.TakenBy, what, took)
		case st.Status == "running":
			fmt.Fprintf(w, "request %d: the runtime that took it (session %d) is no longer connected; waiting… %s\n", st.ID, st.TakenBy, took)
		}
	}
}

func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// errNotConfirmed: the owner did not confirm (or could not be asked).
var errNotConfirmed = errors.New("not confirmed")

// confirm asks question on a terminal and wants yes; without one it
// refuses: approving capabilities takes a person or --yes.
func confirm(stdin io.Reader, stderr io.Writer, terminal bool, question string) error {
	if !terminal {
		return fmt.Errorf("%w: no terminal to ask on; pass --yes to approve what it asks for", errNotConfirmed)
	}
	fmt.Fprintf(stderr, "%s [y/N] ", question)
	line, _ := bufio.NewReader(stdin).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return nil
	}
	return errNotConfirmed
}

func moduleList(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "module list"
	ctx, console, events, done, err := openListing(cmd, "update", args, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	ins, evs, err := console.Installed(ctx, events)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tVERSION\tPREVIOUS\tCHANNEL\tPOLICY\tSTAGED")
	for _, in := range ins {
		staged := in.StagedVersion
		if staged != "" {
			staged += " (" + in.StagedReason + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", in.Name, in.Version, in.PreviousVersion, in.Channel, in.Policy, staged)
	}
	tw.Flush()
	if len(evs) > 0 {
		fmt.Fprintln(stdout, "\nrecent update events:")
		for _, e := range evs {
			fmt.Fprintf(stdout, "  %s  %-11s %s %s→%s %s\n", e.At.Format(time.DateTime), e.Outcome, e.Module, e.From, e.To, e.Reason)
		}
	}
	if st, err := console.Storage(ctx); err == nil {
		printStorage(stdout, st)
	}
	if js, err := console.Jobs(ctx, 1); err == nil && len(js) > 0 {
		fmt.Fprintf(stdout, "\nscheduled jobs: %d (`websonic jobs` shows their runs)\n", len(js))
	}
	if n, err := console.Listeners(ctx); err == nil {
		fmt.Fprintf(stdout, "\nruntimes answering module requests: %d\n", n)
	}
	return nil
}

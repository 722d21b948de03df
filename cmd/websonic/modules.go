package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// moduleRequest is `websonic module install|rollback|approve|policy`: a
// request the running runtime carries out (any replica; with none
// running it waits in the database for the next start).
func moduleRequest(action string) command {
	return func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
		cmd := "module " + action
		fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
		fs.SetOutput(stderr)
		var c common
		c.register(fs)
		var channel, policy *string
		if action == "install" || action == "policy" {
			channel = fs.String("channel", "", "release channel to follow: stable (default) or beta")
			policy = fs.String("policy", "", "updates: auto (default) installs them, notify records them, pinned ignores them")
		}
		wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the runtime's answer")
		refs, err := parseInterspersed(fs, args)
		if err != nil {
			return err
		}
		if len(refs) != 1 {
			return fmt.Errorf("%s: want one module name", cmd)
		}
		r := server.ModuleRequest{Action: action, Module: refs[0]}
		if action == "install" {
			r.Module, r.Version, _ = strings.Cut(refs[0], "@")
		} else if strings.Contains(refs[0], "@") {
			return fmt.Errorf("%s: want a module name without a version", cmd)
		}
		if channel != nil {
			r.Channel, r.Policy = *channel, *policy
		}
		if action == "policy" && r.Channel == "" && r.Policy == "" {
			return errors.New("module policy: give --policy, --channel or both")
		}
		log, err := c.logger(stderr)
		if err != nil {
			return err
		}
		ctx, stop := signalContext()
		defer stop()
		result, err := server.Request(ctx, server.Config{DataDir: c.dataDir, DatabaseURL: c.databaseURL, Logger: log.Named("cli")}, r, *wait)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		fmt.Fprintln(stdout, result)
		return nil
	}
}

func moduleList(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("module list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c common
	c.register(fs)
	events := fs.Int("events", 10, "how many recent update events to show")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log, err := c.logger(stderr)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	ins, evs, err := server.Installed(ctx, server.Config{DataDir: c.dataDir, DatabaseURL: c.databaseURL, Logger: log.Named("cli")}, *events)
	if err != nil {
		return fmt.Errorf("module list: %w", err)
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
	return nil
}

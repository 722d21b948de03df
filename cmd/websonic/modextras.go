package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// addModuleExtrasCommands adds `websonic module enable|disable|config`.
func addModuleExtrasCommands(commands map[string]commandInfo, siteEnv map[string]string) {
	commands["module enable"] = commandInfo{moduleToggle(true), "NAME [flags]", "enable a module the owner disabled: its pages and links are back at once",
		"Acts on the site in --data-dir or --database-url, running or not: every running runtime applies it at once, with no\n" +
			"restart, and a runtime that starts later reads it. Audited.", siteEnv}
	commands["module disable"] = commandInfo{moduleToggle(false), "NAME [flags]", "disable a module: its pages answer 404, its links, jobs, commands and realtime stop",
		"The module keeps its data, grants and settings, and keeps running unrouted: `websonic module enable NAME` brings it\n" +
			"back as it was. Every running runtime applies it at once; a runtime that starts later reads it. Audited.", siteEnv}
	commands["module config"] = commandInfo{moduleConfig, "NAME [key=value…] [flags]", "show or change a module's settings (its config_schema)",
		"Without key=value, shows each setting: its type, the value you gave, the default and the description. key=value\n" +
			"sets a setting (checked against its type by a runtime serving the site); key= unsets it (its default applies).\n" +
			"Every runtime applies new settings at once, with no restart. Audited (the keys, not the values).", siteEnv}
}

func moduleToggle(enable bool) func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	return func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
		cmd := "module disable"
		if enable {
			cmd = "module enable"
		}
		fs := newFlagSet(cmd, stdout, stderr)
		var c common
		c.register(fs.FlagSet, "warn")
		pos, err := fs.parseArgs(args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			return fmt.Errorf("%s: which module? websonic %s NAME (see websonic %s -h)", cmd, cmd, cmd)
		}
		ctx, console, done, err := c.openSite(cmd, stderr)
		if err != nil {
			return err
		}
		defer done()
		changed, err := console.SetModuleEnabled(ctx, pos[0], enable, terminalActor())
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		state := "disabled: its pages answer 404 and its links, jobs, commands and realtime topics are off; its data is kept"
		if enable {
			state = "enabled: its pages and links are back"
		}
		if !changed {
			fmt.Fprintf(stdout, "%s was already %s\n", pos[0], strings.SplitN(state, ":", 2)[0])
			return nil
		}
		fmt.Fprintf(stdout, "%s is %s\n", pos[0], state)
		return nil
	}
}

func moduleConfig(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "module config"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	asJSON := fs.Bool("json", false, "print the settings as JSON (for scripts)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the runtime's answer")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fmt.Errorf("%s: which module? websonic %s NAME [key=value…] (see websonic %s -h)", cmd, cmd, cmd)
	}
	set := map[string]*string{}
	for _, kv := range pos[1:] {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return fmt.Errorf("%s: %q: want key=value (or key= to unset)", cmd, kv)
		}
		if v == "" {
			set[k] = nil
		} else {
			set[k] = &v
		}
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	res, err := console.ModuleConfig(ctx, pos[0], set, terminalActor(), server.RequestOptions{Wait: *wait, Progress: slowProgress(stderr, 2*time.Second)})
	if err != nil {
		return c.requestError(cmd, err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	if len(res.Schema) == 0 {
		fmt.Fprintf(stdout, "%s has no settings\n", res.Module)
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tTYPE\tVALUE\tDEFAULT\tDESCRIPTION")
	for _, k := range slices.Sorted(maps.Keys(res.Schema)) {
		it := res.Schema[k]
		val := "-"
		if v, ok := res.Values[k]; ok {
			val = string(v)
		}
		def := "-"
		if len(it.Default) > 0 {
			def = string(it.Default)
		} else if it.Required {
			def = "(required)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", k, it.Type, val, def, it.Description)
	}
	return tw.Flush()
}

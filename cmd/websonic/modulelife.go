package main

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// `websonic module uninstall|export|available`: requests that a runtime
// serving the site carries out (any replica), as the admin area's.

func moduleUninstall(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "module uninstall"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	yes := fs.Bool("yes", false, "do not ask to type the module's name (for scripts)")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the runtime's answer")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s: want one module name: websonic %s NAME", cmd, cmd)
	}
	name := pos[0]
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	d, err := console.ModuleData(ctx, name)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintf(stdout, "uninstalling %s deletes for good:\n  - its routes and navigation links\n  - its database schema %s and its tables: %s\n  - its database role %s\n",
		name, d.Schema, termSafe(tableList(d.Tables)), d.Role)
	fmt.Fprintf(stdout, "(`websonic module export %s` saves its data first)\n", name)
	if !*yes {
		if !isTerminal(stdin) {
			return fmt.Errorf("%s: no terminal to ask on; pass --yes to uninstall: nothing was changed", cmd)
		}
		fmt.Fprintf(stderr, "type the module's name to confirm: ")
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != name {
			return fmt.Errorf("%s: not confirmed: nothing was changed", cmd)
		}
	}
	res, err := console.Uninstall(ctx, name, server.RequestOptions{Wait: *wait, Progress: progress(stderr)})
	if err != nil {
		return c.requestError(cmd, err)
	}
	fmt.Fprintln(stdout, res)
	return nil
}

func tableList(xs []string) string {
	if len(xs) == 0 {
		return "(none)"
	}
	return strings.Join(xs, ", ")
}

func moduleExport(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "module export"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	out := fs.String("o", "", "write the archive here (default: NAME-data.zip; - for standard output)")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the runtime's answer")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s: want one module name: websonic %s NAME", cmd, cmd)
	}
	name := pos[0]
	if *out == "" {
		*out = name + "-data.zip"
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	toFile, err := writeArchive(*out, stdout, func(w io.Writer) error {
		return console.ExportModule(ctx, name, w, server.RequestOptions{Wait: *wait, Progress: progress(stderr)})
	})
	if err != nil {
		return c.requestError(cmd, err)
	}
	if toFile {
		fmt.Fprintf(stderr, "wrote %s\n", *out)
	}
	return nil
}

func moduleAvailable(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "module available"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	wait := fs.Duration("wait", time.Minute, "how long to wait for the runtime's answer")
	if err := fs.parse(args); err != nil {
		return err
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	offers, err := console.Available(ctx, server.RequestOptions{Wait: *wait})
	if err != nil {
		return c.requestError(cmd, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tVERSIONS\tDESCRIPTION")
	for _, o := range offers {
		var vs []string
		for _, v := range o.Versions {
			vs = append(vs, v.Version+" ("+string(v.Channel)+")")
		}
		// The registry's words are the publishers': inert on the terminal.
		fmt.Fprintf(tw, "%s\t%s\t%s\n", termSafe(o.Module), termSafe(strings.Join(vs, ", ")), termSafe(o.Description))
	}
	return tw.Flush()
}

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	cmdresult "github.com/websonic/websonic/internal/commands"
	"github.com/websonic/websonic/runtime/server"
)

// execCommand is `websonic exec [flags] MODULE [COMMAND [value…] [--arg value…]]`:
// a module's admin command, run by a runtime serving the site (any
// replica, through the request queue: server.Console.Exec), or the list
// of the module's commands. The command's own arguments follow COMMAND,
// so websonic's flags go before MODULE.
func execCommand(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "exec"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	asJSON := fs.Bool("json", false, "print the result as JSON: {\"text\": …} or {\"columns\": […], \"rows\": [[…]]} (for scripts)")
	wait := fs.Duration("wait", 2*time.Minute, "how long to wait for the runtime's answer; a request no runtime took by then is cancelled")
	var out bytes.Buffer
	fs.SetOutput(&out)
	if err := fs.FlagSet.Parse(args); errors.Is(err, flag.ErrHelp) {
		fs.printUsage(stdout)
		return errHelp
	} else if err != nil {
		return fmt.Errorf("%s: %w (websonic's flags go before MODULE; see websonic %s -h)", cmd, err, cmd)
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return fmt.Errorf("%s: which module? websonic exec MODULE [COMMAND [value…] [--arg value…]] (websonic exec MODULE lists its commands)", cmd)
	}
	module := rest[0]
	var command string
	var values map[string]string
	var positional []string
	if len(rest) > 1 {
		command = rest[1]
		var err error
		if positional, values, err = commandArgs(rest[2:]); err != nil {
			return fmt.Errorf("%s: %s %s: %w", cmd, module, command, err)
		}
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	opts := server.RequestOptions{Wait: *wait, Progress: slowProgress(stderr, 2*time.Second)}
	if command == "" {
		forms, err := console.CommandsOf(ctx, module, opts)
		if err != nil {
			return c.requestError(cmd, err)
		}
		if *asJSON {
			return json.NewEncoder(stdout).Encode(forms)
		}
		printCommands(stdout, module, forms)
		return nil
	}
	if len(positional) > 0 {
		forms, err := console.CommandsOf(ctx, module, opts)
		if err != nil {
			return c.requestError(cmd, err)
		}
		if err := namePositional(forms, command, positional, values); err != nil {
			return fmt.Errorf("%s: %s %s: %w", cmd, module, command, err)
		}
	}
	res, err := console.Exec(ctx, module, command, values, terminalActor(), opts)
	if err != nil {
		// The command's arguments follow COMMAND: a websonic flag there
		// went to the module (its error comes back as text).
		for name := range values {
			if fs.Lookup(name) != nil && !errors.Is(err, server.ErrNoRuntime) {
				return fmt.Errorf("%s: %w (if --%s was meant for websonic, put it before MODULE: websonic exec --%s %s %s …)",
					cmd, err, name, name, module, command)
			}
		}
		return c.requestError(cmd, err)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(res)
	}
	printResult(stdout, res)
	return nil
}

// commandArgs reads a command's arguments: first positional ones (values
// in the order the command declares its arguments: websonic exec chat ban
// alice), then --name value, --name=value, or a bare --name (true, for a
// boolean).
func commandArgs(args []string) (positional []string, values map[string]string, err error) {
	values = map[string]string{}
	for len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		positional = append(positional, args[0])
		args = args[1:]
	}
	for i := 0; i < len(args); i++ {
		name, ok := strings.CutPrefix(args[i], "--")
		if !ok || name == "" {
			return nil, nil, fmt.Errorf("want arguments as --name value, not %q (positional arguments come first)", args[i])
		}
		value := "true"
		if k, v, eq := strings.Cut(name, "="); eq {
			name, value = k, v
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			value = args[i+1]
			i++
		}
		if _, dup := values[name]; dup {
			return nil, nil, fmt.Errorf("--%s given twice", name)
		}
		values[name] = value
	}
	return positional, values, nil
}

// namePositional gives the positional values the names of command's
// arguments, in the order forms declare them, into values. An unknown
// command is left to the runtime to refuse, with the commands it has.
func namePositional(forms []server.CommandForm, command string, positional []string, values map[string]string) error {
	i := slices.IndexFunc(forms, func(f server.CommandForm) bool { return f.Name == command })
	if i < 0 {
		return nil
	}
	args := forms[i].Args
	if len(positional) > len(args) {
		names := make([]string, len(args))
		for j, a := range args {
			names[j] = "--" + a.Name
		}
		return fmt.Errorf("%s takes %d arguments (%s), not %d", command, len(args), strings.Join(names, ", "), len(positional))
	}
	for j, v := range positional {
		name := args[j].Name
		if _, dup := values[name]; dup {
			return fmt.Errorf("--%s given twice", name)
		}
		values[name] = v
	}
	return nil
}

// terminalActor names the owner at the terminal for the audit log.
func terminalActor() string {
	name := os.Getenv("SUDO_USER")
	if name == "" {
		if u, err := user.Current(); err == nil {
			name = u.Username
		}
	}
	if name == "" {
		return "terminal"
	}
	return "terminal (" + name + ")"
}

// slowProgress shows a request's progress once it has taken longer than
// after: a command normally answers at once.
func slowProgress(w io.Writer, after time.Duration) func(server.RequestState) {
	start := time.Now()
	show := progress(w)
	return func(st server.RequestState) {
		if time.Since(start) >= after {
			show(st)
		}
	}
}

// printResult prints text as it is and a table aligned in columns, made
// safe for the terminal (cmdresult.Printable).
func printResult(w io.Writer, res *server.CommandResult) {
	if !res.IsTable() {
		text := cmdresult.Printable(res.Text)
		if text != "" && !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		io.WriteString(w, text)
		return
	}
	cell := func(s string) string {
		return strings.NewReplacer("\n", " ", "\t", " ").Replace(cmdresult.Printable(s))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, col := range res.Columns {
		if i > 0 {
			io.WriteString(tw, "\t")
		}
		io.WriteString(tw, strings.ToUpper(cell(col)))
	}
	io.WriteString(tw, "\n")
	for _, row := range res.Rows {
		for i, v := range row {
			if i > 0 {
				io.WriteString(tw, "\t")
			}
			io.WriteString(tw, cell(cmdresult.Cell(v)))
		}
		io.WriteString(tw, "\n")
	}
	tw.Flush()
	if len(res.Rows) == 1 {
		fmt.Fprintln(w, "(1 row)")
	} else {
		fmt.Fprintf(w, "(%d rows)\n", len(res.Rows))
	}
}

// printCommands lists a module's commands with their arguments.
func printCommands(w io.Writer, module string, forms []server.CommandForm) {
	if len(forms) == 0 {
		fmt.Fprintf(w, "%s declares no admin commands\n", module)
		return
	}
	fmt.Fprintf(w, "admin commands of %s (websonic exec %s COMMAND [value…] [--arg value…]; values without a name in the order shown):\n", module, module)
	for _, f := range forms {
		fmt.Fprintf(w, "\n  %s", f.Name)
		if f.Description != "" {
			fmt.Fprintf(w, ": %s", cmdresult.Printable(f.Description))
		}
		fmt.Fprintln(w)
		for _, a := range f.Args {
			line := fmt.Sprintf("    --%s %s", a.Name, a.Type)
			switch {
			case a.Required:
				line += " (required)"
			case len(a.Default) > 0:
				line += " (default " + string(a.Default) + ")"
			}
			if a.Description != "" {
				line += "  " + cmdresult.Printable(a.Description)
			}
			fmt.Fprintln(w, line)
		}
	}
}

// jobsList is `websonic jobs`: the site's scheduled jobs, their next and
// last runs (server.Console.Jobs).
func jobsList(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "jobs"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	history := fs.Int("history", 0, "also show each job's newest runs, up to this many")
	if err := fs.parse(args); err != nil {
		return err
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	js, err := console.Jobs(ctx, max(*history, 1))
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if len(js) == 0 {
		fmt.Fprintln(stdout, "no scheduled jobs: no module the site has run declares any (capabilities.schedules)")
		return nil
	}
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format("2006-01-02 15:04")
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MODULE\tJOB\tSCHEDULE (UTC)\tNEXT RUN\tLAST RUN\tDURATION\tRESULT")
	for _, j := range js {
		last, took, result := "never", "-", "-"
		if r := j.Last(); r != nil {
			last, took, result = when(r.Tick), r.Duration.Round(time.Millisecond).String(), runResult(*r)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", j.Module, j.Job, j.Cron, when(j.Next), last, took, result)
	}
	tw.Flush()
	if *history > 0 {
		for _, j := range js {
			fmt.Fprintf(stdout, "\n%s/%s:\n", j.Module, j.Job)
			if len(j.Runs) == 0 {
				fmt.Fprintln(stdout, "  no runs yet")
			}
			for _, r := range j.Runs {
				fmt.Fprintf(stdout, "  %s  %-8s %s\n", when(r.Tick), r.Duration.Round(time.Millisecond), runResult(r))
			}
		}
	}
	return nil
}

func runResult(r server.JobRun) string {
	s := r.Status
	if r.Error != "" {
		msg := strings.NewReplacer("\n", " ", "\t", " ").Replace(cmdresult.Printable(r.Error))
		if r := []rune(msg); len(r) > 120 {
			msg = string(r[:120]) + "…" // whole characters, never half of one
		}
		s += ": " + msg
	}
	return s
}

package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// flagSet is a command's flags: a flag.FlagSet whose help (-h) goes to
// stdout with the command's arguments, description and environment
// variables, and whose flags may take a default from an environment
// variable (fromEnv).
type flagSet struct {
	*flag.FlagSet
	cmd            string
	stdout, stderr io.Writer
	env            map[string]string // flag name → environment variable (fromEnv)
}

func newFlagSet(cmd string, stdout, stderr io.Writer) *flagSet {
	f := &flagSet{FlagSet: flag.NewFlagSet(cmd, flag.ContinueOnError), cmd: cmd, stdout: stdout, stderr: stderr, env: map[string]string{}}
	f.Usage = func() { f.printUsage(f.Output()) }
	return f
}

// fromEnv makes the environment variable env the default of flag name
// when the command line does not give it; parse checks its value like the
// flag's own.
func (f *flagSet) fromEnv(name, env string) { f.env[name] = env }

// envRE finds the environment variables a flag's help names.
var envRE = regexp.MustCompile(`\bWEBSONIC_[A-Z0-9_]+\b`)

func (f *flagSet) printUsage(w io.Writer) {
	envs := map[string]string{}
	f.VisitAll(func(fl *flag.Flag) {
		for _, e := range envRE.FindAllString(fl.Usage, -1) {
			envs[e] = "same as --" + fl.Name
		}
		if e, ok := f.env[fl.Name]; ok {
			envs[e] = "same as --" + fl.Name
		}
	})
	printHeader(w, f.cmd, envs)
	f.SetOutput(w)
	f.PrintDefaults()
}

// printHeader prints the start of command cmd's help: its arguments, what
// it does, the environment variables it reads (envs, from its flags, and
// its own), and the heading of its flags.
func printHeader(w io.Writer, cmd string, envs map[string]string) {
	info := commands[cmd]
	fmt.Fprintf(w, "usage: websonic %s %s\n\n%s\n", cmd, info.args, info.help)
	if info.about != "" {
		fmt.Fprintf(w, "\n%s\n", info.about)
	}
	if envs == nil {
		envs = map[string]string{}
	}
	for e, what := range info.env {
		envs[e] = what
	}
	if len(envs) > 0 {
		names := make([]string, 0, len(envs))
		for e := range envs {
			names = append(names, e)
		}
		sort.Strings(names)
		fmt.Fprintln(w, "\nenvironment:")
		for _, e := range names {
			fmt.Fprintf(w, "  %-34s %s\n", e, envs[e])
		}
	}
	fmt.Fprintln(w, "\nflags:")
}

// errHelp is a command's -h: its usage went to stdout; the command
// succeeds.
var errHelp = flag.ErrHelp

// parse parses args, which must be flags only.
func (f *flagSet) parse(args []string) error {
	rest, err := f.parseArgs(args)
	if err != nil {
		return err
	}
	if len(rest) > 0 {
		return fmt.Errorf("%s: unexpected argument %q (see websonic %s -h)", f.cmd, rest[0], f.cmd)
	}
	return nil
}

// parseArgs parses flags that may come before or after the positional
// arguments, which it returns. -h prints the usage to stdout and returns
// errHelp; a bad flag or environment variable is an error naming it.
func (f *flagSet) parseArgs(args []string) ([]string, error) {
	var out bytes.Buffer
	f.SetOutput(&out)
	pos, err := parseInterspersed(f.FlagSet, args)
	if errors.Is(err, flag.ErrHelp) {
		f.printUsage(f.stdout)
		return nil, errHelp
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w (see websonic %s -h)", f.cmd, err, f.cmd)
	}
	set := map[string]bool{}
	f.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	names := make([]string, 0, len(f.env))
	for name := range f.env {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		v, ok := os.LookupEnv(f.env[name])
		if !ok || set[name] {
			continue
		}
		if err := f.Set(name, v); err != nil {
			return nil, fmt.Errorf("%s: %s=%q: %w", f.cmd, f.env[name], v, err)
		}
	}
	return pos, nil
}

// parseInterspersed parses flags that may come before or after the
// positional arguments, which it returns.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for rest := args; ; rest = fs.Args()[1:] {
		if err := fs.Parse(rest); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
	}
}

// groupUsage lists the verbs of a command group ("module", "keys"…).
func groupUsage(group string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: websonic %s VERB [arguments] [flags]\n\nverbs:\n", group)
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	for _, n := range commandNames() {
		if g, verb, ok := strings.Cut(n, " "); ok && g == group {
			fmt.Fprintf(tw, "  %s %s\t%s\n", verb, commands[n].args, commands[n].help)
		}
	}
	tw.Flush()
	fmt.Fprintf(&b, "\nwebsonic %s VERB -h shows a verb's arguments, flags and environment variables.\n", group)
	return b.String()
}

func isGroup(name string) bool {
	for _, n := range commandNames() {
		if strings.HasPrefix(n, name+" ") {
			return true
		}
	}
	return false
}

func isHelp(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help" || arg == "help"
}

package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/websonic/websonic/internal/bytesize"
	"github.com/websonic/websonic/runtime/server"
)

// moduleQuota is `websonic module quota NAME SIZE|default`: a module's own
// storage quota (server.Console.SetStorageQuota).
func moduleQuota(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "module quota"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fmt.Errorf("%s: want a module and a size: websonic module quota NAME SIZE (e.g. 2GiB, or default) (see websonic %s -h)", cmd, cmd)
	}
	name := pos[0]
	var size int64
	if pos[1] != "default" {
		if size, err = bytesize.Parse(pos[1]); err != nil || size <= 0 {
			return fmt.Errorf("%s: size %q: want a positive size such as 500MiB or 2GiB, or default", cmd, pos[1])
		}
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	if err := console.SetStorageQuota(ctx, name, size); err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	if size == 0 {
		fmt.Fprintf(stdout, "%s's storage quota is the site's default again; running runtimes apply it within seconds\n", name)
	} else {
		fmt.Fprintf(stdout, "%s's storage quota is %s; running runtimes apply it within seconds\n", name, bytesize.Format(size))
	}
	return nil
}

// printStorage writes the modules' storage for `module list`.
func printStorage(w io.Writer, st []server.ModuleStorage) {
	if len(st) == 0 {
		return
	}
	fmt.Fprintln(w, "\nstorage:")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  MODULE\tUSED\tQUOTA\tSTATE\tCHECKED")
	var suspended []string
	for _, s := range st {
		quota, checked := "not checked yet", "never"
		if s.Quota > 0 {
			quota = bytesize.Format(s.Quota)
			if s.Own == 0 {
				quota += " (default)"
			}
		}
		if !s.Checked.IsZero() {
			checked = s.Checked.Local().Format(time.DateTime)
		}
		state := s.State
		if state == "exceeded" {
			state = "EXCEEDED: database suspended"
			suspended = append(suspended, s.Module)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", s.Module, bytesize.Format(s.Used), quota, state, checked)
	}
	tw.Flush()
	for _, m := range suspended {
		fmt.Fprintf(w, "%s used more than its quota: its database access is suspended until you raise it (websonic module quota %s SIZE)\n", m, m)
	}
}

// sizeFlag is a flag holding a size in bytes (bytesize.Parse).
type sizeFlag struct{ v *int64 }

func (f sizeFlag) String() string {
	if f.v == nil {
		return "0"
	}
	return strconv.FormatInt(*f.v, 10)
}

func (f sizeFlag) Set(s string) error {
	n, err := bytesize.Parse(s)
	if err != nil {
		return fmt.Errorf("%q: want a size such as 512MiB or 2GiB", s)
	}
	*f.v = n
	return nil
}

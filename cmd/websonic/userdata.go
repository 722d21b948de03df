package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// `websonic user export|erase`: a user's personal data, which modules hold
// too, so both go to a running runtime through the request queue
// (server.Console.ExportUser, EraseUser).

func addUserDataCommands(cmds map[string]commandInfo, siteEnv map[string]string) {
	cmds["user export"] = commandInfo{userExport, "USER [-o FILE] [flags]", "export everything the site keeps about a user into one zip archive",
		"A running runtime collects the core's data (account, roles, sessions, addresses, audit entries) and each module's\n" +
			"(modules/NAME.json), with a manifest.json listing them; a module that fails is named there. -o - writes to stdout.", siteEnv}
	cmds["user erase"] = commandInfo{userErase, "USER [--yes] [flags]", "erase a user: modules delete their part, the account is anonymised",
		"A running runtime asks every module to erase the user's data first; if one fails, nothing of the account changes\n" +
			"(run it again). Then the account keeps only its id. It asks you to type the username (--yes for scripts).", siteEnv}
}

func userExport(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "user export"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	out := fs.String("o", "", "write the archive here (default: USER-data.zip; - for standard output)")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the runtime's answer; a request no runtime took by then is cancelled")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s: want a username: websonic user export USER [-o FILE] (see websonic %s -h)", cmd, cmd)
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
	var incomplete string
	toFile, err := writeArchive(*out, stdout, func(w io.Writer) (err error) {
		incomplete, err = console.ExportUser(ctx, name, w, server.RequestOptions{Wait: *wait, Progress: slowProgress(stderr, 2*time.Second)})
		return err
	})
	if err != nil {
		return c.requestError(cmd, err)
	}
	if toFile {
		fmt.Fprintf(stdout, "wrote %s's data to %s (mode 0600)\n", name, *out)
	}
	if incomplete != "" {
		return fmt.Errorf("%s: the archive is incomplete: %s", cmd, incomplete)
	}
	return nil
}

// writeArchive writes an archive with write into the new file out (mode
// 0600, never over an existing file), or to stdout for "-"; a file left
// incomplete by an error is removed. toFile says whether it went to a file.
func writeArchive(out string, stdout io.Writer, write func(io.Writer) error) (toFile bool, err error) {
	if out == "-" {
		return false, write(stdout)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return false, fmt.Errorf("%s exists already: pick another file (it is never overwritten)", out)
	}
	if err != nil {
		return false, err // names the file
	}
	err = write(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(out)
	}
	return true, err
}

func userErase(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "user erase"
	fs := newFlagSet(cmd, stdout, stderr)
	var c common
	c.register(fs.FlagSet, "warn")
	yes := fs.Bool("yes", false, "do not ask for the username to confirm (scripts)")
	wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the runtime's answer; a request no runtime took by then is cancelled")
	pos, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%s: want a username: websonic user erase USER [--yes] (see websonic %s -h)", cmd, cmd)
	}
	name := pos[0]
	if !*yes {
		if !isTerminal(stdin) {
			return fmt.Errorf("%s: %w: no terminal to ask on; pass --yes to erase %s", cmd, errNotConfirmed, name)
		}
		fmt.Fprintf(stderr, "This erases %s for good: their data in every module, then their account. Type the username to confirm: ", name)
		line, _ := bufio.NewReader(stdin).ReadString('\n')
		if strings.TrimSpace(line) != name {
			return fmt.Errorf("%s: %w", cmd, errNotConfirmed)
		}
	}
	ctx, console, done, err := c.openSite(cmd, stderr)
	if err != nil {
		return err
	}
	defer done()
	res, err := console.EraseUser(ctx, name, server.RequestOptions{Wait: *wait, Progress: slowProgress(stderr, 2*time.Second)})
	if err != nil {
		if errors.Is(err, errNotConfirmed) {
			return err
		}
		return c.requestError(cmd, err)
	}
	fmt.Fprintln(stdout, res)
	return nil
}

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/websonic/websonic/internal/ocipkg"
	"github.com/websonic/websonic/internal/tufrepo"
	"github.com/websonic/websonic/runtime/server"
)

// addThemeCommands adds `websonic theme …`: the publisher's build,
// publish and revoke, and the owner's install, rollback, policy,
// uninstall and list (through the site's request queue, as `websonic
// module …`).
func addThemeCommands(cmds map[string]commandInfo, siteEnv map[string]string) {
	keyEnv := map[string]string{"WEBSONIC_KEY_PASSWORD": "the keys' password" + passwordHelp}
	cmds["theme build"] = commandInfo{themeBuild, "DIR --out LAYOUT [flags]", "pack a theme folder into an OCI artifact",
		"DIR holds theme.json, the .html templates and assets/ (.css, images, fonts, .json: no scripts).", nil}
	cmds["theme publish"] = commandInfo{themePublish, "DIR [flags]", "push a theme to the registry and sign its release",
		"The token needs the scope theme:NAME (`websonic registry token --themes NAME`).", keyEnv}
	cmds["theme revoke"] = commandInfo{themeRevoke, "NAME@VERSION [flags]", "revoke a theme release: runtimes move off it", "", keyEnv}
	cmds["theme install"] = commandInfo{themeRequest(server.ThemeInstall), "NAME[@VERSION] [flags]", "install a theme from the registry",
		"The running site (any runtime on the site's database) downloads, verifies and validates it; a theme that fails\n" +
			"is refused with its reason and the installed version stays. Choosing the active theme is a site setting.", siteEnv}
	cmds["theme rollback"] = commandInfo{themeRequest(server.ThemeRollback), "NAME [flags]", "return a theme to its previous, older version",
		"Pins the theme at that version until the next `websonic theme install NAME`.", siteEnv}
	cmds["theme policy"] = commandInfo{themeRequest(server.ThemePolicy), "NAME --policy POLICY|--channel CHANNEL [flags]",
		"set a theme's update policy (auto, notify, pinned) and channel", "", siteEnv}
	cmds["theme uninstall"] = commandInfo{themeRequest(server.ThemeUninstall), "NAME [flags]", "remove an installed theme (not the active one)", "", siteEnv}
	cmds["theme list"] = commandInfo{themeList, "[flags]", "installed themes and their recent update events", "", siteEnv}
}

func themeBuild(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("theme build", stdout, stderr)
	out := fs.String("out", "", "OCI image layout folder to write (created if needed): required")
	dirs, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(dirs) != 1 || *out == "" {
		return errors.New("theme build: want one theme folder and --out: websonic theme build DIR --out LAYOUT")
	}
	th, err := checkTheme(dirs[0])
	if err != nil {
		return fmt.Errorf("theme build: %w", err)
	}
	ctx, stop := signalContext()
	defer stop()
	desc, err := ocipkg.PackTheme(ctx, dirs[0], *out)
	if err != nil {
		return fmt.Errorf("theme build: %w", err)
	}
	fmt.Fprintf(stdout, "theme %s@%s: %s in %s\n", th.Meta.Name, th.Meta.Version, desc.Digest, *out)
	return nil
}

// checkTheme reads a theme folder and validates it as runtimes will
// (the format, then server.ValidateTheme: what every site checks).
func checkTheme(dir string) (*ocipkg.Theme, error) {
	th, err := ocipkg.ReadTheme(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if err := server.ValidateTheme(th.FS()); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return th, nil
}

func themePublish(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "theme publish"
	fs := newFlagSet(cmd, stdout, stderr)
	var p publisherFlags
	p.register(fs.FlagSet)
	channel := fs.String("channel", env("WEBSONIC_CHANNEL", "stable"), "release channel: stable or beta (WEBSONIC_CHANNEL)")
	dirs, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	if len(dirs) != 1 {
		return errors.New("theme publish: want exactly one theme folder: websonic theme publish DIR --keys KEYS")
	}
	if _, err := checkTheme(dirs[0]); err != nil { // the author's error, before the registry is contacted
		return fmt.Errorf("%s: %w", cmd, err)
	}
	pub, err := p.publisher(stdin, stderr, cmd, true)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	rel, err := pub.PublishTheme(ctx, dirs[0], tufrepo.Channel(*channel), server.ValidateTheme)
	if err != nil {
		return p.registryError(cmd, err)
	}
	fmt.Fprintf(stdout, "published %s on %s (%s)\n", rel, rel.Channel, rel.ManifestDigest)
	return nil
}

func themeRevoke(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "theme revoke"
	fs := newFlagSet(cmd, stdout, stderr)
	var p publisherFlags
	p.register(fs.FlagSet)
	refs, err := fs.parseArgs(args)
	if err != nil {
		return err
	}
	name, version, ok := "", "", false
	if len(refs) == 1 {
		name, version, ok = strings.Cut(refs[0], "@")
	}
	if !ok || name == "" || version == "" {
		return errors.New("theme revoke: want NAME@VERSION")
	}
	pub, err := p.publisher(stdin, stderr, cmd, true)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	if err := pub.RevokeTheme(ctx, name, version); err != nil {
		return p.registryError(cmd, err)
	}
	fmt.Fprintf(stdout, "revoked theme %s@%s: runtimes move off it at their next check\n", name, version)
	return nil
}

// themeRequest is `websonic theme install|rollback|policy|uninstall`: a
// request that a runtime serving the site carries out (any replica).
func themeRequest(action string) command {
	verb := strings.TrimPrefix(action, "theme_")
	return func(args []string, _ io.Reader, stdout, stderr io.Writer) error {
		cmd := "theme " + verb
		fs := newFlagSet(cmd, stdout, stderr)
		var c common
		c.register(fs.FlagSet, "warn")
		var channel, policy *string
		if action == server.ThemeInstall || action == server.ThemePolicy {
			defChannel, defPolicy := "(default: stable)", "(default: auto)"
			if action == server.ThemePolicy {
				defChannel, defPolicy = "(not given: unchanged)", "(not given: unchanged)"
			}
			channel = fs.String("channel", "", "release channel to follow: stable or beta "+defChannel)
			policy = fs.String("policy", "", "updates: auto installs them, notify records them, pinned ignores them "+defPolicy)
		}
		wait := fs.Duration("wait", 5*time.Minute, "how long to wait for the runtime's answer; a request no runtime took by then is cancelled")
		refs, err := fs.parseArgs(args)
		if err != nil {
			return err
		}
		if len(refs) != 1 {
			return fmt.Errorf("%s: want one theme name: websonic %s %s", cmd, cmd, commands[cmd].args)
		}
		r := server.ModuleRequest{Action: action, Module: refs[0]}
		if action == server.ThemeInstall {
			var at bool
			r.Module, r.Version, at = strings.Cut(refs[0], "@")
			if r.Module == "" || at && r.Version == "" {
				return fmt.Errorf("%s: %q: want NAME or NAME@VERSION", cmd, refs[0])
			}
		} else if strings.Contains(refs[0], "@") {
			return fmt.Errorf("%s: want a theme name without a version, not %q", cmd, refs[0])
		}
		if channel != nil {
			r.Channel, r.Policy = *channel, *policy
		}
		if action == server.ThemePolicy && r.Channel == "" && r.Policy == "" {
			return errors.New("theme policy: give --policy, --channel or both")
		}
		return c.sendRequest(cmd, r, *wait, stdout, stderr)
	}
}

func themeList(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "theme list"
	ctx, console, events, done, err := openListing(cmd, "theme update", args, stdout, stderr)
	if err != nil {
		return err
	}
	defer done()
	ts, evs, err := console.Themes(ctx, events)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "THEME\tVERSION\tPREVIOUS\tCHANNEL\tPOLICY\tAVAILABLE\tDESCRIPTION")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Version, t.PreviousVersion, t.Channel, t.Policy, t.AvailableVersion, t.Description)
	}
	tw.Flush()
	if len(evs) > 0 {
		fmt.Fprintln(stdout, "\nrecent theme update events:")
		for _, e := range evs {
			fmt.Fprintf(stdout, "  %s  %-11s %s %s→%s %s\n", e.At.Format(time.DateTime), e.Outcome, e.Module, e.From, e.To, e.Reason)
		}
	}
	return nil
}

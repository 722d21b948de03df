package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/websonic/websonic/runtime/server"
)

// addSettingsCommands adds `websonic admin settings`: the admin area's
// Site settings and Themes pages, from a terminal.
func addSettingsCommands(cmds map[string]commandInfo, siteEnv map[string]string) {
	cmds["admin settings"] = commandInfo{adminSettings,
		"[--name NAME] [--accent #RRGGBB|none] [--language auto|en|fr] [--theme NAME] [--logo FILE|--remove-logo] [flags]",
		"show or change the site's name, accent colour, language, theme and logo",
		"Without flags it shows the settings. Acts on the site in --data-dir or --database-url, running or not; running\n" +
			"runtimes apply a change at once. --theme takes builtin, a bundled theme (harbor, meadow) or one installed with\n" +
			"`websonic theme install`; the logo is a PNG, JPEG or WebP image of at most 512 KiB (SVG is refused). The accent\n" +
			"colour must keep text readable on white (contrast at least 4.5:1). Audited.", siteEnv}
}

func adminSettings(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "admin settings"
	var name, accent, language, themeName, logo *string
	var removeLogo *bool
	var flags *flagSet
	_, open, err := userCommand(cmd, args, 0, "no arguments but flags", stdout, stderr, func(fs *flagSet) {
		flags = fs
		name = fs.String("name", "", "the site's name, shown on every page")
		accent = fs.String("accent", "", "the accent colour, #rrggbb (none: the theme's own)")
		language = fs.String("language", "", "the site's language: auto (each visitor's browser), en or fr")
		themeName = fs.String("theme", "", "the active theme")
		logo = fs.String("logo", "", "a file holding the new logo (PNG, JPEG or WebP)")
		removeLogo = fs.Bool("remove-logo", false, "remove the logo")
	})
	if err != nil {
		return err
	}
	// Only the flags given change anything (an empty --name clears it).
	set := map[string]bool{}
	flags.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var ch server.SettingsChange
	changed := false
	if set["name"] {
		ch.Name, changed = name, true
	}
	if set["accent"] {
		a := *accent
		if a == "none" {
			a = ""
		}
		ch.Accent, changed = &a, true
	}
	if set["language"] {
		ch.Language, changed = language, true
	}
	if set["theme"] {
		ch.Theme, changed = themeName, true
	}
	if set["logo"] && *removeLogo {
		return fmt.Errorf("%s: --logo and --remove-logo together", cmd)
	}
	if set["logo"] {
		b, err := os.ReadFile(*logo)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		ch.Logo, changed = &b, true
	}
	if *removeLogo {
		var none []byte
		ch.Logo, changed = &none, true
	}
	r, err := open()
	if err != nil {
		return err
	}
	defer r.done()
	if changed {
		if err := r.UpdateSettings(r.ctx, ch); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
	}
	st, err := r.Settings(r.ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "name:\t%s\n", orDefault(st.Name, "(the default: Web Sonic)"))
	fmt.Fprintf(tw, "accent:\t%s\n", orDefault(st.Accent, "(the theme's own)"))
	fmt.Fprintf(tw, "language:\t%s\n", st.Language)
	fmt.Fprintf(tw, "theme:\t%s\n", st.Theme)
	if st.Logo != nil {
		fmt.Fprintf(tw, "logo:\t%s, %d bytes\n", st.LogoType, len(st.Logo))
	} else {
		fmt.Fprintf(tw, "logo:\t(none)\n")
	}
	if !st.UpdatedAt.IsZero() {
		fmt.Fprintf(tw, "changed:\t%s\n", st.UpdatedAt.Local().Format(time.DateTime))
	}
	return tw.Flush()
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

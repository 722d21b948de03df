package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/release"
)

// addReleaseBuildCommands registers `websonic release build|publish`: the
// runtime's own releases (issue 13, `make release`).
func addReleaseBuildCommands(cmds map[string]commandInfo) {
	cmds["release build"] = commandInfo{releaseBuild, "--version VERSION [flags]",
		"build the runtime's release: reproducible static binaries, SHA256SUMS and the container image (OCI layout)",
		"Run from the repository (make release does). Writes --out (which must not exist or be empty):\n" +
			"websonic-VERSION-linux-ARCH, SHA256SUMS, release.json and oci/, an OCI image layout of the image index tagged\n" +
			"VERSION. The same source, version, commit, SOURCE_DATE_EPOCH and Go give the same bytes.",
		map[string]string{"SOURCE_DATE_EPOCH": "the image's creation time, seconds since 1970 (make release: the commit's time)"}}
}

func releaseBuild(args []string, _ io.Reader, stdout, stderr io.Writer) error {
	const cmd = "release build"
	fs := newFlagSet(cmd, stdout, stderr)
	version := fs.String("version", "", "the release's semantic version, e.g. 1.2.3 or 1.3.0-beta.1: required")
	commit := fs.String("commit", "", "the source commit written into the binaries and the image's labels (make release: git rev-parse HEAD)")
	out := fs.String("out", "dist", "the folder to write the release into; must not exist or be empty")
	platforms := fs.String("platforms", strings.Join(release.DefaultPlatforms(), ","), "comma-separated os/arch list")
	if err := fs.parse(args); err != nil {
		return err
	}
	if *version == "" {
		return fmt.Errorf("%s: --version is required", cmd)
	}
	var epoch int64
	if s := env("SOURCE_DATE_EPOCH", ""); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%s: SOURCE_DATE_EPOCH=%q: want seconds since 1970", cmd, s)
		}
		epoch = n
	}
	ctx, stop := signalContext()
	defer stop()
	log := hclog.New(&hclog.LoggerOptions{Name: "release", Output: stderr, Level: hclog.Info})
	m, err := release.Build(ctx, release.Config{
		Version: *version, Commit: *commit, Platforms: strings.Split(*platforms, ","), OutDir: *out,
		SourceDateEpoch: epoch, Logger: log,
	})
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	fmt.Fprintf(stdout, "websonic %s in %s\n", m.Version, *out)
	for _, b := range m.Binaries {
		fmt.Fprintf(stdout, "  %-12s %s  %d bytes  sha256 %s\n", b.Platform, b.File, b.Size, b.SHA256)
	}
	fmt.Fprintf(stdout, "  image        %s/%s (tag %s)  index %s\n", *out, m.Image.Layout, m.Image.Tag, m.Image.IndexDigest)
	return nil
}

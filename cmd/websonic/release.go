package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/websonic/websonic/internal/release"
	"github.com/websonic/websonic/internal/tufrepo"
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
	cmds["release publish"] = commandInfo{releasePublish, "[--dist DIR] [--dev | --registry URL --keys DIR --token TOKEN] [flags]",
		"sign a built release's binaries as TUF targets and push its container image to the registry",
		"Reads --dist (from `websonic release build`) and verifies it first. Pushes the image index to REGISTRY/" + release.ImageRepository + "\n" +
			"tagged VERSION, signs every binary as the runtime release VERSION on --channel (the token needs the scope\n" +
			"runtime:websonic), then moves the channel's tag (latest, or beta) to the image. With --dev it publishes to the\n" +
			"registry of the `make run` running on --data-dir, with its development keys, or says how to publish when none runs.",
		map[string]string{"WEBSONIC_KEY_PASSWORD": "the keys' password" + passwordHelp}}
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

func releasePublish(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const cmd = "release publish"
	fs := newFlagSet(cmd, stdout, stderr)
	var p publisherFlags
	p.register(fs.FlagSet)
	dist := fs.String("dist", "dist", "the release folder that websonic release build wrote")
	channel := fs.String("channel", env("WEBSONIC_CHANNEL", "stable"), "release channel: stable or beta (WEBSONIC_CHANNEL)")
	dev := fs.Bool("dev", false, "publish to the registry of the make run running on --data-dir, with its development keys and token")
	dataDir := fs.String("data-dir", env("WEBSONIC_DATA_DIR", defaultDataDir), "with --dev: the data folder of the running make run (WEBSONIC_DATA_DIR)")
	if err := fs.parse(args); err != nil {
		return err
	}
	ch := tufrepo.Channel(*channel)
	if ch != tufrepo.ChannelStable && ch != tufrepo.ChannelBeta {
		return fmt.Errorf("%s: --channel %q: want stable or beta", cmd, *channel)
	}
	d, err := release.Open(*dist)
	if err != nil {
		return fmt.Errorf("%s: --dist: %w", cmd, err)
	}
	if *dev {
		running, err := devRegistry(&p, *dataDir)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		if !running {
			fmt.Fprintf(stdout, "built websonic %s in %s; no `make run` is running on %s, so nothing was published.\n"+
				"to publish it: bin/websonic release publish --dist %s --registry URL --keys KEYS --token TOKEN [--channel beta]\n",
				d.Version, *dist, *dataDir, *dist)
			return nil
		}
	}
	pub, err := p.publisher(stdin, stderr, cmd, true)
	if err != nil {
		return err
	}
	hc, err := p.client(cmd)
	if err != nil {
		return err
	}
	reg := release.Registry{URL: p.registry, Token: p.token}
	if hc != http.DefaultClient {
		reg.Transport = hc.Transport
	}
	repo, err := reg.Repository()
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	ctx, stop := signalContext()
	defer stop()
	// The image first, under its version only: if it is refused, nothing
	// is signed; the channel's tag moves once the release is signed.
	if _, err := release.Push(ctx, d.Index, reg, d.Version); err != nil {
		return p.registryError(cmd, err)
	}
	rels, err := pub.PublishRuntime(ctx, d.Version, ch, d.Binaries)
	if err != nil {
		return p.registryError(cmd, err)
	}
	tag := "latest"
	if ch == tufrepo.ChannelBeta {
		tag = "beta"
	}
	if _, err := release.Push(ctx, d.Index, reg, tag); err != nil {
		return p.registryError(cmd, fmt.Errorf("the release is signed, but the image's %s tag was not moved: %w", tag, err))
	}
	for _, r := range rels {
		fmt.Fprintf(stdout, "signed websonic %s %s/%s on %s: %d bytes, sha256 %s\n", r.Version, r.OS, r.Arch, r.Channel, r.BinarySize, r.BinarySHA256)
	}
	pull := "podman pull "
	if repo.Scheme() == "http" {
		pull += "--tls-verify=false "
	}
	fmt.Fprintf(stdout, "image: %s:%s and :%s (index %s)\npull:  %s%s:%s\n", repo, d.Version, tag, d.Image.IndexDigest, pull, repo, d.Version)
	return nil
}

// devRegistry points p at the registry, keys and token of the `make run`
// running on dataDir (see devRun); false if none runs there.
func devRegistry(p *publisherFlags, dataDir string) (bool, error) {
	dir := devDir(dataDir)
	lock, err := lockFile(filepath.Join(dir, "dev.lock"))
	switch {
	case errors.Is(err, errLocked): // a dev runs
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	default:
		lock.Close()
		return false, nil
	}
	raw, err := os.ReadFile(filepath.Join(dir, devStateFile))
	var st devState
	if err == nil {
		err = json.Unmarshal(raw, &st)
	}
	if err != nil {
		return false, fmt.Errorf("a `make run` runs on %s but is not ready yet: %w", dataDir, err)
	}
	keys := filepath.Join(dir, "keys")
	token, err := os.ReadFile(filepath.Join(keys, "token"))
	if err != nil {
		return false, err
	}
	p.registry, p.keys, p.token, p.password, p.cache = st.Registry, keys, string(token), devPassword, filepath.Join(dir, "publisher")
	return true, nil
}

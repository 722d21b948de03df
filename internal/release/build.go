package release

import (
	"bytes"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
)

// ErrConfig: Build or Open was given something it cannot use; the error
// says what. Nothing was written.
var ErrConfig = errors.New("release: invalid configuration")

// Config is what Build builds.
type Config struct {
	// Version is the release's semantic version without build metadata,
	// e.g. "1.2.3" or "1.3.0-beta.1" (required).
	Version string
	// Commit is the source commit, written into the binary (hex, 7 to 64
	// digits; "" for none).
	Commit string
	// Platforms are the os/arch pairs to build (DefaultPlatforms): only
	// linux/amd64 and linux/arm64.
	Platforms []string
	// OutDir receives the release (required). It must not exist or be
	// empty: Build writes into a temporary folder next to it and renames
	// that into place at the end, so a failed build leaves nothing.
	OutDir string
	// SourceDateEpoch is the time, in seconds since 1970, written into the
	// image as its creation time and into every tar entry (0: 1970). Use
	// the commit's time (git log -1 --format=%ct) for a meaningful one.
	SourceDateEpoch int64
	// ModuleDir is the root of the websonic Go module to build (the folder
	// of the go.mod `go env GOMOD` names from the current directory).
	ModuleDir string
	// Go is the go command ("go" on PATH).
	Go string
	// Logger receives a line per step (none if nil).
	Logger hclog.Logger
}

// DefaultPlatforms are the platforms a release is built for.
func DefaultPlatforms() []string { return []string{"linux/amd64", "linux/arm64"} }

// The package the binaries are built from, and where the version goes.
const (
	mainPackage  = "./cmd/websonic"
	buildinfoPkg = "github.com/websonic/websonic/internal/buildinfo"
)

var (
	// versionRE: a semantic version without build metadata (a "+" is no
	// OCI tag character); package tufrepo checks the finer rules again
	// when the release is signed.
	versionRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
	commitRE  = regexp.MustCompile(`^[0-9a-f]{7,64}$`)
)

func (c *Config) validate() error {
	if len(c.Platforms) == 0 {
		c.Platforms = DefaultPlatforms()
	}
	c.Platforms = slices.Sorted(slices.Values(c.Platforms))
	if err := checkRelease(c.Version, c.Commit, c.SourceDateEpoch, c.Platforms); err != nil {
		return err
	}
	if c.OutDir == "" {
		return fmt.Errorf("%w: no output folder", ErrConfig)
	}
	if ents, err := os.ReadDir(c.OutDir); err == nil && len(ents) > 0 {
		return fmt.Errorf("%w: output folder %s is not empty (remove it first)", ErrConfig, c.OutDir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("release: output folder: %w", err)
	}
	if c.Go == "" {
		c.Go = "go"
	}
	if c.Logger == nil {
		c.Logger = hclog.NewNullLogger()
	}
	return nil
}

// checkRelease checks what a release is: its version, commit, epoch and
// platforms.
func checkRelease(version, commit string, epoch int64, platforms []string) error {
	if !versionRE.MatchString(version) || len(version) > 64 {
		return fmt.Errorf("%w: version %q is not a semantic version like 1.2.3 or 1.3.0-beta.1", ErrConfig, version)
	}
	if commit != "" && !commitRE.MatchString(commit) {
		return fmt.Errorf("%w: commit %q is not a lowercase hex commit id", ErrConfig, commit)
	}
	if epoch < 0 {
		return fmt.Errorf("%w: SOURCE_DATE_EPOCH %d is before 1970", ErrConfig, epoch)
	}
	if len(platforms) == 0 {
		return fmt.Errorf("%w: no platform", ErrConfig)
	}
	seen := map[string]bool{}
	for _, p := range platforms {
		if !slices.Contains(DefaultPlatforms(), p) {
			return fmt.Errorf("%w: platform %q (want %s)", ErrConfig, p, strings.Join(DefaultPlatforms(), " or "))
		}
		if seen[p] {
			return fmt.Errorf("%w: platform %q given twice", ErrConfig, p)
		}
		seen[p] = true
	}
	return nil
}

// Build builds the release cfg describes into cfg.OutDir (see the package
// doc) and returns its manifest.
func Build(ctx context.Context, cfg Config) (*Manifest, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.ModuleDir == "" {
		dir, err := moduleRoot(ctx, cfg.Go)
		if err != nil {
			return nil, err
		}
		cfg.ModuleDir = dir
	}
	parent := filepath.Dir(filepath.Clean(cfg.OutDir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	tmp, err := os.MkdirTemp(parent, ".release-")
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	defer os.RemoveAll(tmp) // after the rename, nothing is left there
	m := &Manifest{Version: cfg.Version, Commit: cfg.Commit, SourceDateEpoch: cfg.SourceDateEpoch}
	bins := map[string][]byte{}
	for _, p := range cfg.Platforms {
		b, err := buildBinary(ctx, &cfg, p, tmp)
		if err != nil {
			return nil, err
		}
		bins[p] = b.data
		m.Binaries = append(m.Binaries, b.Binary)
	}
	if err := writeSums(tmp, m.Binaries); err != nil {
		return nil, err
	}
	img, err := writeImage(tmp, m, bins)
	if err != nil {
		return nil, err
	}
	m.Image = img
	if err := m.write(tmp); err != nil {
		return nil, err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	os.Remove(cfg.OutDir) // empty or absent (validate): make room for the rename
	if err := os.Rename(tmp, cfg.OutDir); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	cfg.Logger.Info("release built", "version", m.Version, "dir", cfg.OutDir, "image_index", m.Image.IndexDigest)
	return m, nil
}

// moduleRoot is the folder of the go.mod the go command uses here.
func moduleRoot(ctx context.Context, goCmd string) (string, error) {
	out, err := exec.CommandContext(ctx, goCmd, "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("release: go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("%w: not inside the websonic Go module (go env GOMOD is empty): run it from the repository", ErrConfig)
	}
	return filepath.Dir(gomod), nil
}

// built is a binary and its bytes.
type built struct {
	Binary
	data []byte
}

// buildEnv is the go command's environment for platform os/arch: the
// caller's, less whatever changes what the compiler produces or what
// source it reads. GOWORK=off: a go.work above the checkout (a developer's
// workspace) or named by GOWORK could otherwise replace any dependency
// with other source, and a release is built from go.mod and go.sum alone.
// GOTOOLCHAIN=local: the go command that runs builds, never one an
// environment variable names (the toolchain is part of what a release is).
func buildEnv(goos, goarch string) []string {
	drop := []string{"GOFLAGS", "GOOS", "GOARCH", "CGO_ENABLED", "GOAMD64", "GOARM64", "GOEXPERIMENT", "GODEBUG",
		"GO_EXTLINK_ENABLED", "GOWORK", "GOFIPS140", "GOTOOLCHAIN"}
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(drop, k) {
			env = append(env, kv)
		}
	}
	return append(env, "GOFLAGS=", "GOWORK=off", "GOFIPS140=off", "GOTOOLCHAIN=local", "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0", "GOAMD64=v1", "GOARM64=v8.0")
}

// binaryName is the file name of the binary for platform ("linux/amd64").
func binaryName(version, platform string) string {
	return "websonic-" + version + "-" + strings.ReplaceAll(platform, "/", "-")
}

func buildBinary(ctx context.Context, cfg *Config, platform, dir string) (*built, error) {
	goos, goarch, _ := strings.Cut(platform, "/")
	name := binaryName(cfg.Version, platform)
	out, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	ldflags := "-s -w -buildid= -X " + buildinfoPkg + ".version=" + cfg.Version
	if cfg.Commit != "" {
		ldflags += " -X " + buildinfoPkg + ".commit=" + cfg.Commit
	}
	args := []string{"build", "-o", out, "-trimpath", "-buildvcs=false", "-tags=", "-ldflags=" + ldflags, mainPackage}
	cmd := exec.CommandContext(ctx, cfg.Go, args...)
	cmd.Dir = cfg.ModuleDir
	cmd.Env = buildEnv(goos, goarch)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("release: go build for %s: %w\n%s", platform, err, strings.TrimSpace(stderr.String()))
	}
	cfg.Logger.Info("built", "platform", platform, "file", name, "took", time.Since(start).Round(time.Millisecond))
	if err := checkSettings(out, goos, goarch); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	if err := os.Chmod(out, 0o755); err != nil {
		return nil, fmt.Errorf("release: %w", err)
	}
	sum := sha256.Sum256(data)
	return &built{Binary: Binary{Platform: platform, File: name, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(data))}, data: data}, nil
}

// checkSettings reads back the build settings the go command recorded in
// the binary at path and refuses one that is not the static, trimmed,
// untagged build Build asked for: what the environment could still have
// slipped in (a go.env GOFLAGS=-race, say) shows there.
func checkSettings(path, goos, goarch string) error {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return fmt.Errorf("release: reading the build settings of %s: %w", path, err)
	}
	want := map[string]string{"CGO_ENABLED": "0", "-trimpath": "true", "GOOS": goos, "GOARCH": goarch}
	got := map[string]string{}
	for _, s := range bi.Settings {
		got[s.Key] = s.Value
	}
	for k, v := range want {
		if got[k] != v {
			return fmt.Errorf("release: %s was built with %s=%q, want %q", filepath.Base(path), k, got[k], v)
		}
	}
	for _, k := range []string{"-race", "-msan", "-asan", "-tags", "-cover", "vcs.revision"} {
		if v, ok := got[k]; ok && v != "false" && v != "" {
			return fmt.Errorf("release: %s was built with %s=%q: not a reproducible release build", filepath.Base(path), k, v)
		}
	}
	return nil
}

// writeSums writes SHA256SUMS in sha256sum's format.
func writeSums(dir string, bins []Binary) error {
	var b strings.Builder
	for _, bin := range sortedBinaries(bins) {
		fmt.Fprintf(&b, "%s  %s\n", bin.SHA256, bin.File)
	}
	if err := os.WriteFile(filepath.Join(dir, SumsFile), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	return nil
}

func sortedBinaries(bins []Binary) []Binary {
	s := slices.Clone(bins)
	slices.SortFunc(s, func(a, b Binary) int { return strings.Compare(a.File, b.File) })
	return s
}

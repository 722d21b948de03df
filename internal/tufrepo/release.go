package tufrepo

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"github.com/websonic/websonic/sdk/manifest"
	"regexp"
	"strconv"
	"strings"
)

// Channel is a release channel.
type Channel string

// The release channels. A runtime following ChannelBeta is offered stable
// releases too; one following ChannelStable only stable ones.
const (
	ChannelStable Channel = "stable"
	ChannelBeta   Channel = "beta"
)

// TargetPrefix starts the TUF target name of every module release:
// "modules/<name>/<version>".
const TargetPrefix = "modules/"

// ThemeTargetPrefix starts the TUF target name of every theme release:
// "themes/<name>/<version>". A theme and a module of the same name are
// two targets, two OCI repositories and two publisher scopes.
const ThemeTargetPrefix = "themes/"

// Kind is what a release distributes.
type Kind uint8

// The kinds of release. The zero Kind is a module.
const (
	KindModule Kind = iota
	KindTheme
	KindRuntime // the websonic runtime binary itself (issue 13), see runtime.go
)

func (k Kind) String() string {
	switch k {
	case KindTheme:
		return "theme"
	case KindRuntime:
		return "runtime"
	}
	return "module"
}

// Release describes one module release as recorded, signed, in targets.json.
//
// The publisher fills Module, Version, ABIVersion, Capabilities, Channel and
// ManifestDigest; the repository computes Path, Length and SHA256 from the
// artifact bytes, and sets Revoked.
//
// A theme release (Kind KindTheme) names its theme in Module and its theme
// format in ThemeVersion, and has no ABIVersion nor Capabilities.
//
// A runtime release (Kind KindRuntime) has Module RuntimeName, one
// platform (OS, Arch) and the binary's BinarySHA256 and BinarySize; its
// artifact is the OCI manifest of package ocipkg's runtime artifact.
type Release struct {
	Kind           Kind            // KindModule (the zero value), KindTheme or KindRuntime
	Module         string          // module (or theme) name, [a-z0-9][a-z0-9_-]*; RuntimeName for a runtime
	Version        string          // semantic version, no leading "v"
	ABIVersion     uint32          // host ABI the module was built against (> 0); 0 for a theme
	ThemeVersion   uint32          // a theme's format version (theme.json's theme_version, > 0); 0 for a module
	Capabilities   json.RawMessage // requested capabilities, as in the module manifest; none for a theme
	Channel        Channel         // ChannelStable or ChannelBeta
	ManifestDigest string          // OCI manifest digest, "sha256:<64 hex>"
	// Description is the module manifest's one line for the site owner
	// (at most MaxDescription bytes; "" for releases signed before
	// descriptions were: older clients ignore it).
	Description string

	// A runtime release's platform and binary; empty for other kinds.
	OS           string // "linux"
	Arch         string // "amd64" or "arm64"
	BinarySHA256 string // sha256 of the binary, 64 lowercase hex
	BinarySize   int64  // size of the binary in bytes, > 0

	Path    string // TUF target name, "modules/<Module>/<Version>", "themes/<Module>/<Version>" or "runtime/websonic/<Version>/<OS>-<Arch>"
	Length  int64  // length of the artifact in bytes
	SHA256  []byte // sha256 of the artifact
	Revoked bool   // revoked by the publisher: never install it
}

// custom is the "custom" object of a module target in targets.json.
type custom struct {
	Module         string          `json:"module"`
	Version        string          `json:"version"`
	ABIVersion     uint32          `json:"abi_version"`
	Capabilities   json.RawMessage `json:"capabilities"`
	Channel        Channel         `json:"channel"`
	ManifestDigest string          `json:"manifest_digest"`
	Revoked        bool            `json:"revoked,omitempty"`
	Description    string          `json:"description,omitempty"`
}

// MaxDescription bounds a release's description (as the manifest's).
const MaxDescription = 300

var (
	moduleNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	// semverRE is the regular expression suggested by semver.org.
	semverRE = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
)

// TargetPath returns the TUF target name of a release.
func TargetPath(module, version string) string {
	return TargetPrefix + module + "/" + version
}

// themeCustom is the "custom" object of a theme target: its "theme" key
// (where a module's has "module") keeps one kind from decoding as the
// other.
type themeCustom struct {
	Theme          string  `json:"theme"`
	Version        string  `json:"version"`
	ThemeVersion   uint32  `json:"theme_version"`
	Channel        Channel `json:"channel"`
	ManifestDigest string  `json:"manifest_digest"`
	Description    string  `json:"description,omitempty"`
	Revoked        bool    `json:"revoked,omitempty"`
}

// ThemeTargetPath returns the TUF target name of a theme release.
func ThemeTargetPath(theme, version string) string {
	return ThemeTargetPrefix + theme + "/" + version
}

// TargetPath returns the release's TUF target name.
func (r *Release) TargetPath() string {
	switch r.Kind {
	case KindTheme:
		return ThemeTargetPath(r.Module, r.Version)
	case KindRuntime:
		return RuntimeTargetPath(r.Version, r.OS, r.Arch)
	}
	return TargetPath(r.Module, r.Version)
}

// Repository returns the OCI repository holding the release's artifact at
// the registry: "modules/<name>", "themes/<name>" or, for a runtime,
// RuntimeRepository.
func (r *Release) Repository() string {
	switch r.Kind {
	case KindTheme:
		return "themes/" + r.Module
	case KindRuntime:
		return RuntimeRepository
	}
	return "modules/" + r.Module
}

// validate checks the publisher's fields.
func (r *Release) validate() error {
	switch r.Kind {
	case KindModule:
	case KindTheme:
		return r.validateTheme()
	case KindRuntime:
		return r.validateRuntime()
	default:
		return fmt.Errorf("%w: kind %d", ErrInvalidRelease, r.Kind)
	}
	switch {
	case !moduleNameRE.MatchString(r.Module):
		return fmt.Errorf("%w: module name %q", ErrInvalidRelease, r.Module)
	case !semverRE.MatchString(r.Version):
		return fmt.Errorf("%w: version %q is not a semantic version", ErrInvalidRelease, r.Version)
	case r.ABIVersion == 0:
		return fmt.Errorf("%w: ABI version 0", ErrInvalidRelease)
	case r.ThemeVersion != 0 || r.hasPlatform():
		return fmt.Errorf("%w: a module has no theme format, platform nor binary", ErrInvalidRelease)
	case r.Channel != ChannelStable && r.Channel != ChannelBeta:
		return fmt.Errorf("%w: channel %q (want %s or %s)", ErrInvalidRelease, r.Channel, ChannelStable, ChannelBeta)
	case !digestRE.MatchString(r.ManifestDigest):
		return fmt.Errorf("%w: manifest digest %q (want sha256:<64 lowercase hex>)", ErrInvalidRelease, r.ManifestDigest)
	case len(r.Capabilities) > 0 && !json.Valid(r.Capabilities):
		return fmt.Errorf("%w: capabilities are not valid JSON", ErrInvalidRelease)
	case len(r.Capabilities) > MaxCapabilitiesSize:
		return fmt.Errorf("%w: capabilities of %d bytes, more than %d", ErrInvalidRelease, len(r.Capabilities), MaxCapabilitiesSize)
	case len(r.Description) > MaxDescription:
		return fmt.Errorf("%w: description longer than %d bytes", ErrInvalidRelease, MaxDescription)
	case strings.Contains(r.Version, "+"):
		// Build metadata does not order versions: two releases differing
		// only in it would tie for "latest".
		return fmt.Errorf("%w: version %q has build metadata (+...): give each release its own version", ErrInvalidRelease, r.Version)
	}
	return nil
}

func (r *Release) validateTheme() error {
	switch {
	case !moduleNameRE.MatchString(r.Module):
		return fmt.Errorf("%w: theme name %q", ErrInvalidRelease, r.Module)
	case !semverRE.MatchString(r.Version) || strings.Contains(r.Version, "+"):
		return fmt.Errorf("%w: theme version %q is not a semantic version without build metadata", ErrInvalidRelease, r.Version)
	case r.ThemeVersion == 0:
		return fmt.Errorf("%w: theme format version 0", ErrInvalidRelease)
	case r.ABIVersion != 0 || len(r.Capabilities) != 0 || r.hasPlatform():
		return fmt.Errorf("%w: a theme has no ABI version, capabilities, platform nor binary", ErrInvalidRelease)
	case r.Channel != ChannelStable && r.Channel != ChannelBeta:
		return fmt.Errorf("%w: channel %q (want %s or %s)", ErrInvalidRelease, r.Channel, ChannelStable, ChannelBeta)
	case !digestRE.MatchString(r.ManifestDigest):
		return fmt.Errorf("%w: manifest digest %q (want sha256:<64 lowercase hex>)", ErrInvalidRelease, r.ManifestDigest)
	case len(r.Description) > MaxDescription:
		return fmt.Errorf("%w: description longer than %d bytes", ErrInvalidRelease, MaxDescription)
	}
	return nil
}

// customJSON encodes the release's "custom" object.
func (r *Release) customJSON() ([]byte, error) {
	if r.Kind == KindRuntime {
		return json.Marshal(r.runtimeCustom())
	}
	if r.Kind == KindTheme {
		return json.Marshal(themeCustom{Theme: r.Module, Version: r.Version, ThemeVersion: r.ThemeVersion,
			Channel: r.Channel, ManifestDigest: r.ManifestDigest, Description: r.Description, Revoked: r.Revoked})
	}
	return json.Marshal(r.custom())
}

func (r *Release) custom() custom {
	caps := r.Capabilities
	if len(caps) == 0 {
		caps = json.RawMessage(`{}`)
	}
	return custom{
		Module:         r.Module,
		Version:        r.Version,
		ABIVersion:     r.ABIVersion,
		Capabilities:   caps,
		Channel:        r.Channel,
		ManifestDigest: r.ManifestDigest,
		Revoked:        r.Revoked,
		Description:    r.Description,
	}
}

// releaseFromTarget decodes a module, theme or runtime target's custom object
// (by the target name's prefix; any other target is refused) and checks
// it agrees with the target name.
func releaseFromTarget(path string, length int64, sha []byte, raw []byte) (*Release, error) {
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: target %q has no custom object", ErrInvalidRelease, path)
	}
	var r *Release
	switch {
	case strings.HasPrefix(path, TargetPrefix):
		var c custom
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("%w: target %q: custom: %w", ErrInvalidRelease, path, err)
		}
		r = moduleRelease(c)
	case strings.HasPrefix(path, ThemeTargetPrefix):
		var c themeCustom
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields() // a module's custom object is not a theme's
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("%w: target %q: custom: %w", ErrInvalidRelease, path, err)
		}
		r = &Release{Kind: KindTheme, Module: c.Theme, Version: c.Version, ThemeVersion: c.ThemeVersion,
			Channel: c.Channel, ManifestDigest: c.ManifestDigest, Revoked: c.Revoked, Description: c.Description}
	case strings.HasPrefix(path, RuntimeTargetPrefix):
		var err error
		if r, err = runtimeRelease(raw); err != nil {
			return nil, fmt.Errorf("%w: target %q: custom: %w", ErrInvalidRelease, path, err)
		}
	default:
		return nil, fmt.Errorf("%w: target %q is not under %s, %s nor %s", ErrInvalidRelease, path, TargetPrefix, ThemeTargetPrefix, RuntimeTargetPrefix)
	}
	r.Path, r.Length, r.SHA256 = path, length, sha
	if err := r.validate(); err != nil {
		return nil, fmt.Errorf("target %q: %w", path, err)
	}
	if want := r.TargetPath(); path != want {
		return nil, fmt.Errorf("%w: target %q describes %s", ErrInvalidRelease, path, want)
	}
	if want := "sha256:" + hex.EncodeToString(sha); r.ManifestDigest != want {
		return nil, fmt.Errorf("%w: target %q: manifest digest %s, but its signed hash is %s", ErrInvalidRelease, path, r.ManifestDigest, want)
	}
	return r, nil
}

func moduleRelease(c custom) *Release {
	return &Release{
		Module:         c.Module,
		Version:        c.Version,
		ABIVersion:     c.ABIVersion,
		Capabilities:   c.Capabilities,
		Channel:        c.Channel,
		ManifestDigest: c.ManifestDigest,
		Revoked:        c.Revoked,
		Description:    c.Description,
	}
}

// String returns "module@version", or "theme name@version".
func (r *Release) String() string {
	if r.Kind == KindRuntime {
		return "runtime " + r.Module + "@" + r.Version + " " + r.OS + "/" + r.Arch
	}
	if r.Kind == KindTheme {
		return "theme " + r.Module + "@" + r.Version
	}
	return r.Module + "@" + r.Version
}

// SHA256Hex returns the artifact's sha256 in lowercase hex.
func (r *Release) SHA256Hex() string { return hex.EncodeToString(r.SHA256) }

// compareSemver orders two valid semantic versions by semver.org
// precedence (build metadata ignored): -1, 0 or +1.
func compareSemver(a, b string) int {
	ma, mb := semverRE.FindStringSubmatch(a), semverRE.FindStringSubmatch(b)
	for i := 1; i <= 3; i++ {
		if c := compareNumeric(ma[i], mb[i]); c != 0 {
			return c
		}
	}
	pa, pb := ma[4], mb[4]
	switch {
	case pa == pb:
		return 0
	case pa == "":
		return 1 // a release outranks its pre-releases
	case pb == "":
		return -1
	}
	fa, fb := strings.Split(pa, "."), strings.Split(pb, ".")
	for i := 0; i < len(fa) && i < len(fb); i++ {
		na, ea := strconv.ParseUint(fa[i], 10, 64)
		nb, eb := strconv.ParseUint(fb[i], 10, 64)
		switch {
		case ea == nil && eb == nil:
			if na != nb {
				return cmpInt(na < nb)
			}
		case ea == nil:
			return -1 // numeric identifiers rank below alphanumeric ones
		case eb == nil:
			return 1
		default:
			if c := strings.Compare(fa[i], fb[i]); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(fa) < len(fb):
		return -1
	case len(fa) > len(fb):
		return 1
	}
	return 0
}

// compareNumeric compares two decimal strings without leading zeros, of
// any length.
func compareNumeric(a, b string) int {
	if len(a) != len(b) {
		return cmpInt(len(a) < len(b))
	}
	return strings.Compare(a, b)
}

func cmpInt(less bool) int {
	if less {
		return -1
	}
	return 1
}

// CompareVersions orders two semantic versions by precedence: -1, 0 or +1.
func CompareVersions(a, b string) int { return compareSemver(a, b) }

// Matches checks that a package's manifest is the release that was signed:
// same module, version, ABI version, description (when the release has
// one) and capabilities (compared as JSON values).
func (r *Release) Matches(m *manifest.Manifest) error {
	switch {
	case r.Kind != KindModule:
		return fmt.Errorf("%w: %s is not a module release", ErrMismatch, r)
	case m.Name != r.Module || m.Version != r.Version:
		return fmt.Errorf("%w: %s: the package is %s@%s", ErrMismatch, r, m.Name, m.Version)
	case m.ABIVersion != r.ABIVersion:
		return fmt.Errorf("%w: %s: the package declares ABI v%d, the release v%d", ErrMismatch, r, m.ABIVersion, r.ABIVersion)
	case r.Description != "" && r.Description != m.Description: // "": signed before descriptions were
		return fmt.Errorf("%w: %s: the package's description differs from the signed release's", ErrMismatch, r)
	}
	var signed manifest.Capabilities
	dec := json.NewDecoder(bytes.NewReader(r.Capabilities))
	dec.DisallowUnknownFields() // nothing may ride along unchecked
	if err := dec.Decode(&signed); err != nil {
		return fmt.Errorf("%w: %s: the package's capabilities differ from the signed release's: %w", ErrMismatch, r, err)
	}
	x, err1 := json.Marshal(signed)
	y, err2 := json.Marshal(m.Capabilities)
	if err1 != nil || err2 != nil || string(x) != string(y) {
		return fmt.Errorf("%w: %s: the package's capabilities differ from the signed release's", ErrMismatch, r)
	}
	return nil
}

// MatchesTheme checks that a theme package's theme.json is the theme
// release that was signed: same name, version and format version.
func (r *Release) MatchesTheme(name, version string, themeVersion uint32) error {
	switch {
	case r.Kind != KindTheme:
		return fmt.Errorf("%w: %s is not a theme release", ErrMismatch, r)
	case name != r.Module || version != r.Version:
		return fmt.Errorf("%w: %s: the package is theme %s@%s", ErrMismatch, r, name, version)
	case themeVersion != r.ThemeVersion:
		return fmt.Errorf("%w: %s: the package declares theme format %d, the release %d", ErrMismatch, r, themeVersion, r.ThemeVersion)
	}
	return nil
}

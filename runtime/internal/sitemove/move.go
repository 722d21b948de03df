package sitemove

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// FormatMove is move.json's format.
const FormatMove = "websonic-site-move/1"

// MaxMoveJSON caps move.json (it lists modules, themes and settings).
const MaxMoveJSON = 4 << 20

// Move is move.json: what the source says about the site it exported. The
// signature in move.sig covers its exact bytes.
type Move struct {
	Format  string    `json:"format"`
	Created time.Time `json:"created"`
	Source  Origin    `json:"source"`
	// Target is the recipient (age1…) the archive was encrypted to: an
	// import refuses an archive made for another site, which that site
	// could decrypt and encrypt again to this one.
	Target string `json:"target"`
	// CoreMigrations are the core schema's applied migrations
	// (websonic_schema_migrations); a target that lacks one refuses.
	CoreMigrations []string `json:"core_migrations"`
	Modules        []Module `json:"modules"`
	Themes         []Theme  `json:"themes"`
	Dump           DumpRef  `json:"dump"`
	// SiteKey is the site's data-key ring file (privacy.KeyFile), needed
	// to open what modules sealed; empty when the source keeps its key in
	// the environment (the owner carries it over by hand).
	SiteKey []byte `json:"site_key,omitempty"`
}

// Origin is the site that exported.
type Origin struct {
	// URL is the site's public URL ("" when not set).
	URL string `json:"url"`
	// RuntimeVersion is the exporting runtime's version.
	RuntimeVersion string `json:"runtime_version"`
	// PublicKey is the ed25519 key move.sig verifies with; Fingerprint
	// names it.
	PublicKey []byte `json:"public_key"`
}

// Module is an installed module, as websonic.module_installs records it.
type Module struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	// Digest is the release's OCI manifest digest ("sha256:…"): the
	// target installs exactly this release.
	Digest  string `json:"digest"`
	Channel string `json:"channel"`
	Policy  string `json:"policy"`
	// Approved is the capabilities the owner approved (manifest
	// "capabilities" object).
	Approved json.RawMessage `json:"approved"`
	// Settings is the module's configuration (null: none).
	Settings json.RawMessage `json:"settings,omitempty"`
}

// Theme is an installed site theme.
type Theme struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Digest  string `json:"digest"`
	Channel string `json:"channel"`
	Policy  string `json:"policy"`
	Active  bool   `json:"active"`
}

// DumpRef commits move.json to the dump parts: their total length, count
// and sha256 over their concatenation (the sitedump stream).
type DumpRef struct {
	Size   int64  `json:"size"`
	Parts  int    `json:"parts"`
	SHA256 string `json:"sha256"`
	// ManifestSHA256 is the sha256 of the dump's own manifest
	// (dump.json, its first entry).
	ManifestSHA256 string `json:"manifest_sha256"`
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	themeRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+_-]{0,127}$`)
	digestRE  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	sumRE     = regexp.MustCompile(`^[0-9a-f]{64}$`)
	migRE     = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z._/-]{0,127}$`)
)

// DecodeMove reads move.json strictly (unknown fields, trailing data and
// anything Validate refuses are errors wrapping ErrArchive).
func DecodeMove(b []byte) (*Move, error) {
	if len(b) > MaxMoveJSON {
		return nil, fmt.Errorf("%w: move.json is larger than %d bytes", ErrArchive, MaxMoveJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var m Move
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("%w: move.json: %w", ErrArchive, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: move.json: data after the object", ErrArchive)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// Validate checks every field; errors wrap ErrArchive.
func (m *Move) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: move.json: %s", ErrArchive, fmt.Sprintf(format, a...))
	}
	switch {
	case m.Format != FormatMove:
		return bad("format %q, want %q (an archive of another Web Sonic version?)", m.Format, FormatMove)
	case m.Created.IsZero():
		return bad("no creation time")
	case len(m.Source.PublicKey) != ed25519.PublicKeySize:
		return bad("the source's public key has %d bytes, want %d", len(m.Source.PublicKey), ed25519.PublicKeySize)
	case len(m.Source.URL) > 2048 || len(m.Source.RuntimeVersion) > 128 || len(m.Target) > 256:
		return bad("source URL or version too long")
	case m.Dump.Size < 0 || m.Dump.Parts < 0 || (m.Dump.Size == 0) != (m.Dump.Parts == 0):
		return bad("dump size %d in %d parts", m.Dump.Size, m.Dump.Parts)
	case m.Dump.Parts > 0 && m.Dump.Size > int64(m.Dump.Parts)*PartSize:
		return bad("dump size %d does not fit %d parts", m.Dump.Size, m.Dump.Parts)
	case !sumRE.MatchString(m.Dump.SHA256) || !sumRE.MatchString(m.Dump.ManifestSHA256):
		return bad("dump checksums are not sha256 hex")
	case len(m.SiteKey) > 1<<20:
		return bad("site key too large")
	}
	seen := map[string]bool{}
	for _, c := range m.CoreMigrations {
		if !migRE.MatchString(c) || seen["core "+c] {
			return bad("core migration %q", c)
		}
		seen["core "+c] = true
	}
	for _, mod := range m.Modules {
		switch {
		case !nameRE.MatchString(mod.Name) || seen["module "+mod.Name]:
			return bad("module name %q (invalid or twice)", mod.Name)
		case !versionRE.MatchString(mod.Version):
			return bad("module %s: version %q", mod.Name, mod.Version)
		case !digestRE.MatchString(mod.Digest):
			return bad("module %s: digest %q", mod.Name, mod.Digest)
		case !oneOf(mod.Channel, "stable", "beta") || !oneOf(mod.Policy, "auto", "notify", "pinned"):
			return bad("module %s: channel %q, policy %q", mod.Name, mod.Channel, mod.Policy)
		case !jsonObject(mod.Approved, false) || !jsonObject(mod.Settings, true):
			return bad("module %s: approvals or settings are not a JSON object", mod.Name)
		}
		seen["module "+mod.Name] = true
	}
	active := 0
	for _, t := range m.Themes {
		switch {
		case !themeRE.MatchString(t.Name) || seen["theme "+t.Name]:
			return bad("theme name %q (invalid or twice)", t.Name)
		case !versionRE.MatchString(t.Version):
			return bad("theme %s: version %q", t.Name, t.Version)
		case !digestRE.MatchString(t.Digest):
			return bad("theme %s: digest %q", t.Name, t.Digest)
		case !oneOf(t.Channel, "stable", "beta") || !oneOf(t.Policy, "auto", "notify", "pinned"):
			return bad("theme %s: channel %q, policy %q", t.Name, t.Channel, t.Policy)
		}
		if t.Active {
			active++
		}
		seen["theme "+t.Name] = true
	}
	if active > 1 {
		return bad("%d active themes", active)
	}
	return nil
}

func oneOf(s string, set ...string) bool {
	for _, v := range set {
		if s == v {
			return true
		}
	}
	return false
}

// jsonObject reports whether b is a JSON object (or, with orNull, absent or
// null).
func jsonObject(b json.RawMessage, orNull bool) bool {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || string(t) == "null" {
		return orNull
	}
	var v map[string]any
	return t[0] == '{' && json.Unmarshal(t, &v) == nil
}

// Public is m without the site key, for reports and logs.
func (m *Move) Public() *Move {
	c := *m
	c.SiteKey = nil
	return &c
}

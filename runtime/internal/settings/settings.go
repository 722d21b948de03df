// Package settings keeps the site's settings: its name, accent colour,
// language, logo and active theme, in one row of the client's database
// (websonic.site_settings), which the owner edits in the admin area.
//
// Every replica keeps a copy in memory (Current: an atomic load, for
// every page). A change is written, audited and announced on the site's
// "settings" pgnotify channel in one transaction; every replica's Run
// reads the row again when woken, so a change shows on all of them at
// once (the writer's copy is refreshed before Update returns).
//
// Values are checked here and again by the table's constraints: a name
// of at most 80 characters without control characters, an accent colour
// #rrggbb whose contrast with white is at least 4.5:1 (WCAG AA for text),
// a language "auto" or one the site has, a theme name, and a logo that is
// a PNG, JPEG or WebP image of at most 512 KiB and 4096×4096 pixels (SVG
// is refused: it may carry script, and cleaning it safely is a project of
// its own).
//
// A Store is safe for concurrent use.
package settings

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // image.DecodeConfig reads JPEG logos
	_ "image/png"  // and PNG ones
	"math"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/pgnotify"
)

// Purpose is the settings' pgnotify channel purpose.
const Purpose = "settings"

// Limits of the settings.
const (
	MaxNameLen    = 80
	MaxLogoBytes  = 512 << 10
	MaxLogoPixels = 4096 // per side
	MinContrast   = 4.5
)

// Settings is the site's settings as stored. A Settings is never changed
// once made.
type Settings struct {
	Name     string // "" for the runtime's default name
	Accent   string // #rrggbb, "" for the theme's own
	Language string // "auto" (the browser's) or a language tag
	Theme    string // the active theme's name
	// ThemeRevision counts changes of the installed themes' files: a
	// replica loads its theme again when it changes.
	ThemeRevision int64
	Logo          []byte // nil when none
	LogoType      string // image/png, image/jpeg or image/webp
	// LogoHash is the first 16 hex digits of the logo's SHA-256: its URL's
	// cache-busting part.
	LogoHash  string
	Version   int64 // counts the changes
	UpdatedAt time.Time
}

// LogoExt is the logo's file extension (".png"…), "" for none.
func (s *Settings) LogoExt() string {
	switch s.LogoType {
	case "image/png":
		return ".png"
	case "image/jpeg":
		return ".jpg"
	case "image/webp":
		return ".webp"
	}
	return ""
}

// Errors of the checks; the admin area says them in plain words.
var (
	ErrName     = errors.New("settings: the name must be at most 80 characters, without control characters")
	ErrAccent   = errors.New("settings: the accent colour must be #rrggbb")
	ErrContrast = errors.New("settings: the accent colour is too light for text on white")
	ErrLanguage = errors.New("settings: unknown language")
	ErrTheme    = errors.New("settings: bad theme name")
	ErrLogoSize = errors.New("settings: the logo is larger than 512 KiB")
	ErrLogoType = errors.New("settings: the logo must be a PNG, JPEG or WebP image")
	ErrLogoSVG  = errors.New("settings: SVG logos are not accepted; export the logo as PNG")
	ErrLogoDims = errors.New("settings: the logo is larger than 4096×4096 pixels")
)

// ContrastError is an accent colour with too little contrast with white;
// it matches ErrContrast.
type ContrastError struct{ Ratio float64 }

func (e *ContrastError) Error() string {
	return fmt.Sprintf("%v: %.2f:1, at least %.1f:1 is needed", ErrContrast, e.Ratio, MinContrast)
}

// Is makes errors.Is(err, ErrContrast) true.
func (e *ContrastError) Is(target error) bool { return target == ErrContrast }

// Config configures a Store.
type Config struct {
	Pool *pgxpool.Pool // required, migrated (websonic.site_settings)
	// Languages are the languages the site has (the catalogue's); the
	// language setting is "auto" or one of them.
	Languages []string
	// OnChange, when set, is called with the new settings after each
	// change this replica sees (its own or another's), never concurrently.
	OnChange func(*Settings)
	Logger   hclog.Logger
}

// Store reads and writes the settings.
type Store struct {
	cfg     Config
	log     hclog.Logger
	channel string
	cur     atomic.Pointer[Settings]
	reload  chan struct{} // one reload at a time
}

// Open reads the settings and names the site's settings channel.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Pool == nil {
		return nil, errors.New("settings: Config.Pool is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	s := &Store{cfg: cfg, log: cfg.Logger.Named("settings"), reload: make(chan struct{}, 1)}
	var err error
	if s.channel, err = pgnotify.Channel(ctx, cfg.Pool, Purpose); err != nil {
		return nil, fmt.Errorf("settings: %w", err)
	}
	if err := s.Reload(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Current is the settings as this replica last read them.
func (s *Store) Current() *Settings { return s.cur.Load() }

// Reload reads the settings again, and calls OnChange when they changed.
func (s *Store) Reload(ctx context.Context) error { return s.read(ctx, false) }

// Replaced reads the settings again and calls OnChange even when their
// version is the one this replica has: for a site whose data was replaced
// under the running runtime (a site import), whose version counter
// started over elsewhere.
func (s *Store) Replaced(ctx context.Context) error { return s.read(ctx, true) }

func (s *Store) read(ctx context.Context, force bool) error {
	select {
	case s.reload <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.reload }()
	n := &Settings{}
	err := s.cfg.Pool.QueryRow(ctx, `SELECT name, accent, language, theme, theme_revision, logo, logo_type, version, updated_at
		FROM websonic.site_settings`).Scan(&n.Name, &n.Accent, &n.Language, &n.Theme, &n.ThemeRevision, &n.Logo, &n.LogoType, &n.Version, &n.UpdatedAt)
	if err != nil {
		return fmt.Errorf("settings: read: %w", err)
	}
	if n.Logo != nil {
		sum := sha256.Sum256(n.Logo)
		n.LogoHash = hex.EncodeToString(sum[:8])
	}
	old := s.cur.Load()
	if old != nil && old.Version == n.Version && !force {
		return nil
	}
	s.cur.Store(n)
	if old != nil && s.cfg.OnChange != nil {
		s.cfg.OnChange(n)
	}
	return nil
}

// Run follows the other replicas' changes until ctx ends.
func (s *Store) Run(ctx context.Context) {
	l := pgnotify.Listen(ctx, pgnotify.ListenConfig{Pool: s.cfg.Pool, Channel: s.channel, AppName: "websonic settings", Logger: s.log})
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.C():
			rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			if err := s.Reload(rctx); err != nil && ctx.Err() == nil {
				s.log.Warn("reading the settings failed; keeping the last copy", "error", err)
			}
			cancel()
		}
	}
}

// Change is a change of the settings: nil fields stay as they are.
type Change struct {
	Name, Accent, Language, Theme *string
	Logo                          *[]byte // a pointer to nil removes the logo
	// ThemesChanged says the installed themes' files changed (the
	// distribution installed, updated or rolled one back): every replica
	// loads its active theme again.
	ThemesChanged bool
}

// Update checks and applies c for the user actor (0: the system), audits
// it as settings.update and tells every replica.
func (s *Store) Update(ctx context.Context, actor int64, c Change) error {
	sets, args, detail := []string{}, []any{}, map[string]any{}
	add := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	if c.Name != nil {
		name := strings.TrimSpace(*c.Name)
		if err := CheckName(name); err != nil {
			return err
		}
		add("name", name)
		detail["name"] = name
	}
	if c.Accent != nil {
		accent := strings.ToLower(strings.TrimSpace(*c.Accent))
		if err := CheckAccent(accent); err != nil {
			return err
		}
		add("accent", accent)
		detail["accent"] = accent
	}
	if c.Language != nil {
		if *c.Language != "auto" && !slices.Contains(s.cfg.Languages, *c.Language) {
			return fmt.Errorf("%w: %q", ErrLanguage, *c.Language)
		}
		add("language", *c.Language)
		detail["language"] = *c.Language
	}
	if c.Theme != nil {
		if !themeNameRE.MatchString(*c.Theme) {
			return fmt.Errorf("%w: %q", ErrTheme, *c.Theme)
		}
		add("theme", *c.Theme)
		detail["theme"] = *c.Theme
	}
	if c.Logo != nil {
		if *c.Logo == nil {
			add("logo", nil)
			add("logo_type", "")
			detail["logo"] = "removed"
		} else {
			ctype, err := CheckLogo(*c.Logo)
			if err != nil {
				return err
			}
			add("logo", *c.Logo)
			add("logo_type", ctype)
			sum := sha256.Sum256(*c.Logo)
			detail["logo"] = hex.EncodeToString(sum[:])
		}
	}
	if c.ThemesChanged {
		sets = append(sets, "theme_revision = theme_revision + 1")
		detail["themes_changed"] = true
	}
	if len(sets) == 0 {
		return nil
	}
	var by *int64
	if actor != 0 {
		by = &actor
	}
	add("updated_by", by)
	err := pgx.BeginFunc(ctx, s.cfg.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE websonic.site_settings SET `+strings.Join(sets, ", ")+
			`, version = version + 1, updated_at = now()`, args...); err != nil {
			return err
		}
		if err := coredb.Audit(ctx, tx, actor, "settings.update", "site", detail); err != nil {
			return err
		}
		return pgnotify.Notify(ctx, tx, s.channel)
	})
	if err != nil {
		return fmt.Errorf("settings: update: %w", err)
	}
	return s.Reload(ctx)
}

var themeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// CheckName accepts a site name: at most MaxNameLen characters, no
// control characters ("" is the default name).
func CheckName(name string) error {
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > MaxNameLen {
		return ErrName
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return ErrName
		}
	}
	return nil
}

var accentRE = regexp.MustCompile(`^#[0-9a-f]{6}$`)

// CheckAccent accepts "" or a #rrggbb colour (lower case) with enough
// contrast with white (a *ContrastError otherwise).
func CheckAccent(accent string) error {
	if accent == "" {
		return nil
	}
	if !accentRE.MatchString(accent) {
		return ErrAccent
	}
	if r := Contrast(accent, "#ffffff"); r < MinContrast {
		return &ContrastError{Ratio: r}
	}
	return nil
}

// Contrast is the WCAG 2 contrast ratio of two #rrggbb colours (1 to 21);
// 1 when either is not a colour.
func Contrast(a, b string) float64 {
	la, ok1 := luminance(a)
	lb, ok2 := luminance(b)
	if !ok1 || !ok2 {
		return 1
	}
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

func luminance(c string) (float64, bool) {
	if len(c) != 7 || c[0] != '#' {
		return 0, false
	}
	raw, err := hex.DecodeString(c[1:])
	if err != nil {
		return 0, false
	}
	lin := func(v byte) float64 {
		f := float64(v) / 255
		if f <= 0.04045 {
			return f / 12.92
		}
		return math.Pow((f+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(raw[0]) + 0.7152*lin(raw[1]) + 0.0722*lin(raw[2]), true
}

// CheckLogo accepts a PNG, JPEG or WebP image of at most MaxLogoBytes and
// MaxLogoPixels a side, and returns its content type. The type is read from
// the bytes, never from a name or a header.
func CheckLogo(b []byte) (string, error) {
	if len(b) > MaxLogoBytes {
		return "", ErrLogoSize
	}
	var ctype string
	var w, h int
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")), bytes.HasPrefix(b, []byte{0xff, 0xd8, 0xff}):
		cfg, format, err := image.DecodeConfig(bytes.NewReader(b))
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrLogoType, err)
		}
		ctype, w, h = "image/"+format, cfg.Width, cfg.Height
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		var err error
		if w, h, err = webpSize(b); err != nil {
			return "", err
		}
		ctype = "image/webp"
	case looksLikeSVG(b):
		return "", ErrLogoSVG
	default:
		return "", ErrLogoType
	}
	if w < 1 || h < 1 || w > MaxLogoPixels || h > MaxLogoPixels {
		return "", ErrLogoDims
	}
	return ctype, nil
}

// webpSize reads a WebP's size from its first chunk (VP8, VP8L or VP8X).
func webpSize(b []byte) (w, h int, err error) {
	bad := fmt.Errorf("%w: not a well-formed WebP image", ErrLogoType)
	if int(binary.LittleEndian.Uint32(b[4:8]))+8 != len(b) || len(b) < 30 {
		return 0, 0, bad
	}
	chunk, data := string(b[12:16]), b[20:]
	switch chunk {
	case "VP8 ":
		if data[3] != 0x9d || data[4] != 0x01 || data[5] != 0x2a {
			return 0, 0, bad
		}
		return int(binary.LittleEndian.Uint16(data[6:8]) & 0x3fff), int(binary.LittleEndian.Uint16(data[8:10]) & 0x3fff), nil
	case "VP8L":
		if data[0] != 0x2f {
			return 0, 0, bad
		}
		v := binary.LittleEndian.Uint32(data[1:5])
		return int(v&0x3fff) + 1, int(v>>14&0x3fff) + 1, nil
	case "VP8X":
		w := int(data[4]) | int(data[5])<<8 | int(data[6])<<16
		h := int(data[7]) | int(data[8])<<8 | int(data[9])<<16
		return w + 1, h + 1, nil
	}
	return 0, 0, bad
}

// looksLikeSVG says whether b looks like an SVG or other XML document.
func looksLikeSVG(b []byte) bool {
	head := bytes.ToLower(bytes.TrimSpace(b[:min(len(b), 1024)]))
	return bytes.HasPrefix(head, []byte("<?xml")) || bytes.Contains(head, []byte("<svg"))
}

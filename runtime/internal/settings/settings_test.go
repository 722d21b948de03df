package settings

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"github.com/websonic/websonic/internal/pgtest"
	"github.com/websonic/websonic/runtime/internal/coredb"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func pngOf(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	img.Set(0, 0, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		accent string
		want   error
	}{{"", nil}, {"#2b59c3", nil}, {"#000000", nil}, {"#ffff00", ErrContrast}, {"#777777", ErrContrast}, {"red", ErrAccent}, {"#2B59C3", ErrAccent}, {"#2b59c", ErrAccent}} {
		if err := CheckAccent(tc.accent); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("CheckAccent(%q) = %v, want %v", tc.accent, err, tc.want)
		}
	}
	if r := Contrast("#000000", "#ffffff"); r < 20.9 || r > 21.1 {
		t.Errorf("black on white: %.2f", r)
	}
	webp := append([]byte("RIFF\x00\x00\x00\x00WEBPVP8L\x0a\x00\x00\x00\x2f\x07\x00\x00\x00"), make([]byte, 10)...)
	webp[4] = byte(len(webp) - 8)
	for _, tc := range []struct {
		name  string
		b     []byte
		ctype string
		want  error
	}{
		{"png", pngOf(64, 32), "image/png", nil},
		{"webp", webp, "image/webp", nil},
		{"svg", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), "", ErrLogoSVG},
		{"bare svg", []byte(`  <svg onload="x()"></svg>`), "", ErrLogoSVG},
		{"html", []byte(`<html><script>alert(1)</script>`), "", ErrLogoType},
		{"truncated png", pngOf(8, 8)[:20], "", ErrLogoType},
		{"too wide", pngOf(5000, 1), "", ErrLogoDims},
		{"too large", append(pngOf(8, 8), make([]byte, MaxLogoBytes)...), "", ErrLogoSize},
		{"bad webp", []byte("RIFF\x04\x00\x00\x00WEBP"), "", ErrLogoType},
	} {
		ctype, err := CheckLogo(tc.b)
		if ctype != tc.ctype || !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, ctype, err, tc.ctype, tc.want)
		}
	}
	for name, ok := range map[string]bool{"": true, "Boulangerie Dupont": true, "a\nb": false, string(make([]rune, 81)): false} {
		if (CheckName(name) == nil) != ok {
			t.Errorf("CheckName(%q) ok = %v", name, !ok)
		}
	}
}

// FuzzCheckLogo: any bytes are accepted as one of the three types or refused.
func FuzzCheckLogo(f *testing.F) {
	f.Add(pngOf(2, 2))
	f.Add([]byte("RIFF\x1a\x00\x00\x00WEBPVP8X\x0a\x00\x00\x00\x00\x00\x00\x00\xff\x0f\x00\xff\x0f\x00"))
	f.Add([]byte("<svg/>"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ctype, err := CheckLogo(b)
		if err == nil && ctype != "image/png" && ctype != "image/jpeg" && ctype != "image/webp" {
			t.Fatalf("accepted as %q", ctype)
		}
	})
}

// TestReplicas: a change made through one store reaches another store on
// the same database (another replica) through the notification, and both
// run OnChange; a refused change changes nothing.
func TestReplicas(t *testing.T) {
	pool := pgtest.NewDB(t).Pool(t, coredb.Migrate)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changed := make(chan *Settings, 10)
	a, err := Open(ctx, Config{Pool: pool, Languages: []string{"en", "fr"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(ctx, Config{Pool: pool, Languages: []string{"en", "fr"}, OnChange: func(s *Settings) { changed <- s }})
	if err != nil {
		t.Fatal(err)
	}
	go b.Run(ctx)
	if got := a.Current(); got.Theme != "builtin" || got.Language != "auto" || got.Logo != nil {
		t.Fatalf("defaults: %+v", got)
	}
	name, accent, lang, logo := "  Chez Nous  ", "#0B5D7A", "fr", pngOf(16, 16)
	if err := a.Update(ctx, 0, Change{Name: &name, Accent: &accent, Language: &lang, Logo: &logo}); err != nil {
		t.Fatal(err)
	}
	if got := a.Current(); got.Name != "Chez Nous" || got.Accent != "#0b5d7a" || got.LogoType != "image/png" || got.LogoHash == "" {
		t.Fatalf("writer's copy: %+v", got)
	}
	deadline := time.After(30 * time.Second)
	for b.Current().Name != "Chez Nous" {
		select {
		case <-changed:
		case <-deadline:
			t.Fatal("the other replica never saw the change")
		}
	}
	if got := b.Current(); got.Language != "fr" || !bytes.Equal(got.Logo, logo) {
		t.Fatalf("other replica: %+v", got)
	}
	bad, other := "#ffff00", "de"
	if err := a.Update(ctx, 0, Change{Accent: &bad}); !errors.Is(err, ErrContrast) {
		t.Fatalf("light accent: %v", err)
	}
	if err := a.Update(ctx, 0, Change{Language: &other}); !errors.Is(err, ErrLanguage) {
		t.Fatalf("unknown language: %v", err)
	}
	var none []byte
	if err := b.Update(ctx, 0, Change{Logo: &none}); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(ctx); err != nil || a.Current().Logo != nil || a.Current().Accent != "#0b5d7a" {
		t.Fatalf("after removing the logo: %+v %v", a.Current(), err)
	}
	var n int
	pool.QueryRow(ctx, `SELECT count(*) FROM websonic.audit_log WHERE action = 'settings.update'`).Scan(&n)
	if n != 2 {
		t.Errorf("%d settings.update entries, want 2", n)
	}
}

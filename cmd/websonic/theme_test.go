package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/websonic/websonic/internal/ocipkg"
)

// TestThemeBuild packs a theme folder (the bundled harbor), and refuses,
// naming the file, what every site would refuse: a script, a template that
// does not parse, a missing asset.
func TestThemeBuild(t *testing.T) {
	write := func(files map[string]string) string {
		dir := t.TempDir()
		if err := os.CopyFS(dir, os.DirFS("../../templates/harbor")); err != nil {
			t.Fatal(err)
		}
		for p, b := range files {
			p = filepath.Join(dir, filepath.FromSlash(p))
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	good := map[string]string{
		"theme.json": `{"name":"sunrise","version":"1.0.0","theme_version":1}`,
	}
	for _, tc := range []struct {
		name  string
		extra map[string]string
		want  string
	}{
		{"good", nil, ""},
		{"script", map[string]string{"assets/app.js": "alert(1)"}, "assets/app.js"},
		{"broken template", map[string]string{"pages/home.html": "{{if .}}"}, "pages/home.html"},
		{"empty stylesheet", map[string]string{"assets/css/harbor.css": ""}, ""},
		{"asset gone", map[string]string{"partials/extra.html": `{{define "extra"}}<img src="{{asset "img/gone.png"}}" alt="">{{end}}`}, "img/gone.png"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range good {
				files[k] = v
			}
			for k, v := range tc.extra {
				files[k] = v
			}
			out := filepath.Join(t.TempDir(), "layout")
			var stdout, stderr bytes.Buffer
			err := run([]string{"theme", "build", write(files), "--out", out}, strings.NewReader(""), &stdout, &stderr)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("got %v, want an error naming %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			th, err := ocipkg.FetchTheme(context.Background(), out, "1.0.0")
			if err != nil || th.Meta.Name != "sunrise" || !strings.Contains(stdout.String(), "theme sunrise@1.0.0") {
				t.Fatalf("built %+v, %v; said %q", th, err, stdout.String())
			}
		})
	}
}

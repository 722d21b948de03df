package modassets

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCheckPath(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"file", "app.js", true},
		{"nested", "js/vendor/lib-1.2_min.js", true},
		{"empty", "", false},
		{"dotdot", "../x.js", false},
		{"inner dotdot", "a/../x.js", false},
		{"dot", "./x.js", false},
		{"hidden", ".env", false},
		{"hidden folder", ".git/config", false},
		{"absolute", "/etc/passwd", false},
		{"backslash", `a\b.js`, false},
		{"trailing slash", "a/", false},
		{"double slash", "a//b", false},
		{"space", "a b.js", false},
		{"percent", "a%2e.js", false},
		{"unicode", "caf\u00e9.js", false},
		{"nul", "a\x00.js", false},
		{"colon", "c:x.js", false},
		{"query", "a.js?x", false},
		{"too long", strings.Repeat("a", MaxPathLen+1), false},
		{"too deep", strings.Repeat("a/", MaxDepth+1) + "x", false},
		{"deep enough", strings.Repeat("a/", MaxDepth) + "x", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPath(tc.path)
			if (err == nil) != tc.ok {
				t.Fatalf("CheckPath(%q) = %v, want ok=%v", tc.path, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrAssets) {
				t.Fatalf("error %v does not wrap ErrAssets", err)
			}
		})
	}
}

func TestFilesCheck(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	many := Files{}
	for i := range MaxFiles + 1 {
		many[filepath.Join("d", strings.Repeat("x", 1+i%50)+string(rune('a'+i%26))+"-"+itoa(i)+".js")] = nil
	}
	total := Files{}
	for i := range MaxTotal/MaxFileSize + 1 {
		total["f"+itoa(i)] = make([]byte, MaxFileSize)
	}
	for _, tc := range []struct {
		name  string
		files Files
		want  string
	}{
		{"ok", Files{"a.js": []byte("x"), "img/b.png": nil}, ""},
		{"case", Files{"A.js": nil, "a.js": nil}, "differ only in case"},
		{"file and folder", Files{"a": nil, "a/b.js": nil}, "both a file and a folder"},
		{"big file", Files{"a.js": big}, "more than"},
		{"many", many, "files, more than"},
		{"total", total, "in all"},
		{"bad path", Files{"../a": nil}, "dot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.files.Check()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Check = %v, want %q", err, tc.want)
			}
		})
	}
}

func itoa(i int) string {
	return strings.TrimLeft(string(rune('0'+i/1000%10))+string(rune('0'+i/100%10))+string(rune('0'+i/10%10))+string(rune('0'+i%10)), "")
}

func TestTarRoundTripIsDeterministic(t *testing.T) {
	f := Files{"app.js": []byte("console.log(1)"), "css/site.css": []byte("body{}"), "empty.txt": nil}
	a, err := Tar(f)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Tar(Files{"empty.txt": nil, "css/site.css": []byte("body{}"), "app.js": []byte("console.log(1)")})
	if !bytes.Equal(a, b) {
		t.Fatal("Tar is not deterministic")
	}
	got, err := Untar(a)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || string(got["app.js"]) != "console.log(1)" || string(got["css/site.css"]) != "body{}" {
		t.Fatalf("Untar = %v", got)
	}
	d1, _ := Digest(f)
	d2, _ := Digest(got)
	if d1 != d2 || len(d1) != 64 {
		t.Fatalf("digests %s, %s", d1, d2)
	}
}

// rawTar writes entries as given, for what Tar never writes.
func rawTar(t testing.TB, entries ...*tar.Header) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range entries {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write(make([]byte, h.Size))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func TestUntarRefuses(t *testing.T) {
	reg := func(name string, size int64) *tar.Header {
		return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644}
	}
	good := rawTar(t, reg("a.js", 1))
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"symlink", rawTar(t, &tar.Header{Typeflag: tar.TypeSymlink, Name: "a.js", Linkname: "/etc/passwd"}), "not a regular file"},
		{"hardlink", rawTar(t, &tar.Header{Typeflag: tar.TypeLink, Name: "a.js", Linkname: "b.js"}), "not a regular file"},
		{"folder", rawTar(t, &tar.Header{Typeflag: tar.TypeDir, Name: "a/"}), "not a regular file"},
		{"dotdot", rawTar(t, reg("../a.js", 1)), "dot"},
		{"absolute", rawTar(t, reg("/a.js", 1)), "clean relative"},
		{"duplicate", rawTar(t, reg("a.js", 1), reg("a.js", 1)), "twice"},
		{"big", rawTar(t, reg("a.js", MaxFileSize+1)), "more than"},
		{"trailing", append(good, 'x'), "after the end"},
		{"truncated header", good[:100], "tar"},
		{"truncated data", rawTar(t, reg("a.js", 2000))[:1000], "tar"},
		{"garbage", []byte("not a tar at all, not at all"), "tar"},
		{"too large", make([]byte, MaxTarSize+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Untar(tc.b)
			if err == nil || !errors.Is(err, ErrAssets) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Untar = %v, want an ErrAssets with %q", err, tc.want)
			}
		})
	}
}

func TestRead(t *testing.T) {
	fsys := fstest.MapFS{
		"assets/app.js":      {Data: []byte("x")},
		"assets/img/a.png":   {Data: []byte("png")},
		"module.json":        {Data: []byte("{}")},
		"migrations/001.sql": {Data: nil},
	}
	f, err := Read(fsys, Dir)
	if err != nil || len(f) != 2 || string(f["img/a.png"]) != "png" {
		t.Fatalf("Read = %v, %v", f, err)
	}
	if f, err := Read(fstest.MapFS{}, Dir); f != nil || err != nil {
		t.Fatalf("no assets folder: %v, %v", f, err)
	}
	for name, fsys := range map[string]fstest.MapFS{
		"hidden":  {"assets/.env": {Data: nil}},
		"symlink": {"assets/a.js": {Mode: 0o777 | 1<<27}},
		"space":   {"assets/a b.js": {}},
		"file":    {"assets": {Data: []byte("x")}},
	} {
		if _, err := Read(fsys, Dir); !errors.Is(err, ErrAssets) {
			t.Errorf("%s: Read = %v, want ErrAssets", name, err)
		}
	}
	// A real symlink on disk.
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "assets"), 0o755)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("s"), 0o644)
	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(dir, "assets", "a.js")); err != nil {
		t.Skip(err)
	}
	if _, err := Read(os.DirFS(dir), Dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("symlink: Read = %v", err)
	}
}

func TestContentType(t *testing.T) {
	for p, want := range map[string]string{
		"a.js": "text/javascript; charset=utf-8", "A.CSS": "text/css; charset=utf-8", "x.svg": "image/svg+xml",
		"f.woff2": "font/woff2", "page.html": Unknown, "noext": Unknown, "x.htm": Unknown, "x.xml": Unknown,
	} {
		if got, _ := ContentType(p); got != want {
			t.Errorf("ContentType(%q) = %q, want %q", p, got, want)
		}
	}
}

func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"a.js", "../a", "a/b/c.css", ".x", "a//b", "", "a\\b", "%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		// Whatever passes is a plain relative path: no dot segments, no
		// escapes, nothing a URL or a file system would read differently.
		if strings.HasPrefix(p, "/") || strings.Contains(p, "//") ||
			strings.ContainsAny(p, "\\%?#: \x00") || filepath.Clean(p) != p || strings.Contains("/"+p, "/.") {
			t.Fatalf("CheckPath accepted %q", p)
		}
	})
}

func FuzzUntar(f *testing.F) {
	ok, _ := Tar(Files{"a.js": []byte("x"), "b/c.css": []byte("y")})
	f.Add(ok)
	f.Add(rawTar(f, &tar.Header{Typeflag: tar.TypeSymlink, Name: "a", Linkname: "b"}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := Untar(b)
		if err != nil {
			return
		}
		if err := files.Check(); err != nil {
			t.Fatalf("Untar returned files that fail Check: %v", err)
		}
		// What Untar accepts, Tar writes back to the same files.
		again, err := Tar(files)
		if err != nil {
			t.Fatal(err)
		}
		files2, err := Untar(again)
		if err != nil || len(files2) != len(files) {
			t.Fatalf("round trip: %v", err)
		}
		for p, d := range files {
			if !bytes.Equal(files2[p], d) {
				t.Fatalf("round trip changed %s", p)
			}
		}
	})
}

package sitedump

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// tarOf returns a tar stream of the given name/data pairs.
func tarOf(entries ...string) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for i := 0; i+1 < len(entries); i += 2 {
		tw.WriteHeader(&tar.Header{Name: entries[i], Size: int64(len(entries[i+1])), Mode: 0o600, Typeflag: tar.TypeReg})
		tw.Write([]byte(entries[i+1]))
	}
	tw.Close()
	return b.Bytes()
}

const validManifest = `{"format":"websonic-site-dump/1","created":"2026-01-02T03:04:05Z","server_major":15,
"core":["websonic","websonic_api"],"core_migrations":["001_core.sql"],
"modules":[{"name":"hello","version":"1.0.0","schema":"mod_hello","ledger":["migrations/001.sql"]}],
"dumps":[{"schema":"websonic","size":3,"sha256":"` + zeros + `"},{"schema":"websonic_api","size":3,"sha256":"` + zeros + `"},
 {"schema":"mod_hello","module":"hello","size":3,"sha256":"` + zeros + `"}],
"tables":[{"schema":"mod_hello","table":"entries","rows":2,"checksum":"-12"}],
"files":[{"path":"uploads/a.txt","size":1,"sha256":"` + zeros + `"}]}`

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"

func TestReadManifest(t *testing.T) {
	m, err := ReadManifest(bytes.NewReader(tarOf("dump.json", validManifest)))
	if err != nil {
		t.Fatal(err)
	}
	if m.Modules[0].Name != "hello" || !m.Created.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("manifest %+v", m)
	}
	for _, c := range []struct{ name, stream, says string }{
		{"not a tar", "hello", ""},
		{"manifest not first", string(tarOf("db/websonic.pgdump", "x", "dump.json", validManifest)), "first entry"},
		{"unknown field", string(tarOf("dump.json", strings.Replace(validManifest, `"format"`, `"extra":1,"format"`, 1))), "unknown field"},
		{"other format", string(tarOf("dump.json", strings.Replace(validManifest, "site-dump/1", "site-dump/2", 1))), "format"},
		{"file escapes", string(tarOf("dump.json", strings.Replace(validManifest, "uploads/a.txt", "../a.txt", 1))), "../a.txt"},
		{"absolute file", string(tarOf("dump.json", strings.Replace(validManifest, "uploads/a.txt", "/etc/passwd", 1))), "/etc/passwd"},
		{"foreign schema", string(tarOf("dump.json", strings.Replace(validManifest, `"schema":"websonic_api"`, `"schema":"websonic_provision"`, 1))), "websonic_provision"},
		{"module dumps another's schema", string(tarOf("dump.json", strings.Replace(validManifest, `"module":"hello"`, `"module":"other"`, 1))), "other"},
		{"bad checksum", string(tarOf("dump.json", strings.Replace(validManifest, `"-12"`, `"x"`, 1))), "checksum"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadManifest(strings.NewReader(c.stream))
			if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.says) {
				t.Errorf("ReadManifest: %v, want ErrFormat saying %q", err, c.says)
			}
		})
	}
}

// FuzzReadManifest feeds the stream reader arbitrary bytes: it must never
// panic, and whatever it accepts must be a valid manifest.
func FuzzReadManifest(f *testing.F) {
	f.Add(tarOf("dump.json", validManifest))
	f.Add(tarOf("dump.json", validManifest, "db/websonic.pgdump", "abc"))
	f.Add(tarOf("dump.json", "{}"))
	f.Add([]byte("not a tar"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ReadManifest(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		// The whole stream reader too: spool checks every entry.
		if _, err := spool(context.Background(), bytes.NewReader(b), t.TempDir(), false, nil); err != nil && !errors.Is(err, ErrFormat) {
			t.Fatalf("spool: %v does not wrap ErrFormat", err)
		}
	})
}

func TestConnInfo(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"postgres://u:p@h:5433/db?sslmode=verify-full&sslrootcert=/x/ca.pem&search_path=a", "sslmode=verify-full sslrootcert=/x/ca.pem"},
		{"host=h user=u password='p w' sslmode=require application_name='a b'", "sslmode=require"},
		{"host=h sslmode='ver\\'y'", "sslmode=ver'y"},
		{"", ""},
	} {
		got := tlsParams(c.in)
		var parts []string
		for _, k := range tlsKeys {
			if v, ok := got[k]; ok {
				parts = append(parts, k+"="+v)
			}
		}
		if s := strings.Join(parts, " "); s != c.want {
			t.Errorf("tlsParams(%q) = %q, want %q", c.in, s, c.want)
		}
	}
}

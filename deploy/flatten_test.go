package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// awkProgram returns the awk program of one of install.sh's functions,
// written as `name() {\n\tawk '...'`.
func awkProgram(t testing.TB, name string) string {
	t.Helper()
	s := string(InstallScript)
	start := strings.Index(s, "\n"+name+"() {\n\tawk '")
	if start < 0 {
		t.Fatalf("install.sh has no function %s running awk", name)
	}
	s = s[start+len("\n"+name+"() {\n\tawk '"):]
	end := strings.Index(s, "'")
	return s[:end]
}

// refFlatten is flatten's specification in Go: one "path\tvalue" line per
// scalar, keys in document order (duplicates kept), strings and keys as
// their JSON text.
func refFlatten(data []byte) (string, error) {
	var out strings.Builder
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var walk func(path string) error
	join := func(path, k string) string {
		if path == "" {
			return k
		}
		return path + "," + k
	}
	quote := func(s string) string {
		b, _ := json.Marshal(s)
		return string(b)
	}
	walk = func(path string) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch v := tok.(type) {
		case json.Delim:
			open, n := v, 0
			for dec.More() {
				if open == '{' {
					k, err := dec.Token()
					if err != nil {
						return err
					}
					if err := walk(join(path, quote(k.(string)))); err != nil {
						return err
					}
				} else if err := walk(join(path, fmt.Sprint(n))); err != nil {
					return err
				}
				n++
			}
			if _, err := dec.Token(); err != nil {
				return err
			}
			if n == 0 {
				fmt.Fprintf(&out, "%s\t%s\n", path, map[json.Delim]string{'{': "{}", '[': "[]"}[open])
			}
		case string:
			fmt.Fprintf(&out, "%s\t%s\n", path, quote(v))
		case json.Number:
			fmt.Fprintf(&out, "%s\t%s\n", path, v)
		case bool:
			fmt.Fprintf(&out, "%s\t%t\n", path, v)
		case nil:
			fmt.Fprintf(&out, "%s\tnull\n", path)
		}
		return nil
	}
	if err := walk(""); err != nil {
		return "", err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "", errors.New("trailing data")
	}
	return out.String(), nil
}

// normalize rewrites flatten's lines with every JSON string (in paths and
// values) decoded and re-encoded, so that escapes spelled differently
// (\u0041 and A) compare equal; it fails on a string Go cannot decode.
func normalize(lines string) (string, error) {
	var out strings.Builder
	for line := range strings.Lines(lines) {
		path, value, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "\t")
		if !ok {
			return "", fmt.Errorf("line without a tab: %q", line)
		}
		var parts []any
		if path != "" {
			if err := json.Unmarshal([]byte("["+path+"]"), &parts); err != nil {
				return "", fmt.Errorf("path %s: %w", path, err)
			}
		}
		var v any
		if value != "{}" && value != "[]" {
			dec := json.NewDecoder(strings.NewReader(value))
			dec.UseNumber()
			if err := dec.Decode(&v); err != nil {
				return "", fmt.Errorf("value %s: %w", value, err)
			}
		} else {
			v = value
		}
		p, _ := json.Marshal(parts)
		fmt.Fprintf(&out, "%s\t%#v\n", p, v)
	}
	return out.String(), nil
}

// FuzzFlatten checks install.sh's awk JSON decoder (which reads what the
// registry sends before anything is verified) against encoding/json: on
// every document Go finds valid, flatten succeeds and yields the same
// scalars at the same paths. Seeds include real TUF metadata.
func FuzzFlatten(f *testing.F) {
	awk, err := exec.LookPath("awk")
	if err != nil {
		f.Skip("no awk")
	}
	prog := awkProgram(f, "flatten")
	for _, seed := range []string{
		`{"signed":{"_type":"targets","expires":"2030-01-01T00:00:00Z","targets":{"runtime/websonic/1.2.3/linux-amd64":{"custom":{"binary_size":12,"revoked":true},"hashes":{"sha256":"ab"},"length":3}},"version":7},"signatures":[{"keyid":"k","sig":"00"}]}`,
		`{"a,b":{"c\"d":[1,-2.5e+3,true,false,null,{},[]]}}`,
		"{\n  \"pretty\": [\n    \"x\\ny\",\n    \"\\u00e9\\/\"\n  ]\n}\n",
		`"just a string"`, `0`, `[]`, `{"k":1,"k":2}`, `{"a":1}x`, `{"a":}`, `[1,]`, `{"a" 1}`, `"unterminated`, `01`, `1.`, `tru`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.IndexByte(data, 0) >= 0 || !json.Valid(data) {
			return // the property is about valid documents; invalid ones are refused or bounded by signatures
		}
		want, err := refFlatten(data)
		if err != nil {
			t.Skip("not one value")
		}
		cmd := exec.Command(awk, prog)
		cmd.Stdin = bytes.NewReader(data)
		got, err := cmd.Output()
		if err != nil {
			t.Fatalf("flatten refused valid JSON %q: %v", data, err)
		}
		g, err := normalize(string(got))
		if err != nil {
			t.Fatalf("flatten of %q printed %q: %v", data, got, err)
		}
		w, _ := normalize(want)
		if g != w {
			t.Fatalf("flatten of %q:\n got %s\nwant %s", data, g, w)
		}
	})
}

// TestFlattenRefuses: flatten fails on what is not one JSON value.
func TestFlattenRefuses(t *testing.T) {
	prog := awkProgram(t, "flatten")
	for _, in := range []string{``, `{"a":1}x`, `{"a":}`, `[1,]`, `{"a" 1}`, `"unterminated`, `01`, `1.`, `tru`, `{"a":1`, `{'a':1}`} {
		cmd := exec.Command("awk", prog)
		cmd.Stdin = strings.NewReader(in)
		if out, err := cmd.Output(); err == nil {
			t.Errorf("flatten accepted %q: %q", in, out)
		}
	}
}

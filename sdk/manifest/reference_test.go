package manifest_test

import (
	"encoding/json"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/websonic/websonic/sdk/manifest"
)

// fieldPaths lists the JSON paths of every field of type t, as the
// reference names them: "capabilities.routes[].path" for a list's
// elements, "capabilities.config_schema.*.type" for a map's values.
func fieldPaths(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		path := prefix + name
		out = append(out, path)
		ft := f.Type
		switch ft.Kind() {
		case reflect.Slice:
			if ft.Elem().Kind() == reflect.Struct {
				out = append(out, fieldPaths(ft.Elem(), path+"[].")...)
			}
		case reflect.Map:
			if ft.Elem().Kind() == reflect.Struct {
				out = append(out, fieldPaths(ft.Elem(), path+".*.")...)
			}
		case reflect.Struct:
			out = append(out, fieldPaths(ft, path+".")...)
		}
	}
	return out
}

// jsonPaths lists the paths, in fieldPaths' form, that a decoded JSON
// value v uses.
func jsonPaths(v any, prefix string, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			path := prefix + k
			if strings.HasSuffix(prefix, "config_schema.") {
				path = strings.TrimSuffix(prefix, ".") + ".*" // a key of the map, not a field
				jsonPaths(e, path+".", out)
				continue
			}
			out[path] = true
			jsonPaths(e, path+".", out)
		}
	case []any:
		for _, e := range v {
			jsonPaths(e, strings.TrimSuffix(prefix, ".")+"[].", out)
		}
	}
}

var (
	// A reference table row: | `path` | type | required | default | limits | example |
	referenceRow = regexp.MustCompile("(?m)^\\| `([a-z_.\\[\\]*]+)` \\|(?:[^|\\n]*\\|){5}\\s*$")
	jsonBlock    = regexp.MustCompile("(?s)```json\n(.*?)```")
)

func readReference(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestReferenceNamesEveryField keeps README.md, the manifest reference,
// true: every field of Manifest (and of what it holds) has a row of its
// own, with a type, required or optional, a default, limits and an
// example, and every row names a field that exists.
func TestReferenceNamesEveryField(t *testing.T) {
	doc := readReference(t)
	fields := fieldPaths(reflect.TypeFor[manifest.Manifest](), "")
	var rows []string
	for _, m := range referenceRow.FindAllStringSubmatch(doc, -1) {
		rows = append(rows, m[1])
		cells := strings.Split(strings.Trim(m[0], "| \n"), "|")
		if req := strings.TrimSpace(cells[2]); req != "required" && req != "optional" {
			t.Errorf("row %s: the third column says %q, not required or optional", m[1], req)
		}
		for i, c := range cells {
			if strings.TrimSpace(c) == "" {
				t.Errorf("row %s: column %d is empty", m[1], i+1)
			}
		}
	}
	for _, f := range fields {
		if !slices.Contains(rows, f) {
			t.Errorf("the reference has no row for field %s", f)
		}
	}
	for _, r := range rows {
		if !slices.Contains(fields, r) {
			t.Errorf("the reference documents %s, which is not a field", r)
		}
	}
	for i, r := range rows {
		if slices.Contains(rows[:i], r) {
			t.Errorf("the reference has two rows for %s", r)
		}
	}
}

// TestReferenceExamples decodes the reference's JSON examples: the first
// (the complete example) must be valid and use every field.
func TestReferenceExamples(t *testing.T) {
	doc := readReference(t)
	blocks := jsonBlock.FindAllStringSubmatch(doc, -1)
	if len(blocks) == 0 {
		t.Fatal("no ```json example")
	}
	full := []byte(blocks[0][1])
	if _, err := manifest.Decode(full); err != nil {
		t.Fatalf("the complete example does not decode: %v", err)
	}
	var generic any
	if err := json.Unmarshal(full, &generic); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	jsonPaths(generic, "", used)
	for _, f := range fieldPaths(reflect.TypeFor[manifest.Manifest](), "") {
		if !used[f] {
			t.Errorf("the complete example does not use field %s", f)
		}
	}
	minimal := regexp.MustCompile("smallest valid manifest is `(\\{.*?\\})`").FindStringSubmatch(doc)
	if minimal == nil {
		t.Fatal("no smallest valid manifest")
	}
	if _, err := manifest.Decode([]byte(minimal[1])); err != nil {
		t.Errorf("the smallest manifest does not decode: %v", err)
	}
}

// TestReferenceNamesEveryUserAction: the user_actions row says what each
// of UserActionList does.
func TestReferenceNamesEveryUserAction(t *testing.T) {
	doc := readReference(t)
	var row string
	for _, m := range referenceRow.FindAllStringSubmatch(doc, -1) {
		if m[1] == "capabilities.user_actions" {
			row = m[0]
		}
	}
	if row == "" {
		t.Fatal("no row for capabilities.user_actions")
	}
	for _, a := range manifest.UserActionList {
		if !strings.Contains(row, "`"+a+"` (") {
			t.Errorf("the user_actions row does not describe %q", a)
		}
	}
}

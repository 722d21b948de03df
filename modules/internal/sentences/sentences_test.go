package sentences

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestExtract(t *testing.T) {
	dir := t.TempDir()
	src := `package x

import ("fmt"; "example/jsonapi")

func f(name string, n int) {
	_ = jsonapi.BadRequest("Give a name.")
	_ = badRequest("There is no user " + name + ".")
	_ = jsonapi.Conflict(fmt.Sprintf("At most %d tickets, %s.", n, name))
	_ = jsonapi.PathID(nil, "id", "No such ticket.")
	_ = &jsonapi.Error{Status: 400, Code: "x", Msg: "Keyed."}
	_ = &apiError{400, "x", "Unkeyed."}
	_ = map[string]string{"error": "In a map.", "other": "Not this."}
	_ = other("Not this either.")
	_ = badRequest(name)
}
`
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Extract([]string{dir}, JSONAPI().With(map[string]int{"badRequest": 0}, "apiError"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"At most {a} tickets, {b}.", "Give a name.", "In a map.", "Keyed.", "No such ticket.", "There is no user {a}.", "Unkeyed."}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}

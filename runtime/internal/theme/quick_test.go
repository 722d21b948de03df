package theme

import (
	"io/fs"
	"testing"

	"github.com/websonic/websonic/templates"
)

func TestQuick(t *testing.T) {
	if _, err := Load(BuiltinFS()); err != nil {
		t.Fatal(err)
	}
	for _, n := range templates.Names {
		sub, _ := fs.Sub(templates.FS, n)
		if _, err := Load(sub); err != nil {
			t.Fatal(err)
		}
	}
}

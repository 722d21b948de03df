package engine

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// commandWasm builds the hostile test module the wrong way, as a WASI
// command (no -buildmode=c-shared): it exports _start instead of
// _initialize, with the SDK's exports all there.
func commandWasm(t *testing.T) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "command.wasm")
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, ".")
	cmd.Dir = filepath.Join("..", "testmodules", "hostile")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return wasm
}

// TestBuiltAsCommand compiles one real module built both ways, in every
// deadline mode (instrumented or not, since the instrumenter reads the
// module first): the reactor compiles, the command is refused with the
// hint sdk/ABI.md promises, saying what is wrong and the command that
// builds it right.
func TestBuiltAsCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module to wasm twice")
	}
	reactor, err := hostileWasm()
	if err != nil {
		t.Fatal(err)
	}
	command := commandWasm(t)
	for _, mode := range []struct {
		name string
		mode DeadlineMode
	}{{"yield", DeadlineYield}, {"context", DeadlineContext}} {
		t.Run(mode.name, func(t *testing.T) {
			e := newEngine(t, Config{Deadlines: mode.mode})
			m, err := e.Compile(context.Background(), "hostile", reactor)
			if err != nil {
				t.Fatalf("the reactor build: %v", err)
			}
			m.Close(context.Background())

			_, err = e.Compile(context.Background(), "hostile", command)
			if !errors.Is(err, ErrABI) {
				t.Fatalf("the command build: err = %v, want ErrABI", err)
			}
			for _, want := range []string{
				"hostile: built as a command (it exports _start, not _initialize)",
				"GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o module.wasm .",
			} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("err = %v\nwant it to say %q", err, want)
				}
			}
		})
	}
}

package pgtest

import (
	"fmt"
	"strings"
	"testing"
)

// fatalTB records Fatal and stops the helper like t.Fatal would.
type fatalTB struct {
	testing.TB
	msg string
}

type fatalCalled struct{}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatal(args ...any) {
	f.msg = fmt.Sprint(args...)
	panic(fatalCalled{})
}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(fatalCalled{})
}

func TestNewDBWithoutMain(t *testing.T) {
	saved := current
	current = nil
	defer func() { current = saved }()

	tb := &fatalTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil {
				if _, ok := r.(fatalCalled); !ok {
					panic(r)
				}
			}
		}()
		NewDB(tb)
	}()
	if !strings.Contains(tb.msg, "pgtest.Main") {
		t.Errorf("Fatal message %q does not say to call pgtest.Main", tb.msg)
	}
}

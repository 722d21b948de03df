package backup

import (
	"errors"
	"fmt"
	"testing"
)

// TestErrorText: an Error names its stage once, whatever its cause's own
// package prefix, and still matches the cause with errors.Is.
func TestErrorText(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  *Error
		want string
		is   error
	}{
		{"sentinel of this package", &Error{StageKeys, ErrNoKey}, "backup: keys: no encryption key: give", ErrNoKey},
		{"wrapped sentinel", &Error{StageKeys, fmt.Errorf("%w (the site's backup settings)", ErrNoKey)}, "backup: keys: no encryption key", ErrNoKey},
		{"other package", &Error{StageDump, errors.New("sitedump: pg_dump failed")}, "backup: dump: sitedump: pg_dump failed", nil},
		{"bare", &Error{StageWrite, errors.New("disk full")}, "backup: write: disk full", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.err.Error()
			if len(got) < len(tt.want) || got[:len(tt.want)] != tt.want {
				t.Errorf("Error() = %q, want it to start with %q", got, tt.want)
			}
			if tt.is != nil && !errors.Is(tt.err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", tt.err, tt.is)
			}
		})
	}
}

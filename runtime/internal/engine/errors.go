package engine

import (
	"errors"
	"fmt"
)

var (
	// ErrABI is wrapped when a module does not speak this runtime's ABI:
	// missing exports, unknown imports, or another ABI version.
	ErrABI = errors.New("engine: module does not match the host ABI (sdk/ABI.md)")
	// ErrBusy is returned when no instance became free within the pool's
	// acquire timeout (the caller should answer 503).
	ErrBusy = errors.New("engine: all module instances are busy")
	// ErrTimeout is wrapped when a guest call ran past its deadline.
	ErrTimeout = errors.New("engine: module call exceeded its deadline")
	// ErrTrap is wrapped when a guest call failed inside the guest: a wasm
	// trap, a Go panic, running out of memory, or a bad pointer to a host
	// function.
	ErrTrap = errors.New("engine: module call failed")
	// ErrBadResponse is wrapped when the guest returned something that is
	// not a valid response.
	ErrBadResponse = errors.New("engine: module returned an invalid response")
	// ErrClosed is returned by a closed pool.
	ErrClosed = errors.New("engine: pool closed")
)

// hostFault is panicked by host functions when the guest broke the ABI
// contract (a pointer out of range, a malformed message). wazero turns the
// panic into an error of the guest call, which fails that call only.
type hostFault struct{ msg string }

func (f *hostFault) Error() string { return "host ABI violation: " + f.msg }

func fault(format string, args ...any) { panic(&hostFault{msg: fmt.Sprintf(format, args...)}) }

//go:build !wasip1

package hostcall

// DB sends an encoded abi.DBRequest and returns the encoded abi.DBResult.
func DB(req []byte) ([]byte, error) { return nil, ErrNotInRuntime }

// Config returns the module's configuration as a JSON object.
func Config() ([]byte, error) { return nil, ErrNotInRuntime }

// Log sends an encoded abi.LogRecord; outside the runtime it is dropped.
func Log(level uint32, rec []byte) {}

// Host sends an encoded abi.HostCall and returns the encoded abi.HostReply.
func Host(call []byte) ([]byte, error) { return nil, ErrNotInRuntime }

package abi

// Version is the ABI version this package describes. A guest reports the
// version it was built against through ExportABIVersion; the host refuses to
// load a module whose version it does not speak.
const Version uint32 = 1

// HostModule is the wasm import module name of the host functions.
const HostModule = "websonic"

// Functions the host provides to the guest (imports of module HostModule).
//
// All pointers and lengths are uint32 offsets into the guest's linear memory.
// The host bounds-checks every one of them; an out-of-range pointer traps the
// call that passed it (the request fails, the instance is discarded).
// The host never calls back into the guest from inside these functions.
const (
	// ImportLog is log(level u32, ptr u32, len u32): ptr/len hold a LogRecord.
	ImportLog = "log"
	// ImportDB is db(in_ptr, in_len, out_ptr, out_cap u32) -> u64.
	// in holds a DBRequest. The result is a DBResult of n bytes; the return
	// value is n. If n <= out_cap the result has been written at out_ptr;
	// otherwise nothing was written and the guest must call take with a
	// buffer of at least n bytes to receive it.
	ImportDB = "db"
	// ImportConfig is config(out_ptr, out_cap u32) -> u64, with the same
	// result convention as db; the result is the module's configuration as a
	// JSON object (the site owner's values for the manifest's config schema).
	ImportConfig = "config"
	// ImportTake is take(out_ptr, out_cap u32) -> u32: copies the pending
	// result of the last db or config call into the guest buffer and returns
	// its length. It traps if nothing is pending or out_cap is too small.
	ImportTake = "take"
	// ImportYield is yield(): the host regains control of a running guest.
	// The host instruments every module to call it every few thousand loop
	// iterations; there it checks the call's deadline (and traps the call
	// once it has passed) and lets the Go scheduler and garbage collector
	// run. A module must import it (the SDK calls it once at start).
	ImportYield = "yield"
)

// GoBuildCommand is how a Go module is built into a guest of this ABI, run
// in the module's folder: a WASI reactor (-buildmode=c-shared), which
// exports ExportInitialize. A plain `go build` makes a WASI command instead,
// which exports _start and is refused at load.
const GoBuildCommand = "GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o module.wasm ."

// Functions the guest exports.
const (
	// ExportInitialize is the WASI reactor start function, called once after
	// instantiation (Go runs package init functions there).
	ExportInitialize = "_initialize"
	// ExportABIVersion is websonic_abi_version() -> u32.
	ExportABIVersion = "websonic_abi_version"
	// ExportAlloc is websonic_alloc(n u32) -> ptr u32: a guest buffer of at
	// least n bytes that the host may write into; valid until the next call
	// of any guest export.
	ExportAlloc = "websonic_alloc"
	// ExportHTTP is websonic_http(ptr, len u32) -> u64: ptr/len hold an
	// HTTPRequest (written by the host into a buffer from websonic_alloc);
	// the result is ptr<<32|len of an HTTPResponse in guest memory, valid
	// until the next call of any guest export.
	ExportHTTP = "websonic_http"
)

// PackResult packs a guest pointer and length into the u64 result
// convention.
func PackResult(ptr, n uint32) uint64 { return uint64(ptr)<<32 | uint64(n) }

// UnpackResult is the inverse of PackResult.
func UnpackResult(v uint64) (ptr, n uint32) { return uint32(v >> 32), uint32(v) }

// Paths the host itself calls a module on, through ExportHTTP. They are
// never client requests: the manifest refuses routes under HostPathPrefix
// and the runtime never forwards a client's request below it to a module.
const (
	// HostPathPrefix starts every path reserved for the host's own calls.
	HostPathPrefix = "/_websonic/"
	// HealthPath is the health entry point: the host sends GET HealthPath
	// (no user, no body) to a freshly started module version before it
	// serves, and the module answers a 2xx status when it is healthy. Any
	// other status, a trap or a timeout marks it unhealthy.
	HealthPath = HostPathPrefix + "health"
)

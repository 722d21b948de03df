package abi

// Version is the ABI version this package describes. A guest reports the
// version it was built against through ExportABIVersion; the host refuses to
// load a module whose version it does not speak.
//
// Version 2 adds ImportHost (the host services: realtime, outbound HTTP,
// user services, privacy) and the host paths below HostPathPrefix for the
// host's calls into a module (subscriptions, client messages, commands,
// jobs, user export and erasure). A v1 guest is a valid v2 guest that
// imports no host service and answers 404 on those paths.
const Version uint32 = 2

// MinVersion is the oldest ABI version the host still speaks.
const MinVersion uint32 = 1

// Speaks reports whether a host of this package runs guests of version v.
func Speaks(v uint32) bool { return v >= MinVersion && v <= Version }

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
	// ImportHost is host(in_ptr, in_len, out_ptr, out_cap u32) -> u64
	// (ABI v2), with the result convention of db: in holds a HostCall
	// naming a host service and its request; the result is a HostReply.
	ImportHost = "host"
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

	// The host's calls into a module of ABI v2 (ABI.md, section 4.3 and
	// the services' sections). Each is a POST with a JSON body; a guest
	// that does not know one answers 404, which the host reads as "no".

	// RealtimeSubscribePath asks whether the request's user may
	// subscribe to a topic: a 2xx answer allows it, anything else refuses.
	RealtimeSubscribePath = HostPathPrefix + "realtime/subscribe"
	// RealtimeMessagePath delivers a message a client sent on a topic.
	RealtimeMessagePath = HostPathPrefix + "realtime/message"
	// CommandPathPrefix + name runs an admin command.
	CommandPathPrefix = HostPathPrefix + "commands/"
	// JobPathPrefix + name runs a scheduled job.
	JobPathPrefix = HostPathPrefix + "jobs/"
	// UserExportPath asks for a user's data (a JSON document).
	UserExportPath = HostPathPrefix + "users/export"
	// UserErasePath asks the module to remove or anonymise a user's data.
	UserErasePath = HostPathPrefix + "users/erase"
	// AdminPagePathPrefix + name asks for an admin page's HTML fragment
	// (ABI.md, section 18).
	AdminPagePathPrefix = HostPathPrefix + "admin/pages/"
)

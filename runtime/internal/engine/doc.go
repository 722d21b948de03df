// Package engine runs Web Sonic modules: Go reactors compiled to wasm, under
// wazero, behind the host ABI, versions 1 and 2 (package abi).
//
// An Engine owns one wazero runtime with a shared on-disk compilation cache
// and the host module "websonic". Compile checks a module's imports and
// exports against the ABI before anything runs. A Pool keeps warm instances
// of one compiled module version and runs one call per instance at a time
// (wazero functions are not goroutine-safe and Go guests are single
// threaded); see Pool for acquisition, recycling and discard rules.
//
// # Safety
//
// Every pointer and length a guest passes to a host function is
// bounds-checked; a bad one traps that call (the request fails, the instance
// is discarded), never the host. Host functions never call back into the
// guest. Each call runs under a deadline (the instance is closed when it
// passes) and every instance under a memory page limit. Guest memory views
// are copied before the guest runs again.
//
// Engine, Module and Pool are safe for concurrent use.
package engine

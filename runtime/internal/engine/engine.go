package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/websonic/websonic/sdk/abi"
)

// Config configures an Engine. The zero value of each field means its
// default.
type Config struct {
	// CacheDir holds wazero's compilation cache, shared by every module and
	// kept across restarts. "" compiles in memory only.
	CacheDir string
	// MemoryLimitPages caps every instance's linear memory, in 64 KiB
	// pages. 0 means 2048 (128 MiB).
	MemoryLimitPages uint32
	// Deadlines chooses how a guest call is stopped at its deadline
	// (DeadlineYield).
	Deadlines DeadlineMode
	// AnonymousCode keeps machine code where wazero puts it, in anonymous
	// memory, all of it resident, instead of mapping it from an unlinked
	// file in CacheDir so that only the pages that run are resident
	// (codesize_linux.go). For comparison in benchmarks. Without CacheDir
	// code is always anonymous.
	AnonymousCode bool
	// HeapMemory keeps guest linear memory in Go slices (wazero's default)
	// instead of a mapping per instance that costs only the pages the guest
	// touches (linmem.go). For comparison in benchmarks; on platforms other
	// than Linux it is always so.
	HeapMemory bool
	// Logger receives engine events; module output goes to
	// Logger.Named("module").Named(name). nil means no logging.
	Logger hclog.Logger
}

// DeadlineMode is how the engine stops a guest call that passes its
// deadline.
type DeadlineMode int

const (
	// DeadlineYield instruments each module with a countdown at every loop
	// header that calls the host's yield every YieldEvery iterations; yield
	// traps the call once its deadline has passed. The default.
	DeadlineYield DeadlineMode = iota
	// DeadlineContext uses wazero's WithCloseOnContextDone, whose check at
	// every loop header is a call out to Go: 4-12x slower for Go guests
	// (BENCHMARKS.md). Kept for comparison.
	DeadlineContext
	// DeadlineNone does not stop guest calls at all: a guest that loops
	// forever holds its instance forever. Benchmarks only.
	DeadlineNone
)

// Engine compiles and instantiates modules.
type Engine struct {
	cfg   Config
	rt    wazero.Runtime
	cache wazero.CompilationCache
	log   hclog.Logger
	mem   memStats
	// code is where each wasm digest's machine code was mapped when it was
	// compiled (wazero shares the code of identical bytes), under compileMu.
	code map[[sha256.Size]byte][]span
}

// compileMu serialises the compilations of every engine in the process,
// so that the machine code each maps can be told apart in the process's
// mappings (/proc/self/maps is one for the whole process): with two
// engines compiling at once, one could take the other's new code for its
// own, and re-map a range the other has meanwhile released and reused. It
// is the process's lock because what it guards is the process's.
var compileMu sync.Mutex

// New starts an engine: the wazero runtime, WASI, and the websonic host
// module.
func New(ctx context.Context, cfg Config) (*Engine, error) {
	if cfg.MemoryLimitPages == 0 {
		cfg.MemoryLimitPages = 2048
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	rc := wazero.NewRuntimeConfig().
		WithMemoryLimitPages(cfg.MemoryLimitPages).
		WithCloseOnContextDone(cfg.Deadlines == DeadlineContext)
	var cache wazero.CompilationCache
	if cfg.CacheDir != "" {
		if err := os.MkdirAll(cfg.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("engine: cache dir: %w", err)
		}
		c, err := wazero.NewCompilationCacheWithDir(cfg.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("engine: cache dir: %w", err)
		}
		cache = c
		rc = rc.WithCompilationCache(c)
	}
	e := &Engine{cfg: cfg, rt: wazero.NewRuntimeWithConfig(ctx, rc), cache: cache, log: cfg.Logger, code: map[[sha256.Size]byte][]span{}}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, e.rt); err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("engine: wasi: %w", err)
	}
	if err := instantiateHost(ctx, e.rt); err != nil {
		e.Close(ctx)
		return nil, fmt.Errorf("engine: host module: %w", err)
	}
	return e, nil
}

// Close closes every module and pool instance the engine made.
func (e *Engine) Close(ctx context.Context) error {
	err := e.rt.Close(ctx)
	if e.cache != nil {
		err = errors.Join(err, e.cache.Close(ctx))
	}
	return err
}

// Module is a compiled module, ready to be pooled.
type Module struct {
	name     string
	compiled wazero.CompiledModule
	// code is where its machine code is mapped (nil: unknown), fileBacked
	// whether the engine mapped it from a file (codesize_linux.go);
	// wasmBytes the size of the wasm wazero decoded, which it keeps decoded
	// on the Go heap.
	code       []span
	fileBacked bool
	wasmBytes  int64
}

// codeBytes is the module's machine code in memory: the resident pages of
// a file-backed mapping, or the whole anonymous mapping (always resident);
// -1 if unknown.
func (m *Module) codeBytes() int64 {
	switch {
	case m.code == nil:
		return -1
	case m.fileBacked:
		return resident(m.code)
	default:
		return size(m.code)
	}
}

// Name is the module's name.
func (m *Module) Name() string { return m.name }

// Close releases the compiled code.
func (m *Module) Close(ctx context.Context) error { return m.compiled.Close(ctx) }

// Compile compiles wasm (from the shared cache when it has seen the same
// bytes before) and checks it against the host ABI. Callers verify the bytes
// (digest, signature) before and pass exactly the verified slice.
func (e *Engine) Compile(ctx context.Context, name string, wasm []byte) (*Module, error) {
	if e.cfg.Deadlines == DeadlineYield {
		var err error
		if wasm, err = instrument(wasm); err != nil {
			return nil, fmt.Errorf("engine: compile %s: %w", name, err)
		}
	}
	digest := sha256.Sum256(wasm)
	compileMu.Lock()
	before, serr := execSpans()
	cm, err := e.rt.CompileModule(ctx, wasm)
	if err != nil {
		compileMu.Unlock()
		return nil, fmt.Errorf("engine: compile %s: %w", name, err)
	}
	mod := &Module{name: name, compiled: cm, wasmBytes: int64(len(wasm))}
	var after []span
	if serr == nil {
		after, serr = execSpans()
	}
	if code := added(before, after); serr == nil && len(code) > 0 {
		// New code: this compilation's. Map it from a file when there is a
		// folder on disk for it.
		mod.code = code
		if e.cfg.CacheDir != "" && !e.cfg.AnonymousCode {
			if err := fileBack(e.cfg.CacheDir, code); err != nil {
				e.log.Warn("machine code stays in anonymous memory", "module", name, "error", err)
			} else {
				mod.fileBacked = true
			}
		}
		e.code[digest] = code
	} else if code, ok := e.code[digest]; ok {
		mod.code = code // the same bytes, compiled before: wazero shares the code
		mod.fileBacked = e.cfg.CacheDir != "" && !e.cfg.AnonymousCode
	}
	compileMu.Unlock()
	if err := checkABI(cm); err != nil {
		cm.Close(ctx)
		return nil, fmt.Errorf("%w: %s: %w", ErrABI, name, err)
	}
	return mod, nil
}

var wantExports = map[string]struct{ params, results []api.ValueType }{
	abi.ExportInitialize: {nil, nil},
	abi.ExportABIVersion: {nil, []api.ValueType{api.ValueTypeI32}},
	abi.ExportAlloc:      {[]api.ValueType{api.ValueTypeI32}, []api.ValueType{api.ValueTypeI32}},
	abi.ExportHTTP:       {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32}, []api.ValueType{api.ValueTypeI64}},
}

// commandStart is the start function of a WASI command, which is what
// `go build` without -buildmode=c-shared makes: its main runs once and the
// instance is done, so it cannot serve calls.
const commandStart = "_start"

// checkABI verifies imports and exports before anything is instantiated,
// so a module built for another ABI fails with a clear message.
func checkABI(cm wazero.CompiledModule) error {
	exports := cm.ExportedFunctions()
	_, initialize := exports[abi.ExportInitialize]
	if _, start := exports[commandStart]; start && !initialize {
		return fmt.Errorf("built as a command (it exports %s, not %s): build it as a reactor with %s",
			commandStart, abi.ExportInitialize, abi.GoBuildCommand)
	}
	if _, ok := exports[abi.ExportABIVersion]; !ok {
		return fmt.Errorf("no %s export: not built with the Web Sonic SDK (import github.com/websonic/websonic/sdk and call sdk.Handle from init)", abi.ExportABIVersion)
	}
	for name, sig := range wantExports {
		def, ok := exports[name]
		if !ok {
			return fmt.Errorf("missing export %s", name)
		}
		if !equalTypes(def.ParamTypes(), sig.params) || !equalTypes(def.ResultTypes(), sig.results) {
			return fmt.Errorf("export %s has the wrong signature", name)
		}
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return errors.New("missing exported memory")
	}
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case abi.HostModule:
			sig, ok := hostFuncs[name]
			if !ok {
				return fmt.Errorf("imports unknown host function %s.%s (built for a newer ABI?)", mod, name)
			}
			if !equalTypes(imp.ParamTypes(), sig.params) || !equalTypes(imp.ResultTypes(), sig.results) {
				return fmt.Errorf("imports %s.%s with the wrong signature", mod, name)
			}
		default:
			return fmt.Errorf("imports from unknown module %q", mod)
		}
	}
	return nil
}

func equalTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// maxSleep bounds one guest sleep (WASI poll_oneoff on a clock), so that a
// sleeping guest keeps running loops, and so reaches its deadline check.
const maxSleep = 10 * time.Millisecond

// moduleConfig is the per-instance wazero configuration.
func (e *Engine) moduleConfig(out *lineWriter) wazero.ModuleConfig {
	return wazero.NewModuleConfig().
		WithNanosleep(func(ns int64) { time.Sleep(min(time.Duration(ns), maxSleep)) }).
		WithName(""). // anonymous: many instances of one module coexist
		WithStartFunctions(abi.ExportInitialize).
		WithStdout(out).
		WithStderr(out).
		WithSysWalltime().
		WithSysNanotime().
		WithRandSource(rand.Reader)
}

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/websonic/websonic/sdk/abi"
)

// DBSession runs the database requests of one guest call. Do takes an
// encoded abi.DBRequest and returns an encoded abi.DBResult; database errors
// travel inside the result. The request bytes are only valid during Do.
type DBSession interface {
	Do(ctx context.Context, req []byte) []byte
}

// Services answers one guest call's host-service calls (abi.ImportHost).
// Serve gets a service's name and its request (valid only during Serve)
// and returns the answer. An *abi.HostError reaches the guest as it is;
// any other error as abi.HostErrFailed with its message. Serve runs on the
// guest's goroutine, so the guest waits for it: a service bounds its own
// time (ctx carries the call's deadline).
type Services interface {
	Serve(ctx context.Context, service string, payload []byte) ([]byte, error)
}

// CallEnv is what one guest call may reach. The pool's owner supplies it;
// the engine passes it to the host functions through the call's context.
type CallEnv struct {
	DB       DBSession    // nil: the module has no database
	Services Services     // nil: every service is unknown to the module
	Config   []byte       // the module's configuration, a JSON object
	Logger   hclog.Logger // the module's logger
}

// Limits on what a guest can hand the host in one host call.
const (
	maxLogRecord    = 64 << 10
	maxLogsPerCall  = 1000
	maxDBRequest    = 16 << 20
	maxHostCall     = 16 << 20
	defaultConfigJS = "{}"
)

type callStateKey struct{}

// callState is the host's side of one guest call.
type callState struct {
	env      *CallEnv
	pending  []byte // result waiting for take
	logs     int
	deadline time.Time // zero: none
	timedOut bool      // yield stopped the call at its deadline
}

func stateOf(ctx context.Context) *callState {
	st, _ := ctx.Value(callStateKey{}).(*callState)
	if st == nil {
		// A host function called outside a pool call (cannot happen
		// through Pool, which always sets one) gets an empty environment.
		st = &callState{env: &CallEnv{Logger: hclog.NewNullLogger()}}
	}
	return st
}

func withState(ctx context.Context, st *callState) context.Context {
	return context.WithValue(ctx, callStateKey{}, st)
}

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type hostFunc struct {
	params, results []api.ValueType
	fn              api.GoModuleFunc
}

// hostFuncs is the ABI's import table (v2: v1's and host); checkABI validates modules against it.
var hostFuncs = map[string]hostFunc{
	abi.ImportLog:    {[]api.ValueType{i32, i32, i32}, nil, hostLog},
	abi.ImportDB:     {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}, hostDB},
	abi.ImportConfig: {[]api.ValueType{i32, i32}, []api.ValueType{i64}, hostConfig},
	abi.ImportTake:   {[]api.ValueType{i32, i32}, []api.ValueType{i32}, hostTake},
	abi.ImportYield:  {nil, nil, hostYield},
	abi.ImportHost:   {[]api.ValueType{i32, i32, i32, i32}, []api.ValueType{i64}, hostService},
}

// deadlineFault stops a guest call that ran past its deadline.
type deadlineFault struct{}

func (deadlineFault) Error() string { return "the call ran past its deadline" }

// hostYield is reached every engine.YieldEvery loop iterations of an
// instrumented guest: being Go code, it lets the Go runtime stop the
// goroutine (for garbage collection), and it traps the call once its
// deadline has passed.
func hostYield(ctx context.Context, _ api.Module, _ []uint64) {
	st := stateOf(ctx)
	if !st.deadline.IsZero() && time.Now().After(st.deadline) {
		st.timedOut = true
		panic(deadlineFault{})
	}
}

func instantiateHost(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.HostModule)
	for name, f := range hostFuncs {
		b.NewFunctionBuilder().WithGoModuleFunction(f.fn, f.params, f.results).Export(name)
	}
	_, err := b.Instantiate(ctx)
	return err
}

// view returns guest memory [ptr, ptr+n) or faults. The view aliases guest
// memory: callers use it before the guest runs again, or copy it.
func view(mod api.Module, ptr, n uint32, what string) []byte {
	b, ok := mod.Memory().Read(ptr, n)
	if !ok {
		fault("%s: [%d, %d) outside guest memory of %d bytes", what, ptr, uint64(ptr)+uint64(n), mod.Memory().Size())
	}
	return b
}

func hostLog(ctx context.Context, mod api.Module, stack []uint64) {
	level, ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
	if n > maxLogRecord {
		fault("log: record of %d bytes exceeds %d", n, maxLogRecord)
	}
	b := view(mod, ptr, n, "log")
	var rec abi.LogRecord
	if err := rec.Unmarshal(b); err != nil {
		fault("log: %v", err)
	}
	st := stateOf(ctx)
	st.logs++
	switch {
	case st.logs == maxLogsPerCall+1:
		st.env.Logger.Warn("module logs too much; dropping its log records for the rest of this call", "limit", maxLogsPerCall)
		return
	case st.logs > maxLogsPerCall:
		return
	}
	args := make([]any, len(rec.Attrs))
	for i, a := range rec.Attrs {
		args[i] = a
	}
	var lvl hclog.Level
	switch level {
	case abi.LevelTrace:
		lvl = hclog.Trace
	case abi.LevelDebug:
		lvl = hclog.Debug
	case abi.LevelInfo:
		lvl = hclog.Info
	case abi.LevelWarn:
		lvl = hclog.Warn
	case abi.LevelError:
		lvl = hclog.Error
	default:
		fault("log: unknown level %d", level)
	}
	st.env.Logger.Log(lvl, rec.Msg, args...)
}

// deliver implements the result convention of abi.ImportDB: write the result
// if it fits the guest's buffer, else keep it for take.
func deliver(mod api.Module, st *callState, res []byte, outPtr, outCap uint32, what string) uint64 {
	out := view(mod, outPtr, outCap, what+": output buffer")
	st.pending = nil
	if len(res) <= len(out) {
		copy(out, res)
	} else {
		st.pending = res
	}
	return uint64(len(res))
}

func hostDB(ctx context.Context, mod api.Module, stack []uint64) {
	inPtr, inLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	outPtr, outCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	if inLen > maxDBRequest {
		fault("db: request of %d bytes exceeds %d", inLen, maxDBRequest)
	}
	in := view(mod, inPtr, inLen, "db: request")
	view(mod, outPtr, outCap, "db: output buffer") // check before doing any work
	st := stateOf(ctx)
	var res []byte
	if st.env.DB == nil {
		r := abi.DBResult{Err: &abi.DBError{Message: "websonic: this module has no database access"}}
		res = r.AppendMarshal(nil)
	} else {
		res = st.env.DB.Do(ctx, in)
	}
	stack[0] = deliver(mod, st, res, outPtr, outCap, "db")
}

func hostConfig(ctx context.Context, mod api.Module, stack []uint64) {
	outPtr, outCap := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	st := stateOf(ctx)
	cfg := st.env.Config
	if len(cfg) == 0 {
		cfg = []byte(defaultConfigJS)
	}
	stack[0] = deliver(mod, st, cfg, outPtr, outCap, "config")
}

func hostTake(ctx context.Context, mod api.Module, stack []uint64) {
	outPtr, outCap := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	st := stateOf(ctx)
	if st.pending == nil {
		fault("take: no pending result")
	}
	if int(outCap) < len(st.pending) {
		fault("take: buffer of %d bytes for a result of %d", outCap, len(st.pending))
	}
	out := view(mod, outPtr, outCap, "take: output buffer")
	n := copy(out, st.pending)
	st.pending = nil
	stack[0] = api.EncodeU32(uint32(n))
}

func hostService(ctx context.Context, mod api.Module, stack []uint64) {
	inPtr, inLen := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
	outPtr, outCap := api.DecodeU32(stack[2]), api.DecodeU32(stack[3])
	if inLen > maxHostCall {
		fault("host: call of %d bytes exceeds %d", inLen, maxHostCall)
	}
	// Copied: a service may keep the payload, and must not see it change.
	in := bytes.Clone(view(mod, inPtr, inLen, "host: call"))
	view(mod, outPtr, outCap, "host: output buffer") // check before doing any work
	st := stateOf(ctx)
	var reply abi.HostReply
	var call abi.HostCall
	switch err := call.Unmarshal(in); {
	case err != nil:
		reply.Err = &abi.HostError{Code: abi.HostErrInvalid, Message: err.Error()}
	case st.env.Services == nil:
		reply.Err = &abi.HostError{Code: abi.HostErrUnknown, Message: fmt.Sprintf("no host service %q here", call.Service)}
	default:
		out, err := st.env.Services.Serve(ctx, call.Service, call.Payload)
		var he *abi.HostError
		switch {
		case errors.As(err, &he):
			reply.Err = he
		case err != nil:
			reply.Err = &abi.HostError{Code: abi.HostErrFailed, Message: err.Error()}
		default:
			reply.Payload = out
		}
	}
	stack[0] = deliver(mod, st, reply.AppendMarshal(nil), outPtr, outCap, "host")
}

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/websonic/websonic/sdk/abi"
)

// instance is one live guest. It serves one call at a time; the pool
// guarantees that and inUse lets tests check it.
type instance struct {
	id    uint64
	mod   api.Module
	alloc api.Function
	http  api.Function
	// interrupt is the instrumented module's interrupt flag (nil without
	// DeadlineInterrupt): set to 1, the guest traps at its next loop.
	interrupt api.MutableGlobal
	calls     int
	gen       uint64 // the pool's generation when it started (Pool.Renew)
	pages     uint32 // memory size at the last release, for the pool gauge
	// resident is the resident part of the linear memory at the pool's last
	// look (-1: unknown); lastUsed when the instance last went idle. Both
	// under the pool's lock.
	resident int64
	lastUsed time.Time
	out      *lineWriter
	inUse    atomic.Bool
	reqBuf   []byte
	stack    [2]uint64
	// lin is the instance's linear memory mapping (nil when wazero
	// allocates it).
	lin *mappedMemory
}

func (e *Engine) instantiate(ctx context.Context, m *Module, id uint64, env *CallEnv) (_ *instance, err error) {
	out := &lineWriter{log: env.Logger}
	st := &callState{env: env}
	st.deadline, _ = ctx.Deadline()
	mctx, lin := e.withMemory(withState(ctx, st))
	mod, err := e.rt.InstantiateModule(mctx, m.compiled, e.moduleConfig(out))
	defer func() {
		if err != nil && lin != nil && *lin != nil {
			(*lin).release() // after mod.Close below (defers run last first)
		}
	}()
	if err != nil {
		if st.timedOut {
			return nil, fmt.Errorf("%w: instantiate %s: %w", ErrTimeout, m.name, err)
		}
		return nil, classify(fmt.Errorf("instantiate %s: %w", m.name, err))
	}
	defer func() {
		if err != nil {
			mod.Close(context.Background())
		}
	}()
	res, err := mod.ExportedFunction(abi.ExportABIVersion).Call(withState(ctx, st))
	if err != nil {
		if st.timedOut {
			return nil, fmt.Errorf("%w: %s: %w", ErrTimeout, abi.ExportABIVersion, err)
		}
		return nil, classify(fmt.Errorf("%s: %w", abi.ExportABIVersion, err))
	}
	if v := api.DecodeU32(res[0]); !abi.Speaks(v) {
		if v > abi.Version {
			return nil, fmt.Errorf("%w: %s was built for ABI v%d; this runtime speaks v%d: update the runtime", ErrABI, m.name, v, abi.Version)
		}
		return nil, fmt.Errorf("%w: %s was built for ABI v%d; this runtime speaks v%d: rebuild the module with a current SDK", ErrABI, m.name, v, abi.Version)
	}
	in := &instance{
		id:    id,
		mod:   mod,
		alloc: mod.ExportedFunction(abi.ExportAlloc),
		http:  mod.ExportedFunction(abi.ExportHTTP),
		out:   out,
	}
	if lin != nil {
		in.lin = *lin
	}
	return in, nil
}

func (in *instance) memoryPages() uint32 { return in.mod.Memory().Size() / 65536 }

// close closes the instance; no call may be running in it.
func (in *instance) close() {
	in.mod.Close(context.Background())
	if in.lin != nil {
		in.lin.release()
	}
}

// residentBytes is how much of the instance's linear memory is in physical
// memory, or -1 when that cannot be told (wazero's own allocation).
func (in *instance) residentBytes() int64 {
	if in.lin == nil {
		return -1
	}
	return in.lin.resident(uint64(in.mod.Memory().Size()))
}

// serveHTTP runs one request. Any error leaves the instance unusable.
func (in *instance) serveHTTP(ctx context.Context, req *abi.HTTPRequest, maxResp uint32) (*abi.HTTPResponse, error) {
	in.calls++
	in.out.newCall()
	in.reqBuf = req.AppendMarshal(in.reqBuf[:0])
	n := uint32(len(in.reqBuf))
	stack := in.stack[:]
	stack[0] = api.EncodeU32(n)
	if err := in.alloc.CallWithStack(ctx, stack); err != nil {
		return nil, classify(fmt.Errorf("%s: %w", abi.ExportAlloc, err))
	}
	ptr := api.DecodeU32(stack[0])
	if !in.mod.Memory().Write(ptr, in.reqBuf) {
		return nil, fmt.Errorf("%w: %s returned [%d, +%d) outside guest memory", ErrBadResponse, abi.ExportAlloc, ptr, n)
	}
	stack[0], stack[1] = api.EncodeU32(ptr), api.EncodeU32(n)
	if err := in.http.CallWithStack(ctx, stack); err != nil {
		return nil, classify(fmt.Errorf("%s: %w", abi.ExportHTTP, err))
	}
	rptr, rn := abi.UnpackResult(stack[0])
	if rn > maxResp {
		return nil, fmt.Errorf("%w: response of %d bytes exceeds the limit of %d", ErrBadResponse, rn, maxResp)
	}
	v, ok := in.mod.Memory().Read(rptr, rn)
	if !ok {
		return nil, fmt.Errorf("%w: response [%d, +%d) outside guest memory", ErrBadResponse, rptr, rn)
	}
	var resp abi.HTTPResponse
	if err := resp.Unmarshal(bytes.Clone(v)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadResponse, err)
	}
	return &resp, nil
}

// classify maps a wazero call error onto the engine's sentinels.
func classify(err error) error {
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		switch exit.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			return fmt.Errorf("%w: %w", ErrTimeout, err)
		default:
			return fmt.Errorf("%w: module exited with code %d (a panic or fatal error; see the module's log): %w", ErrTrap, exit.ExitCode(), err)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return fmt.Errorf("%w: %w", ErrTrap, err)
}

// lineWriter sends a guest's stdout and stderr to its logger, a line at a
// time; lines are capped so a guest cannot grow the buffer without bound,
// and so are lines per call (as log records are).
type lineWriter struct {
	mu    sync.Mutex
	log   hclog.Logger
	buf   []byte
	lines int
}

// newCall starts a new call's line budget.
func (w *lineWriter) newCall() {
	w.mu.Lock()
	w.lines = 0
	w.mu.Unlock()
}

const maxLine = 16 << 10

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxLine - len(w.buf)
			if len(p) > room {
				w.buf = append(w.buf, p[:room]...)
				w.flush()
				p = p[room:]
				continue
			}
			w.buf = append(w.buf, p...)
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.flush()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) flush() {
	if len(w.buf) > 0 {
		w.lines++
		switch {
		case w.lines <= maxLogsPerCall:
			w.log.Info(string(w.buf), "stream", "output")
		case w.lines == maxLogsPerCall+1:
			w.log.Warn("module writes too much output; dropping it for the rest of this call", "limit", maxLogsPerCall)
		}
	}
	w.buf = w.buf[:0]
}

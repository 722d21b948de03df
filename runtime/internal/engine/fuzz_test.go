package engine

import (
	"context"
	"testing"

	"github.com/tetratelabs/wazero/api"

	"github.com/websonic/websonic/sdk/abi"
)

// echoDB answers every db call with a result as long as the request, so
// the fuzzer reaches both the direct write and the pending-take path.
type echoDB struct{}

func (echoDB) Do(_ context.Context, req []byte) []byte {
	var r abi.DBRequest
	if err := r.Unmarshal(req); err != nil {
		return (&abi.DBResult{Err: &abi.DBError{Message: err.Error()}}).AppendMarshal(nil)
	}
	return (&abi.DBResult{Columns: []abi.Column{{Name: r.SQL}}, Rows: [][]abi.Value{r.Args[:min(1, len(r.Args))]}}).AppendMarshal(nil)
}

// echoServices answers every host service with its payload.
type echoServices struct{}

func (echoServices) Serve(_ context.Context, _ string, payload []byte) ([]byte, error) {
	return payload, nil
}

// FuzzHostCalls calls every host function from inside a real guest with
// arbitrary pointers and lengths (relative to a buffer holding arbitrary
// bytes): each call either works or traps that call; the host never panics
// and the next instance works.
func FuzzHostCalls(f *testing.F) {
	valid := (&abi.DBRequest{Op: abi.DBQuery, Conn: 1, SQL: "SELECT 1", Args: []abi.Value{{Kind: abi.KindInt, Int: 7}}}).AppendMarshal(nil)
	logRec := (&abi.LogRecord{Msg: "hello", Attrs: []string{"k", "v"}}).AppendMarshal(nil)
	f.Add(uint8(0), uint32(3), uint32(0), uint32(len(logRec)), uint32(0), logRec)   // log, valid
	f.Add(uint8(1), uint32(0), uint32(len(valid)), uint32(64), uint32(4096), valid) // db, fits
	f.Add(uint8(1), uint32(0), uint32(len(valid)), uint32(64), uint32(2), valid)    // db, pending
	f.Add(uint8(2), uint32(0), uint32(64), uint32(0), uint32(0), make([]byte, 64))  // config
	f.Add(uint8(4), uint32(0), uint32(64), uint32(0), uint32(0), make([]byte, 64))  // take, nothing pending
	hc := (&abi.HostCall{Service: "echo", Payload: []byte(`{"x":1}`)}).AppendMarshal(nil)
	f.Add(uint8(3), uint32(0), uint32(len(hc)), uint32(64), uint32(4096), hc)                // host, fits
	f.Add(uint8(3), uint32(0), uint32(len(hc)), uint32(64), uint32(1), hc)                   // host, pending
	f.Add(uint8(1), uint32(1<<31), uint32(1<<31), uint32(0), uint32(0), []byte{1, 2, 3})     // out of range
	f.Add(uint8(0), uint32(9), uint32(0xFFFFFFF0), uint32(64), uint32(0), []byte("garbage")) // bad level, huge length

	e := newEngine(f, Config{})
	p := hostilePool(f, e, PoolConfig{Size: 1})
	f.Fuzz(func(t *testing.T, fn uint8, a, b, c, d uint32, payload []byte) {
		in, err := p.acquire(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		failed := false
		defer func() { p.release(in, failed) }()
		ctx := withState(context.Background(), &callState{env: &CallEnv{DB: echoDB{}, Services: echoServices{}, Config: []byte(`{"a":1}`), Logger: p.cfg.Logger}})
		stack := []uint64{api.EncodeU32(uint32(len(payload)))}
		if err := in.alloc.CallWithStack(ctx, stack); err != nil {
			t.Fatal(err)
		}
		base := api.DecodeU32(stack[0])
		if !in.mod.Memory().Write(base, payload) {
			t.Fatal("alloc returned a buffer outside memory")
		}
		// Pointers are relative to the payload buffer, so small values are
		// valid addresses and large ones run off the end of memory.
		args := []uint64{uint64(fn), uint64(a), uint64(b), uint64(c), uint64(d)}
		switch fn % 5 {
		case 0: // log(level, ptr, len)
			args[2] = uint64(base + b)
		case 1, 3: // db(in, len, out, cap), host(in, len, out, cap)
			args[1], args[3] = uint64(base+a), uint64(base+c)
		default: // config(out, cap), take(out, cap)
			args[1] = uint64(base + a)
		}
		if _, err := in.mod.ExportedFunction("hostile_call").Call(ctx, args...); err != nil {
			failed = true // a trap: the call fails, the instance is discarded
		}
	})
}

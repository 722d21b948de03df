package engine

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/websonic/websonic/sdk/abi"
)

// YieldEvery is how many loop iterations a guest runs between two calls of
// its yield import.
const YieldEvery = 10000

// ErrInstrument wraps every reason a module cannot be instrumented.
var ErrInstrument = errors.New("engine: cannot instrument module")

// instrument rewrites a wasm binary so that the host regains control of a
// running guest regularly and cheaply. It adds a mutable i32 global, the
// fuel, and puts
//
//	global.get $fuel
//	i32.eqz
//	if
//	  i32.const YieldEvery
//	  global.set $fuel
//	  call $websonic.yield
//	end
//	global.get $fuel
//	i32.const 1
//	i32.sub
//	global.set $fuel
//
// at the entry of every function and the head of every loop: a few
// instructions each, and a call to the host every YieldEvery times. The host's yield checks the call's
// deadline, and being Go code it is a point where the Go scheduler and
// garbage collector can stop the goroutine. wazero's WithCloseOnContextDone
// does the same with a call out to Go at every loop header, which costs Go
// guests 4-12x (see RATIONALE.md, "How is a guest call stopped at its
// deadline?").
//
// The module must import websonic.yield (the SDK does). The rewriter decodes
// every instruction and fails (ErrInstrument) on opcodes it does not know
// rather than guessing; wazero then validates the result as any module.
func instrument(wasm []byte) ([]byte, error) {
	r := &reader{b: wasm}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" || binary.LittleEndian.Uint32(wasm[4:8]) != 1 {
		return nil, fmt.Errorf("%w: not a wasm 1.0 binary", ErrInstrument)
	}
	r.off = 8
	type section struct {
		id   byte
		body []byte
	}
	var sections []section
	for r.off < len(r.b) {
		id := r.byte1()
		n := r.u32()
		body := r.bytes(int(n))
		if r.err != nil {
			return nil, fmt.Errorf("%w: section %d: %w", ErrInstrument, id, r.err)
		}
		sections = append(sections, section{id, body})
	}
	var importedGlobals, definedGlobals uint32
	yield := int64(-1)
	for _, s := range sections {
		switch s.id {
		case secImport:
			g, y, err := scanImports(s.body)
			if err != nil {
				return nil, err
			}
			importedGlobals, yield = g, y
		case secGlobal:
			sr := &reader{b: s.body}
			definedGlobals = sr.u32()
			if sr.err != nil {
				return nil, fmt.Errorf("%w: global section: %w", ErrInstrument, sr.err)
			}
		case secTable:
			if err := checkTables(s.body); err != nil {
				return nil, err
			}
		}
	}
	if yield < 0 {
		return nil, fmt.Errorf("%w: it does not import %s.%s (build it with the Web Sonic SDK)", ErrInstrument, abi.HostModule, abi.ImportYield)
	}
	fuel := importedGlobals + definedGlobals
	newGlobal := []byte{valI32, 1 /* mutable */, opI32Const, 0, opEnd}

	out := append([]byte(nil), wasm[:8]...)
	emit := func(id byte, body []byte) {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	haveGlobal := false
	for _, s := range sections {
		// A missing global section goes before the first section that
		// must follow it.
		if !haveGlobal && s.id != secCustom && order(s.id) > order(secGlobal) {
			emit(secGlobal, appendVec(nil, 0, nil, newGlobal))
			haveGlobal = true
		}
		switch s.id {
		case secGlobal:
			sr := &reader{b: s.body}
			n := sr.u32()
			emit(secGlobal, appendVec(nil, n, sr.b[sr.off:], newGlobal))
			haveGlobal = true
		case secCode:
			body, err := instrumentCode(s.body, fuelCheck(fuel, uint32(yield)), fuel)
			if err != nil {
				return nil, err
			}
			emit(secCode, body)
		default:
			emit(s.id, s.body)
		}
	}
	if !haveGlobal {
		emit(secGlobal, appendVec(nil, 0, nil, newGlobal))
	}
	return out, nil
}

// fuelCheck is the code put at every loop header.
func fuelCheck(fuel, yield uint32) []byte {
	get := binary.AppendUvarint([]byte{opGlobalGet}, uint64(fuel))
	set := binary.AppendUvarint([]byte{opGlobalSet}, uint64(fuel))
	c := append([]byte(nil), get...)
	c = append(c, opI32Eqz, opIf, 0x40, opI32Const)
	c = appendSLEB(c, YieldEvery)
	c = append(c, set...)
	c = append(c, opCall)
	c = binary.AppendUvarint(c, uint64(yield))
	c = append(c, opEnd)
	c = append(c, get...)
	c = append(c, opI32Const, 1, opI32Sub)
	return append(c, set...)
}

// appendSLEB appends v as a signed LEB128.
func appendSLEB(b []byte, v int64) []byte {
	for {
		c := byte(v & 0x7F)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

// MaxTableEntries bounds a module's tables: their entries live in host
// memory, outside the linear memory limit. (Go guests need one table of
// a few thousand entries.)
const MaxTableEntries = 1 << 18

const (
	secCustom   = 0
	secTable    = 4
	secImport   = 2
	secGlobal   = 6
	secCode     = 10
	secDataCnt  = 12
	valI32      = 0x7F
	opLoop      = 0x03
	opIf        = 0x04
	opEnd       = 0x0B
	opGlobalGet = 0x23
	opGlobalSet = 0x24
	opCall      = 0x10
	opI32Const  = 0x41
	opI32Eqz    = 0x45
	opI32Sub    = 0x6B
)

// order is a section's position in the module; data count (12) comes
// before code (10), tag (13) before global (6).
func order(id byte) int {
	switch id {
	case secDataCnt:
		return 95
	case 13:
		return 55
	default:
		return int(id) * 10
	}
}

// appendVec writes a vector of n existing encoded items plus one more.
func appendVec(out []byte, n uint32, items, extra []byte) []byte {
	out = binary.AppendUvarint(out, uint64(n)+1)
	out = append(out, items...)
	return append(out, extra...)
}

// scanImports counts imported globals and finds the function index of
// websonic.yield (-1 if not imported).
func scanImports(b []byte) (globals uint32, yield int64, err error) {
	r := &reader{b: b}
	n := r.u32()
	var funcs uint32
	yield = -1
	for i := uint32(0); i < n && r.err == nil; i++ {
		mod, name := r.name(), r.name()
		switch kind := r.byte1(); kind {
		case 0x00: // func
			r.u32()
			if mod == abi.HostModule && name == abi.ImportYield {
				yield = int64(funcs)
			}
			funcs++
		case 0x01: // table: reftype, limits
			r.byte1()
			r.limits()
		case 0x02: // memory
			r.limits()
		case 0x03: // global: valtype, mut
			r.byte1()
			r.byte1()
			globals++
		case 0x04: // tag
			r.byte1()
			r.u32()
		default:
			r.fail("import kind %d", kind)
		}
	}
	if r.err != nil {
		return 0, 0, fmt.Errorf("%w: import section: %w", ErrInstrument, r.err)
	}
	return globals, yield, nil
}

// checkTables refuses tables whose initial or maximum size exceeds
// MaxTableEntries (table.grow is refused in code).
func checkTables(b []byte) error {
	r := &reader{b: b}
	n := r.u32()
	var total uint64
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.byte1() // reftype
		lo, hi, hasMax := r.limitsValues()
		if hasMax && hi < lo {
			r.fail("table %d: max below min", i)
		}
		total += lo
		if lo > MaxTableEntries || (hasMax && hi > MaxTableEntries) || total > MaxTableEntries {
			return fmt.Errorf("%w: tables larger than %d entries", ErrInstrument, MaxTableEntries)
		}
	}
	if r.err != nil {
		return fmt.Errorf("%w: table section: %w", ErrInstrument, r.err)
	}
	return nil
}

// instrumentCode rewrites the code section.
func instrumentCode(b []byte, check []byte, fuel uint32) ([]byte, error) {
	r := &reader{b: b}
	n := r.u32()

	out := binary.AppendUvarint(nil, uint64(n))
	var body []byte
	for i := uint32(0); i < n; i++ {
		size := r.u32()
		fn := r.bytes(int(size))
		if r.err != nil {
			return nil, fmt.Errorf("%w: function %d: %w", ErrInstrument, i, r.err)
		}
		var err error
		if body, err = instrumentFunc(body[:0], fn, check, fuel); err != nil {
			return nil, fmt.Errorf("%w: function %d: %w", ErrInstrument, i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if r.off != len(r.b) {
		return nil, fmt.Errorf("%w: code section: trailing bytes", ErrInstrument)
	}
	return out, nil
}

// instrumentFunc puts the fuel check at the function's entry (recursion
// runs no loop) and at every loop header. It refuses code that touches the
// fuel global (such code was invalid before instrumentation, but would be
// valid after) and table.grow (tables live outside the memory limit).
func instrumentFunc(out, fn, check []byte, fuel uint32) ([]byte, error) {
	r := &reader{b: fn}
	// Locals: vec(count u32, valtype).
	groups := r.u32()
	for i := uint32(0); i < groups && r.err == nil; i++ {
		r.u32()
		r.byte1()
	}
	out = append(out, fn[:r.off]...)
	out = append(out, check...)
	for r.off < len(r.b) && r.err == nil {
		start := r.off
		op := r.byte1()
		switch op {
		case opGlobalGet, opGlobalSet:
			if idx := r.u32(); r.err == nil && idx >= fuel {
				return nil, fmt.Errorf("global index %d out of range", idx)
			}
		case 0xFC:
			sub := r.u32()
			if sub == 15 {
				return nil, errors.New("table.grow is not allowed")
			}
			r.prefixFC(sub)
		default:
			r.immediates(op)
		}
		out = append(out, fn[start:r.off]...)
		if op == opLoop {
			out = append(out, check...)
		}
	}
	return out, r.err
}

// reader decodes the binary format; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("offset %d: "+format, append([]any{r.off}, args...)...)
	}
}

func (r *reader) byte1() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail("unexpected end")
		return 0
	}
	v := r.b[r.off]
	r.off++
	return v
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("length %d past the end", n)
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

// leb skips an LEB128 number of at most maxBytes bytes and returns its
// unsigned value (meaningful for u32).
func (r *reader) leb(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c := r.byte1()
		if r.err != nil {
			return 0
		}
		v |= uint64(c&0x7F) << (7 * i)
		if c&0x80 == 0 {
			return v
		}
	}
	r.fail("LEB128 longer than %d bytes", maxBytes)
	return 0
}

func (r *reader) u32() uint32 {
	v := r.leb(5)
	if v > 1<<32-1 {
		r.fail("u32 out of range")
	}
	return uint32(v)
}

func (r *reader) name() string { return string(r.bytes(int(r.u32()))) }

// limitsValues reads limits and returns min, max and whether max is set.
func (r *reader) limitsValues() (lo, hi uint64, hasMax bool) {
	switch flags := r.byte1(); flags {
	case 0x00, 0x04:
		return r.leb(10), 0, false
	case 0x01, 0x03, 0x05, 0x07:
		lo = r.leb(10)
		return lo, r.leb(10), true
	case 0x02, 0x06:
		return r.leb(10), 0, false
	default:
		r.fail("limits flags %#x", flags)
		return 0, 0, false
	}
}

func (r *reader) limits() {
	switch flags := r.byte1(); flags {
	case 0x00, 0x04:
		r.leb(10)
	case 0x01, 0x03, 0x05, 0x07:
		r.leb(10)
		r.leb(10)
	case 0x02, 0x06:
		r.leb(10)
	default:
		r.fail("limits flags %#x", flags)
	}
}

func (r *reader) blockType() {
	switch c := r.byte1(); {
	case c == 0x40, c >= 0x6F && c <= 0x7F:
	default:
		r.off-- // a type index, s33
		r.leb(5)
	}
}

func (r *reader) memarg() {
	r.u32() // alignment (bit 6: a memory index follows)
	r.leb(10)
}

// immediates skips the immediates of op.
func (r *reader) immediates(op byte) {
	switch {
	case op == 0x02 || op == 0x03 || op == 0x04: // block, loop, if
		r.blockType()
	case op == 0x0C || op == 0x0D: // br, br_if
		r.u32()
	case op == 0x0E: // br_table
		n := r.u32()
		for i := uint32(0); i <= n && r.err == nil; i++ {
			r.u32()
		}
	case op == 0x10 || op == 0x12: // call, return_call
		r.u32()
	case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
		r.u32()
		r.u32()
	case op == 0x1C: // select t*
		n := r.u32()
		r.bytes(int(n))
	case op >= 0x20 && op <= 0x26: // local.*, global.*, table.get/set
		r.u32()
	case op >= 0x28 && op <= 0x3E: // loads and stores
		r.memarg()
	case op == 0x3F || op == 0x40: // memory.size, memory.grow
		r.u32()
	case op == 0x41:
		r.leb(5)
	case op == 0x42:
		r.leb(10)
	case op == 0x43:
		r.bytes(4)
	case op == 0x44:
		r.bytes(8)
	case op == 0xD0: // ref.null
		r.byte1()
	case op == 0xD2: // ref.func
		r.u32()
	case op == 0xFC:
		r.prefixFC(r.u32())
	case op == 0xFD:
		r.prefixFD(r.u32())
	case op == 0xFE:
		if sub := r.u32(); sub == 0x03 { // atomic.fence
			r.byte1()
		} else {
			r.memarg()
		}
	case op <= 0x01, op == 0x05, op == 0x0B, op == 0x0F, op == 0x1A, op == 0x1B,
		op >= 0x45 && op <= 0xC4, op == 0xD1:
		// no immediates
	default:
		r.fail("unknown opcode %#x", op)
	}
}

func (r *reader) prefixFC(sub uint32) {
	switch {
	case sub <= 7: // saturating truncations
	case sub == 8: // memory.init
		r.u32()
		r.u32()
	case sub == 9, sub == 11, sub == 13, sub == 15, sub == 16, sub == 17:
		r.u32()
	case sub == 10, sub == 12, sub == 14:
		r.u32()
		r.u32()
	default:
		r.fail("unknown 0xFC opcode %d", sub)
	}
}

func (r *reader) prefixFD(sub uint32) {
	switch {
	case sub <= 11, sub == 92, sub == 93: // loads, stores, load zero
		r.memarg()
	case sub == 12, sub == 13: // v128.const, i8x16.shuffle
		r.bytes(16)
	case sub >= 21 && sub <= 34: // lane extract/replace
		r.byte1()
	case sub >= 84 && sub <= 91: // load/store lane
		r.memarg()
		r.byte1()
	case sub <= 275:
	default:
		r.fail("unknown 0xFD opcode %d", sub)
	}
}

package sandboxdb

import (
	"context"
	"database/sql/driver"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/websonic/websonic/sdk/abi"
)

// handlesPerCall is how many database connections one guest call may hold
// (database/sql opens a second one for a query beside an open transaction).
const handlesPerCall = 2

// acquireTimeout bounds the wait for a connection of the module's pool; a
// full pool answers an error the guest sees, rather than stalling the call
// to its deadline.
const acquireTimeout = 2 * time.Second

// Session serves the database requests of one guest call. It implements
// engine.DBSession. It is used by one goroutine at a time (the guest call's).
type Session struct {
	d     *ModuleDB
	conns map[uint32]*pgxpool.Conn
	buf   []byte
}

// Session starts the database side of one guest call; Close ends it.
func (d *ModuleDB) Session() *Session { return &Session{d: d} }

// Close rolls back any transaction the call left open and releases its
// connections.
func (s *Session) Close() {
	for id, c := range s.conns {
		s.release(c)
		delete(s.conns, id)
	}
}

func (s *Session) release(c *pgxpool.Conn) {
	if c.Conn().PgConn().TxStatus() != 'I' {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if _, err := c.Exec(ctx, "ROLLBACK"); err != nil {
			c.Conn().Close(ctx) // the pool drops closed connections
		}
		cancel()
	}
	c.Release()
}

func errResult(code, format string, args ...any) []byte {
	r := abi.DBResult{Err: &abi.DBError{Code: code, Message: fmt.Sprintf(format, args...)}}
	return r.AppendMarshal(nil)
}

func pgErrResult(err error) []byte {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return errResult(pe.Code, "%s", pe.Message)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errResult("57014", "canceled: the request's deadline passed")
	}
	return errResult("", "%v", err)
}

// Do runs one encoded abi.DBRequest and returns an encoded abi.DBResult.
func (s *Session) Do(ctx context.Context, in []byte) []byte {
	var req abi.DBRequest
	if err := req.Unmarshal(in); err != nil {
		return errResult("", "%v", err)
	}
	if req.Op == abi.DBClose {
		if c, ok := s.conns[req.Conn]; ok {
			s.release(c)
			delete(s.conns, req.Conn)
		}
		return (&abi.DBResult{}).AppendMarshal(nil)
	}
	c, err := s.conn(ctx, req.Conn)
	if err != nil {
		return pgErrResult(err)
	}
	switch req.Op {
	case abi.DBBegin:
		if !strings.HasPrefix(req.SQL, "BEGIN") {
			return errResult("", "begin: bad statement")
		}
		return s.exec(ctx, c, req.SQL, nil)
	case abi.DBCommit:
		// PostgreSQL answers COMMIT of a failed transaction with ROLLBACK
		// and COMMIT outside one with a warning; both are errors to the
		// guest, as in pgx and lib/pq.
		if c.Conn().PgConn().TxStatus() == 'I' {
			return errResult("25P01", "commit: no transaction in progress")
		}
		tag, err := c.Exec(ctx, "COMMIT")
		if err != nil {
			return pgErrResult(err)
		}
		if tag.String() == "ROLLBACK" {
			return errResult("40000", "commit: the transaction had failed and was rolled back")
		}
		return (&abi.DBResult{}).AppendMarshal(nil)
	case abi.DBRollback:
		return s.exec(ctx, c, "ROLLBACK", nil)
	case abi.DBExec:
		return s.exec(ctx, c, req.SQL, args(req.Args))
	default: // abi.DBQuery
		return s.query(ctx, c, req.SQL, args(req.Args))
	}
}

func (s *Session) conn(ctx context.Context, id uint32) (*pgxpool.Conn, error) {
	if c, ok := s.conns[id]; ok {
		return c, nil
	}
	if reason := s.d.suspended.Load(); reason != nil {
		return nil, &pgconn.PgError{Code: "53100", Message: "websonic: this module's database access is suspended: " + *reason}
	}
	if len(s.conns) >= s.d.conns {
		return nil, fmt.Errorf("websonic: more than %d database connections in one request", s.d.conns)
	}
	actx, cancel := context.WithTimeout(ctx, acquireTimeout)
	defer cancel()
	c, err := s.d.pool.Acquire(actx)
	if err != nil {
		return nil, fmt.Errorf("websonic: no database connection free for this module: %w", err)
	}
	if s.conns == nil {
		s.conns = map[uint32]*pgxpool.Conn{}
	}
	s.conns[id] = c
	return c, nil
}

func args(vals []abi.Value) []any {
	out := make([]any, len(vals))
	for i, v := range vals {
		switch v.Kind {
		case abi.KindNull:
			out[i] = nil
		case abi.KindInt:
			out[i] = v.Int
		case abi.KindFloat:
			out[i] = v.Float
		case abi.KindBool:
			out[i] = v.Bool
		case abi.KindText, abi.KindNumeric, abi.KindJSON:
			out[i] = string(v.Bytes)
		case abi.KindBytes:
			out[i] = v.Bytes
		case abi.KindTime:
			out[i] = v.Time
		}
	}
	return out
}

func (s *Session) exec(ctx context.Context, c *pgxpool.Conn, q string, a []any) []byte {
	tag, err := c.Exec(ctx, q, a...)
	if err != nil {
		return pgErrResult(err)
	}
	return (&abi.DBResult{RowsAffected: tag.RowsAffected()}).AppendMarshal(nil)
}

func (s *Session) query(ctx context.Context, c *pgxpool.Conn, q string, a []any) []byte {
	rows, err := c.Query(ctx, q, a...)
	if err != nil {
		return pgErrResult(err)
	}
	defer rows.Close()
	fds := rows.FieldDescriptions()
	if len(fds) == 0 {
		// Rows without columns (SELECT FROM t) carry nothing to send.
		for rows.Next() {
		}
		if err := rows.Err(); err != nil {
			return pgErrResult(err)
		}
		return (&abi.DBResult{RowsAffected: rows.CommandTag().RowsAffected()}).AppendMarshal(nil)
	}
	tm := c.Conn().TypeMap()
	cols := make([]abi.Column, len(fds))
	for i, fd := range fds {
		cols[i].Name = fd.Name
		if t, ok := tm.TypeForOID(fd.DataTypeOID); ok {
			cols[i].Type = t.Name
		} else {
			cols[i].Type = strconv.FormatUint(uint64(fd.DataTypeOID), 10)
		}
	}
	w := abi.NewResultWriter(s.buf[:0], cols)
	for rows.Next() {
		raw := rows.RawValues()
		for i := range fds {
			v, ok := fastValue(&fds[i], raw[i])
			if !ok {
				var err error
				if v, err = slowValue(tm, &fds[i], raw[i]); err != nil {
					return pgErrResult(err)
				}
			}
			w.AppendValue(&v)
		}
		w.EndRow()
		if w.Len() > s.d.maxRes {
			return errResult("54000", "result exceeds %d bytes: select fewer rows or columns (LIMIT, paging)", s.d.maxRes)
		}
	}
	if err := rows.Err(); err != nil {
		return pgErrResult(err)
	}
	out := w.Finish(rows.CommandTag().RowsAffected())
	s.buf = out[:0]
	return out
}

// pgEpoch is 2000-01-01 00:00:00 UTC, PostgreSQL's epoch for timestamps
// and dates, in Unix seconds.
const pgEpoch = 946684800

// PostgreSQL's range of timestamps and dates, as pgx checks it.
var (
	pgMinTime      = time.Date(-4713, 11, 24, 0, 0, 0, 0, time.UTC)
	pgEndTimestamp = time.Date(294277, 1, 1, 0, 0, 0, 0, time.UTC)
	pgEndDate      = time.Date(5874898, 1, 1, 0, 0, 0, 0, time.UTC)
)

// fastValue maps a raw result value onto the ABI's kinds without pgx's
// decoding, for the common types in the formats pgx asks for; ok is false
// for anything else (and for the special values infinity and -infinity),
// which slowValue decodes. Bytes alias raw: the caller encodes the value
// before reading the next row. It must give what slowValue gives.
func fastValue(fd *pgconn.FieldDescription, raw []byte) (abi.Value, bool) {
	if raw == nil {
		return abi.Value{Kind: abi.KindNull}, true
	}
	switch fd.DataTypeOID {
	case pgtype.TextOID, pgtype.VarcharOID, pgtype.NameOID, pgtype.BPCharOID:
		// The text format and the binary one are the same bytes.
		return abi.Value{Kind: abi.KindText, Bytes: raw}, true
	case pgtype.JSONOID:
		return abi.Value{Kind: abi.KindJSON, Bytes: raw}, true
	case pgtype.JSONBOID:
		if fd.Format == pgx.BinaryFormatCode {
			if len(raw) == 0 || raw[0] != 1 {
				return abi.Value{}, false
			}
			raw = raw[1:] // jsonb binary format: version byte, then text
		}
		return abi.Value{Kind: abi.KindJSON, Bytes: raw}, true
	}
	if fd.Format != pgx.BinaryFormatCode {
		return abi.Value{}, false
	}
	switch fd.DataTypeOID {
	case pgtype.Int8OID:
		if len(raw) == 8 {
			return abi.Value{Kind: abi.KindInt, Int: int64(binary.BigEndian.Uint64(raw))}, true
		}
	case pgtype.Int4OID:
		if len(raw) == 4 {
			return abi.Value{Kind: abi.KindInt, Int: int64(int32(binary.BigEndian.Uint32(raw)))}, true
		}
	case pgtype.Int2OID:
		if len(raw) == 2 {
			return abi.Value{Kind: abi.KindInt, Int: int64(int16(binary.BigEndian.Uint16(raw)))}, true
		}
	case pgtype.OIDOID:
		if len(raw) == 4 {
			return abi.Value{Kind: abi.KindInt, Int: int64(binary.BigEndian.Uint32(raw))}, true
		}
	case pgtype.Float8OID:
		if len(raw) == 8 {
			return abi.Value{Kind: abi.KindFloat, Float: math.Float64frombits(binary.BigEndian.Uint64(raw))}, true
		}
	case pgtype.Float4OID:
		if len(raw) == 4 {
			return abi.Value{Kind: abi.KindFloat, Float: float64(math.Float32frombits(binary.BigEndian.Uint32(raw)))}, true
		}
	case pgtype.BoolOID:
		if len(raw) == 1 && raw[0] <= 1 {
			return abi.Value{Kind: abi.KindBool, Bool: raw[0] == 1}, true
		}
	case pgtype.ByteaOID:
		return abi.Value{Kind: abi.KindBytes, Bytes: raw}, true
	case pgtype.TimestamptzOID, pgtype.TimestampOID:
		if len(raw) == 8 {
			us := int64(binary.BigEndian.Uint64(raw))
			if us == math.MaxInt64 || us == math.MinInt64 { // infinity, -infinity
				return abi.Value{}, false
			}
			t := time.Unix(pgEpoch+us/1e6, us%1e6*1e3).UTC()
			if t.Before(pgMinTime) || !t.Before(pgEndTimestamp) {
				return abi.Value{}, false // out of range: pgx says so
			}
			return abi.Value{Kind: abi.KindTime, Time: t}, true
		}
	case pgtype.DateOID:
		if len(raw) == 4 {
			days := int32(binary.BigEndian.Uint32(raw))
			if days == math.MaxInt32 || days == math.MinInt32 { // infinity, -infinity
				return abi.Value{}, false
			}
			t := time.Date(2000, 1, int(1+days), 0, 0, 0, 0, time.UTC)
			if t.Before(pgMinTime) || !t.Before(pgEndDate) {
				return abi.Value{}, false // out of range: pgx says so
			}
			return abi.Value{Kind: abi.KindTime, Time: t}, true
		}
	}
	return abi.Value{}, false
}

// slowValue decodes a raw result value with pgx and maps it onto the ABI's
// kinds: the types fastValue leaves out.
func slowValue(tm *pgtype.Map, fd *pgconn.FieldDescription, raw []byte) (abi.Value, error) {
	if raw == nil {
		return abi.Value{Kind: abi.KindNull}, nil
	}
	t, ok := tm.TypeForOID(fd.DataTypeOID)
	if !ok {
		// As pgx's Rows.Values: a type it does not know arrives as its
		// text, or its binary form as bytes.
		if fd.Format == pgx.TextFormatCode {
			return abi.Value{Kind: abi.KindText, Bytes: raw}, nil
		}
		return abi.Value{Kind: abi.KindBytes, Bytes: raw}, nil
	}
	v, err := t.Codec.DecodeValue(tm, fd.DataTypeOID, fd.Format, raw)
	if err != nil {
		return abi.Value{}, err
	}
	return convert(*fd, raw, v), nil
}

// convert maps a pgx-decoded value onto the ABI's kinds.
func convert(fd pgconn.FieldDescription, raw []byte, v any) abi.Value {
	if v == nil {
		return abi.Value{Kind: abi.KindNull}
	}
	switch fd.DataTypeOID {
	case pgtype.JSONOID:
		return abi.Value{Kind: abi.KindJSON, Bytes: raw}
	case pgtype.JSONBOID:
		if fd.Format == pgx.BinaryFormatCode && len(raw) > 0 {
			raw = raw[1:] // jsonb binary format: version byte, then text
		}
		return abi.Value{Kind: abi.KindJSON, Bytes: raw}
	}
	switch x := v.(type) {
	case int64:
		return abi.Value{Kind: abi.KindInt, Int: x}
	case int32:
		return abi.Value{Kind: abi.KindInt, Int: int64(x)}
	case int16:
		return abi.Value{Kind: abi.KindInt, Int: int64(x)}
	case int8:
		return abi.Value{Kind: abi.KindInt, Int: int64(x)}
	case uint32:
		return abi.Value{Kind: abi.KindInt, Int: int64(x)}
	case float64:
		return abi.Value{Kind: abi.KindFloat, Float: x}
	case float32:
		return abi.Value{Kind: abi.KindFloat, Float: float64(x)}
	case bool:
		return abi.Value{Kind: abi.KindBool, Bool: x}
	case string:
		return abi.Value{Kind: abi.KindText, Bytes: []byte(x)}
	case []byte:
		return abi.Value{Kind: abi.KindBytes, Bytes: x}
	case time.Time:
		return abi.Value{Kind: abi.KindTime, Time: x}
	case pgtype.Numeric:
		return abi.Value{Kind: abi.KindNumeric, Bytes: []byte(numericText(x))}
	case [16]byte:
		return abi.Value{Kind: abi.KindText, Bytes: []byte(pgtype.UUID{Bytes: x, Valid: true}.String())}
	case driver.Valuer:
		if dv, err := x.Value(); err == nil {
			if s, ok := dv.(string); ok {
				return abi.Value{Kind: abi.KindText, Bytes: []byte(s)}
			}
		}
	}
	// Anything else (arrays, ranges, intervals…) as PostgreSQL's text.
	return abi.Value{Kind: abi.KindText, Bytes: []byte(fmt.Sprint(v))}
}

func numericText(n pgtype.Numeric) string {
	switch {
	case n.NaN:
		return "NaN"
	case n.InfinityModifier == pgtype.Infinity:
		return "Infinity"
	case n.InfinityModifier == pgtype.NegativeInfinity:
		return "-Infinity"
	}
	digits := n.Int.String()
	neg := strings.HasPrefix(digits, "-")
	digits = strings.TrimPrefix(digits, "-")
	if n.Exp >= 0 {
		digits += strings.Repeat("0", int(n.Exp))
	} else {
		scale := int(-n.Exp)
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg {
		digits = "-" + digits
	}
	return digits
}

package sandboxdb

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
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
		vals, err := rows.Values()
		if err != nil {
			return pgErrResult(err)
		}
		raw := rows.RawValues()
		for i := range vals {
			v := convert(fds[i], raw[i], vals[i])
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

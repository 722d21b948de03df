package sdk

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"sync"
	"time"
	"unsafe"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// DB returns the module's database handle. Queries run in the module's own
// PostgreSQL schema (search_path is set to it) under the module's own
// database role, so they see only what the manifest granted: the module's
// tables and the websonic_api views the site owner approved.
//
// The websonic_api views are security barriers: PostgreSQL never pushes a
// join's condition into them, so a plain JOIN reads every row of the view
// for each row it joins. Look core data up by key with a LATERAL subquery,
// whose condition does reach the view's index:
//
//	SELECT m.id, u.username FROM messages m
//	LEFT JOIN LATERAL (SELECT x.username FROM websonic_api.users x
//	                   WHERE x.id = m.author_id LIMIT 1) u ON true
//
// (a page of 50 messages on a site of 2,000 users: 10.5 ms joined, 0.43 ms
// looked up; BENCHMARKS.md, Chat).
//
// Use it as any *sql.DB, with PostgreSQL placeholders ($1, $2, …). Results
// scan into integers, floats, strings, booleans, time.Time, []byte, and
// sql.Null* types; numeric columns arrive as decimal strings, json/jsonb as
// []byte. Do not Close it.
func DB() *sql.DB {
	dbOnce.Do(func() { db = sql.OpenDB(connector{}) })
	return db
}

var (
	dbOnce sync.Once
	db     *sql.DB
)

type connector struct{}

var connIDs uint32

func (connector) Connect(context.Context) (driver.Conn, error) {
	connIDs++
	return &conn{id: connIDs}, nil
}

func (connector) Driver() driver.Driver { return sqlDriver{} }

type sqlDriver struct{}

func (sqlDriver) Open(string) (driver.Conn, error) { return connector{}.Connect(context.Background()) }

// conn is a guest-side handle; the host maps it to a database connection
// for the duration of each request.
type conn struct {
	id     uint32
	closed bool
	// req holds the encoding of the last request (the host reads it only
	// during the call), reused for the next.
	req []byte
}

var (
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

func (c *conn) do(req *abi.DBRequest) (*abi.DBResult, error) {
	req.Conn = c.id
	c.req = req.AppendMarshal(c.req[:0])
	// raw is this result's own copy, which nothing writes to again: the
	// rows' text values alias it (see value).
	raw, err := hostcall.DB(c.req)
	if err != nil {
		return nil, err
	}
	var res abi.DBResult
	if err := res.Unmarshal(raw); err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	if res.Err != nil {
		return nil, res.Err
	}
	return &res, nil
}

// CheckNamedValue passes the argument types encodeArgs takes as they are,
// sparing database/sql its reflection-based conversion; it converts the
// others (int, sql.Null*, driver.Valuer…) as before.
func (c *conn) CheckNamedValue(nv *driver.NamedValue) error {
	switch nv.Value.(type) {
	case nil, int64, float64, bool, string, []byte, time.Time:
		return nil
	}
	return driver.ErrSkip
}

func (c *conn) Prepare(query string) (driver.Stmt, error) { return &stmt{c: c, query: query}, nil }

func (c *conn) PrepareContext(_ context.Context, query string) (driver.Stmt, error) {
	return c.Prepare(query)
}

func (c *conn) Close() error {
	if c.closed {
		return nil
	}
	c.closed = true
	_, err := c.do(&abi.DBRequest{Op: abi.DBClose})
	return err
}

func (c *conn) Begin() (driver.Tx, error) { return c.BeginTx(context.Background(), driver.TxOptions{}) }

func (c *conn) BeginTx(_ context.Context, opts driver.TxOptions) (driver.Tx, error) {
	q := "BEGIN"
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadCommitted:
		q += " ISOLATION LEVEL READ COMMITTED"
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		q += " ISOLATION LEVEL REPEATABLE READ"
	case sql.LevelSerializable:
		q += " ISOLATION LEVEL SERIALIZABLE"
	default:
		return nil, fmt.Errorf("sdk: isolation level %v not supported", sql.IsolationLevel(opts.Isolation))
	}
	if opts.ReadOnly {
		q += " READ ONLY"
	}
	if _, err := c.do(&abi.DBRequest{Op: abi.DBBegin, SQL: q}); err != nil {
		return nil, err
	}
	return &tx{c: c}, nil
}

func (c *conn) QueryContext(_ context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	vals, err := encodeArgs(args)
	if err != nil {
		return nil, err
	}
	res, err := c.do(&abi.DBRequest{Op: abi.DBQuery, SQL: query, Args: vals})
	if err != nil {
		return nil, err
	}
	return &rows{res: res}, nil
}

func (c *conn) ExecContext(_ context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	vals, err := encodeArgs(args)
	if err != nil {
		return nil, err
	}
	res, err := c.do(&abi.DBRequest{Op: abi.DBExec, SQL: query, Args: vals})
	if err != nil {
		return nil, err
	}
	return driver.RowsAffected(res.RowsAffected), nil
}

type tx struct{ c *conn }

func (t *tx) Commit() error {
	_, err := t.c.do(&abi.DBRequest{Op: abi.DBCommit})
	return err
}

func (t *tx) Rollback() error {
	_, err := t.c.do(&abi.DBRequest{Op: abi.DBRollback})
	return err
}

type stmt struct {
	c     *conn
	query string
}

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return s.c.ExecContext(context.Background(), s.query, named(args))
}
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return s.c.QueryContext(context.Background(), s.query, named(args))
}

func named(args []driver.Value) []driver.NamedValue {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	return nv
}

func encodeArgs(args []driver.NamedValue) ([]abi.Value, error) {
	vals := make([]abi.Value, len(args))
	for i, a := range args {
		if a.Name != "" {
			return nil, fmt.Errorf("sdk: named argument %q: use $1, $2, … placeholders", a.Name)
		}
		switch v := a.Value.(type) {
		case nil:
			vals[i] = abi.Value{Kind: abi.KindNull}
		case int64:
			vals[i] = abi.Value{Kind: abi.KindInt, Int: v}
		case float64:
			vals[i] = abi.Value{Kind: abi.KindFloat, Float: v}
		case bool:
			vals[i] = abi.Value{Kind: abi.KindBool, Bool: v}
		case string:
			vals[i] = abi.Value{Kind: abi.KindText, Bytes: []byte(v)}
		case []byte:
			vals[i] = abi.Value{Kind: abi.KindBytes, Bytes: v}
		case time.Time:
			vals[i] = abi.Value{Kind: abi.KindTime, Time: v}
		default:
			return nil, fmt.Errorf("sdk: argument $%d: unsupported type %T", a.Ordinal, a.Value)
		}
	}
	return vals, nil
}

type rows struct {
	res  *abi.DBResult
	next int
}

var _ driver.RowsColumnTypeDatabaseTypeName = (*rows)(nil)

func (r *rows) Columns() []string {
	cols := make([]string, len(r.res.Columns))
	for i, c := range r.res.Columns {
		cols[i] = c.Name
	}
	return cols
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string { return r.res.Columns[i].Type }

func (r *rows) Close() error { return nil }

func (r *rows) Next(dest []driver.Value) error {
	if r.next >= len(r.res.Rows) {
		return io.EOF
	}
	row := r.res.Rows[r.next]
	r.next++
	for i := range row {
		dest[i] = value(&row[i])
	}
	return nil
}

func value(v *abi.Value) driver.Value {
	switch v.Kind {
	case abi.KindInt:
		return v.Int
	case abi.KindFloat:
		return v.Float
	case abi.KindBool:
		return v.Bool
	case abi.KindText, abi.KindNumeric:
		// The result's bytes are never written again (conn.do), so the
		// string may share them instead of copying: one allocation less
		// per text value.
		return unsafe.String(unsafe.SliceData(v.Bytes), len(v.Bytes))
	case abi.KindBytes, abi.KindJSON:
		return v.Bytes
	case abi.KindTime:
		return v.Time
	default:
		return nil
	}
}

package abi

import (
	"encoding/binary"
	"time"
)

// Header is one HTTP header field; a name may repeat.
type Header struct{ Name, Value string }

// User is the authenticated user of a request, as the host knows it.
type User struct {
	ID          int64
	Username    string
	DisplayName string
	// Roles the user holds, most powerful first: "admin" implies "staff"
	// implies "member", and all implied roles are listed.
	Roles []string
}

// HTTPRequest is what the host sends to ExportHTTP.
type HTTPRequest struct {
	Method     string
	URI        string // request target as received: path and query
	Host       string
	RemoteAddr string
	RequestID  string
	Headers    []Header
	Body       []byte
	User       *User // nil for an anonymous request
}

// HTTPResponse is what ExportHTTP returns.
type HTTPResponse struct {
	Status  int
	Headers []Header
	Body    []byte
}

// Log levels of LogRecord, matching hclog's ordering.
const (
	LevelTrace uint32 = 1
	LevelDebug uint32 = 2
	LevelInfo  uint32 = 3
	LevelWarn  uint32 = 4
	LevelError uint32 = 5
)

// LogRecord is a structured log line; Attrs holds key, value pairs.
type LogRecord struct {
	Msg   string
	Attrs []string
}

// DBOp is the operation of a DBRequest.
type DBOp byte

const (
	DBQuery    DBOp = 1 // run SQL and return rows
	DBExec     DBOp = 2 // run SQL and return rows affected
	DBBegin    DBOp = 3 // begin a transaction on the connection
	DBCommit   DBOp = 4
	DBRollback DBOp = 5
	DBClose    DBOp = 6 // the guest closed its connection handle
)

// DBRequest is the input of ImportDB. Conn names a guest-side connection
// handle; the host maps each handle to one database connection for the
// duration of the current guest call and releases it (rolling back any open
// transaction) when the call ends.
type DBRequest struct {
	Op   DBOp
	Conn uint32
	SQL  string
	Args []Value
}

// Kind is the type of a Value.
type Kind byte

const (
	KindNull    Kind = 0
	KindInt     Kind = 1 // Int
	KindFloat   Kind = 2 // Float
	KindBool    Kind = 3 // Bool
	KindText    Kind = 4 // Bytes holds UTF-8 text
	KindBytes   Kind = 5 // Bytes
	KindTime    Kind = 6 // Time (sent as Unix seconds and nanoseconds, UTC)
	KindNumeric Kind = 7 // Bytes holds the decimal text, e.g. "-12.50"
	KindJSON    Kind = 8 // Bytes holds a JSON document
	maxKind          = KindJSON
)

// Value is one SQL argument or result cell.
type Value struct {
	Kind  Kind
	Int   int64
	Float float64
	Bool  bool
	Bytes []byte
	Time  time.Time
}

// Column describes one result column.
type Column struct {
	Name string
	Type string // PostgreSQL type name, e.g. "int8", "text", "timestamptz"
}

// DBResult is the output of ImportDB: either Err is set, or the other fields
// hold the outcome of the operation.
type DBResult struct {
	Err          *DBError
	Columns      []Column
	Rows         [][]Value // each row has len(Columns) values
	RowsAffected int64
}

// DBError is a database error as the guest sees it.
type DBError struct {
	Code    string // SQLSTATE, e.g. "42501"; "" for host-side errors
	Message string
}

func (e *DBError) Error() string {
	if e.Code == "" {
		return e.Message
	}
	return e.Message + " (SQLSTATE " + e.Code + ")"
}

// --- encoding ---

func (u *User) encode(e *encoder) {
	e.varint(u.ID)
	e.str(u.Username)
	e.str(u.DisplayName)
	e.strs(u.Roles)
}

func decodeUser(d *decoder) *User {
	u := &User{}
	u.ID = d.varint("user.id")
	u.Username = d.str("user.username")
	u.DisplayName = d.str("user.display_name")
	u.Roles = d.strs("user.roles")
	return u
}

func encodeHeaders(e *encoder, hs []Header) {
	e.uvarint(uint64(len(hs)))
	for _, h := range hs {
		e.str(h.Name)
		e.str(h.Value)
	}
}

func decodeHeaders(d *decoder) []Header {
	n := d.count("headers", 2)
	if n == 0 {
		return nil
	}
	hs := make([]Header, n)
	for i := range hs {
		hs[i].Name = d.str("header.name")
		hs[i].Value = d.str("header.value")
	}
	return hs
}

// AppendMarshal appends the encoding of r to b.
func (r *HTTPRequest) AppendMarshal(b []byte) []byte {
	e := encoder{b}
	e.str(r.Method)
	e.str(r.URI)
	e.str(r.Host)
	e.str(r.RemoteAddr)
	e.str(r.RequestID)
	encodeHeaders(&e, r.Headers)
	e.bytes(r.Body)
	e.boolean(r.User != nil)
	if r.User != nil {
		r.User.encode(&e)
	}
	return e.b
}

// Unmarshal decodes b into r. Byte fields alias b.
func (r *HTTPRequest) Unmarshal(b []byte) error {
	return r.unmarshal(&decoder{b: b, what: "http request"})
}

// UnmarshalAlias is Unmarshal whose strings share b's memory rather than
// copies of it, which saves an allocation per field: b must never change
// afterwards (the guest's dispatcher decodes each request from a buffer of
// its own, which nothing writes again).
func (r *HTTPRequest) UnmarshalAlias(b []byte) error {
	return r.unmarshal(&decoder{b: b, what: "http request", alias: true})
}

func (r *HTTPRequest) unmarshal(d *decoder) error {
	r.Method = d.str("method")
	r.URI = d.str("uri")
	r.Host = d.str("host")
	r.RemoteAddr = d.str("remote_addr")
	r.RequestID = d.str("request_id")
	r.Headers = decodeHeaders(d)
	r.Body = d.bytes("body")
	r.User = nil
	if d.boolean("has_user") {
		r.User = decodeUser(d)
	}
	return d.finish()
}

// AppendMarshal appends the encoding of r to b.
func (r *HTTPResponse) AppendMarshal(b []byte) []byte {
	e := encoder{b}
	e.varint(int64(r.Status))
	encodeHeaders(&e, r.Headers)
	e.bytes(r.Body)
	return e.b
}

// Unmarshal decodes b into r. Byte fields alias b.
func (r *HTTPResponse) Unmarshal(b []byte) error {
	d := decoder{b: b, what: "http response"}
	status := d.varint("status")
	if d.err == nil && (status < 200 || status > 599) {
		d.fail("status %d out of range", status)
	}
	r.Status = int(status)
	r.Headers = decodeHeaders(&d)
	r.Body = d.bytes("body")
	return d.finish()
}

// AppendMarshal appends the encoding of r to b.
func (r *LogRecord) AppendMarshal(b []byte) []byte {
	e := encoder{b}
	e.str(r.Msg)
	e.strs(r.Attrs)
	return e.b
}

// Unmarshal decodes b into r.
func (r *LogRecord) Unmarshal(b []byte) error {
	d := decoder{b: b, what: "log record"}
	r.Msg = d.str("msg")
	r.Attrs = d.strs("attrs")
	if d.err == nil && len(r.Attrs)%2 != 0 {
		d.fail("attrs: odd count %d", len(r.Attrs))
	}
	return d.finish()
}

func encodeValue(e *encoder, v *Value) {
	e.byte1(byte(v.Kind))
	switch v.Kind {
	case KindInt:
		e.varint(v.Int)
	case KindFloat:
		e.float(v.Float)
	case KindBool:
		e.boolean(v.Bool)
	case KindText, KindBytes, KindNumeric, KindJSON:
		e.bytes(v.Bytes)
	case KindTime:
		t := v.Time.UTC()
		e.varint(t.Unix())
		e.uvarint(uint64(t.Nanosecond()))
	}
}

func decodeValue(d *decoder, v *Value) {
	k := Kind(d.byte1("value.kind"))
	if d.err == nil && k > maxKind {
		d.fail("value.kind: unknown kind %d", k)
		return
	}
	*v = Value{Kind: k}
	switch k {
	case KindInt:
		v.Int = d.varint("value.int")
	case KindFloat:
		v.Float = d.float("value.float")
	case KindBool:
		v.Bool = d.boolean("value.bool")
	case KindText, KindBytes, KindNumeric, KindJSON:
		v.Bytes = d.bytes("value.bytes")
	case KindTime:
		sec := d.varint("value.time.sec")
		nsec := d.uvarint("value.time.nsec")
		if d.err == nil && nsec >= 1e9 {
			d.fail("value.time.nsec: %d out of range", nsec)
			return
		}
		v.Time = time.Unix(sec, int64(nsec)).UTC()
	}
}

// AppendMarshal appends the encoding of r to b.
func (r *DBRequest) AppendMarshal(b []byte) []byte {
	e := encoder{b}
	e.byte1(byte(r.Op))
	e.uvarint(uint64(r.Conn))
	e.str(r.SQL)
	e.uvarint(uint64(len(r.Args)))
	for i := range r.Args {
		encodeValue(&e, &r.Args[i])
	}
	return e.b
}

// Unmarshal decodes b into r. Byte fields alias b.
func (r *DBRequest) Unmarshal(b []byte) error {
	d := decoder{b: b, what: "db request"}
	r.Op = DBOp(d.byte1("op"))
	if d.err == nil && (r.Op < DBQuery || r.Op > DBClose) {
		d.fail("op: unknown op %d", r.Op)
	}
	conn := d.uvarint("conn")
	if d.err == nil && conn > 1<<32-1 {
		d.fail("conn: %d out of range", conn)
	}
	r.Conn = uint32(conn)
	r.SQL = d.str("sql")
	n := d.count("args", 1)
	r.Args = nil
	if n > 0 {
		r.Args = make([]Value, n)
		for i := range r.Args {
			decodeValue(&d, &r.Args[i])
		}
	}
	return d.finish()
}

// AppendMarshal appends the encoding of r to b.
func (r *DBResult) AppendMarshal(b []byte) []byte {
	e := encoder{b}
	e.boolean(r.Err != nil)
	if r.Err != nil {
		e.str(r.Err.Code)
		e.str(r.Err.Message)
		return e.b
	}
	e.uvarint(uint64(len(r.Columns)))
	for _, c := range r.Columns {
		e.str(c.Name)
		e.str(c.Type)
	}
	e.uvarint(uint64(len(r.Rows)))
	for _, row := range r.Rows {
		for i := range row {
			encodeValue(&e, &row[i])
		}
	}
	e.varint(r.RowsAffected)
	return e.b
}

// Unmarshal decodes b into r. Byte fields alias b.
func (r *DBResult) Unmarshal(b []byte) error {
	d := decoder{b: b, what: "db result"}
	*r = DBResult{}
	if d.boolean("has_err") {
		r.Err = &DBError{Code: d.str("err.code"), Message: d.str("err.message")}
		return d.finish()
	}
	nc := d.count("columns", 2)
	if nc > 0 {
		r.Columns = make([]Column, nc)
		for i := range r.Columns {
			r.Columns[i].Name = d.str("column.name")
			r.Columns[i].Type = d.str("column.type")
		}
	}
	minRow := nc
	if minRow == 0 {
		minRow = 1
	}
	nr := d.count("rows", minRow)
	if nr > 0 {
		if nc == 0 {
			d.fail("rows: %d rows without columns", nr)
			return d.err
		}
		cells := make([]Value, nr*nc)
		r.Rows = make([][]Value, nr)
		for i := range r.Rows {
			row := cells[i*nc : (i+1)*nc : (i+1)*nc]
			for j := range row {
				decodeValue(&d, &row[j])
			}
			r.Rows[i] = row
		}
	}
	r.RowsAffected = d.varint("rows_affected")
	return d.finish()
}

// ResultWriter streams a DBResult row by row, so the host can stop at a size
// cap without building the rows first.
type ResultWriter struct {
	e    encoder
	rows int
	// head holds the encoding up to the row count, written by Finish.
	head []byte
}

// NewResultWriter starts a successful result with the given columns,
// appending to buf.
func NewResultWriter(buf []byte, cols []Column) *ResultWriter {
	w := &ResultWriter{}
	w.e.b = buf
	w.e.boolean(false)
	w.e.uvarint(uint64(len(cols)))
	for _, c := range cols {
		w.e.str(c.Name)
		w.e.str(c.Type)
	}
	w.head = w.e.b
	w.e.b = nil
	return w
}

// AppendValue appends one cell; callers append len(cols) values per row and
// call EndRow after each.
func (w *ResultWriter) AppendValue(v *Value) { encodeValue(&w.e, v) }

// EndRow marks the end of a row.
func (w *ResultWriter) EndRow() { w.rows++ }

// Len is the size of the encoding so far.
func (w *ResultWriter) Len() int { return len(w.head) + len(w.e.b) + 10 }

// Finish returns the complete encoding.
func (w *ResultWriter) Finish(rowsAffected int64) []byte {
	out := binary.AppendUvarint(w.head, uint64(w.rows))
	out = append(out, w.e.b...)
	e := encoder{out}
	e.varint(rowsAffected)
	return e.b
}

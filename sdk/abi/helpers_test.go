package abi_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"time"

	"github.com/websonic/websonic/sdk/abi"
)

// wire builds raw encodings by hand, for inputs no encoder would produce.
type wire []byte

func (w wire) u(v uint64) wire { return binary.AppendUvarint(w, v) }
func (w wire) i(v int64) wire  { return binary.AppendVarint(w, v) }
func (w wire) b(v ...byte) wire {
	return append(w, v...)
}
func (w wire) s(v string) wire { return append(w.u(uint64(len(v))), v...) }

// Equality that treats nil and empty slices alike, compares floats by bits
// (so NaN equals itself) and times by instant, and checks that decoded
// times are in UTC.

func eqUser(a, b *abi.User) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID && a.Username == b.Username && a.DisplayName == b.DisplayName && slices.Equal(a.Roles, b.Roles)
}

func eqHTTPRequest(a, b *abi.HTTPRequest) bool {
	return a.Method == b.Method && a.URI == b.URI && a.Host == b.Host && a.RemoteAddr == b.RemoteAddr &&
		a.RequestID == b.RequestID && slices.Equal(a.Headers, b.Headers) && bytes.Equal(a.Body, b.Body) &&
		eqUser(a.User, b.User)
}

func eqHTTPResponse(a, b *abi.HTTPResponse) bool {
	return a.Status == b.Status && slices.Equal(a.Headers, b.Headers) && bytes.Equal(a.Body, b.Body)
}

func eqLogRecord(a, b *abi.LogRecord) bool {
	return a.Msg == b.Msg && slices.Equal(a.Attrs, b.Attrs)
}

func eqValue(a, b abi.Value) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case abi.KindInt:
		return a.Int == b.Int
	case abi.KindFloat:
		return math.Float64bits(a.Float) == math.Float64bits(b.Float)
	case abi.KindBool:
		return a.Bool == b.Bool
	case abi.KindText, abi.KindBytes, abi.KindNumeric, abi.KindJSON:
		return bytes.Equal(a.Bytes, b.Bytes)
	case abi.KindTime:
		return a.Time.Equal(b.Time)
	}
	return true
}

func eqValues(a, b []abi.Value) bool { return slices.EqualFunc(a, b, eqValue) }

func eqDBRequest(a, b *abi.DBRequest) bool {
	return a.Op == b.Op && a.Conn == b.Conn && a.SQL == b.SQL && eqValues(a.Args, b.Args)
}

func eqDBResult(a, b *abi.DBResult) bool {
	if (a.Err == nil) != (b.Err == nil) {
		return false
	}
	if a.Err != nil {
		return *a.Err == *b.Err
	}
	return slices.Equal(a.Columns, b.Columns) && slices.EqualFunc(a.Rows, b.Rows, eqValues) &&
		a.RowsAffected == b.RowsAffected
}

// decodedTimesUTC reports whether every time value in vs is in UTC, as the
// decoder promises.
func decodedTimesUTC(vs []abi.Value) bool {
	for _, v := range vs {
		if v.Kind == abi.KindTime && v.Time.Location() != time.UTC {
			return false
		}
	}
	return true
}

// Round-trip cases, shared by the table tests and the fuzzers' seed corpora.

var (
	someUser = &abi.User{ID: 42, Username: "ada", DisplayName: "Ada Lovelace", Roles: []string{"admin", "staff", "member"}}

	httpRequests = []struct {
		name string
		msg  abi.HTTPRequest
	}{
		{"zero", abi.HTTPRequest{}},
		{"anonymous", abi.HTTPRequest{
			Method: "GET", URI: "/guestbook?page=2", Host: "example.com", RemoteAddr: "192.0.2.1:51234",
			RequestID: "0f1e2d3c4b5a6978",
			Headers:   []abi.Header{{"Accept", "text/html"}, {"Accept", "application/json"}, {"Cookie", "theme=dark"}},
		}},
		{"with user and body", abi.HTTPRequest{
			Method: "POST", URI: "/guestbook", Host: "example.com:8080", RemoteAddr: "[2001:db8::1]:443",
			RequestID: "r1", Headers: []abi.Header{{"Content-Type", "application/x-www-form-urlencoded"}},
			Body: []byte("message=hello+w%C3%B6rld"), User: someUser,
		}},
		{"user without roles", abi.HTTPRequest{Method: "GET", URI: "/", User: &abi.User{ID: -1}}},
		{"binary body and odd strings", abi.HTTPRequest{
			Method: "PUT", URI: "/x", Headers: []abi.Header{{"", ""}, {"X-Bin", "\x00\xff"}},
			Body: bytes.Repeat([]byte{0, 0xff, 0x80}, 300), User: &abi.User{ID: math.MinInt64, Username: "\xff"},
		}},
	}

	httpResponses = []struct {
		name string
		msg  abi.HTTPResponse
	}{
		{"minimal", abi.HTTPResponse{Status: 204}},
		{"html", abi.HTTPResponse{Status: 200, Headers: []abi.Header{{"Content-Type", "text/html; charset=utf-8"}}, Body: []byte("<p>hi</p>")}},
		{"repeated headers", abi.HTTPResponse{Status: 303, Headers: []abi.Header{{"Set-Cookie", "a=1"}, {"Set-Cookie", "b=2"}, {"Location", "/guestbook"}}}},
		{"lowest status", abi.HTTPResponse{Status: 200}},
		{"highest status", abi.HTTPResponse{Status: 599, Body: make([]byte, 70000)}},
	}

	logRecords = []struct {
		name string
		msg  abi.LogRecord
	}{
		{"empty", abi.LogRecord{}},
		{"message only", abi.LogRecord{Msg: "guestbook signed"}},
		{"attrs", abi.LogRecord{Msg: "list entries", Attrs: []string{"user", "ada", "error", "boom", "", ""}}},
	}

	// Times that stress the sec+nsec encoding.
	timeWithNanos = time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.UTC)
	timeBefore70  = time.Date(1969, 7, 20, 20, 17, 40, 999999999, time.UTC) // negative Unix seconds
	timeZoned     = time.Date(2025, 1, 1, 9, 0, 0, 1, time.FixedZone("CET", 3600))

	allKinds = []abi.Value{
		{Kind: abi.KindNull},
		{Kind: abi.KindInt, Int: math.MinInt64},
		{Kind: abi.KindInt, Int: math.MaxInt64},
		{Kind: abi.KindInt, Int: 0},
		{Kind: abi.KindFloat, Float: -1.5},
		{Kind: abi.KindFloat, Float: math.Inf(1)},
		{Kind: abi.KindFloat, Float: math.NaN()},
		{Kind: abi.KindFloat, Float: math.Copysign(0, -1)},
		{Kind: abi.KindBool, Bool: true},
		{Kind: abi.KindBool, Bool: false},
		{Kind: abi.KindText, Bytes: []byte("héllo")},
		{Kind: abi.KindText},
		{Kind: abi.KindBytes, Bytes: []byte{0, 1, 0xff}},
		{Kind: abi.KindTime, Time: timeWithNanos},
		{Kind: abi.KindTime, Time: timeBefore70},
		{Kind: abi.KindTime, Time: timeZoned},
		{Kind: abi.KindTime, Time: time.Unix(-1, 1).UTC()},
		{Kind: abi.KindTime, Time: time.Time{}},
		{Kind: abi.KindTime, Time: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{Kind: abi.KindNumeric, Bytes: []byte("-12.50")},
		{Kind: abi.KindNumeric, Bytes: []byte("NaN")},
		{Kind: abi.KindJSON, Bytes: []byte(`{"a":[1,2]}`)},
	}

	dbRequests = []struct {
		name string
		msg  abi.DBRequest
	}{
		{"query without args", abi.DBRequest{Op: abi.DBQuery, Conn: 1, SQL: "SELECT 1"}},
		{"query with every kind", abi.DBRequest{Op: abi.DBQuery, Conn: 7, SQL: "SELECT $1, $2", Args: allKinds}},
		{"exec", abi.DBRequest{Op: abi.DBExec, Conn: 1<<32 - 1, SQL: "INSERT INTO t VALUES ($1)", Args: []abi.Value{{Kind: abi.KindInt, Int: 5}}}},
		{"begin", abi.DBRequest{Op: abi.DBBegin, Conn: 2, SQL: "BEGIN ISOLATION LEVEL SERIALIZABLE READ ONLY"}},
		{"commit", abi.DBRequest{Op: abi.DBCommit, Conn: 2}},
		{"rollback", abi.DBRequest{Op: abi.DBRollback, Conn: 2}},
		{"close", abi.DBRequest{Op: abi.DBClose}},
	}

	dbResults = []struct {
		name string
		msg  abi.DBResult
	}{
		{"empty", abi.DBResult{}},
		{"exec", abi.DBResult{RowsAffected: 3}},
		{"negative rows affected", abi.DBResult{RowsAffected: -1}},
		{"error with sqlstate", abi.DBResult{Err: &abi.DBError{Code: "42501", Message: "permission denied for table users"}}},
		{"host error", abi.DBResult{Err: &abi.DBError{Message: "websonic: this module has no database access"}}},
		{"columns without rows", abi.DBResult{Columns: []abi.Column{{"id", "int8"}, {"name", "text"}}}},
		{"rows", abi.DBResult{
			Columns: []abi.Column{{"id", "int8"}, {"name", "text"}, {"at", "timestamptz"}},
			Rows: [][]abi.Value{
				{{Kind: abi.KindInt, Int: 1}, {Kind: abi.KindText, Bytes: []byte("ada")}, {Kind: abi.KindTime, Time: timeWithNanos}},
				{{Kind: abi.KindInt, Int: 2}, {Kind: abi.KindNull}, {Kind: abi.KindTime, Time: timeBefore70}},
			},
			RowsAffected: 2,
		}},
		{"every kind in one row", abi.DBResult{Columns: make([]abi.Column, len(allKinds)), Rows: [][]abi.Value{allKinds, allKinds}, RowsAffected: 2}},
	}
)

func timeOf(sec, nsec int64) time.Time { return time.Unix(sec, nsec).UTC() }

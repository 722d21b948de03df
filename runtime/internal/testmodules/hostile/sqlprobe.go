package main

import (
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/websonic/websonic/sdk"
)

// The endpoints below are not attacks: they check the SDK's database/sql
// driver end to end (every supported type both ways, transactions).

// types scans one row of every supported type and sends the same values
// back as arguments.
func types(w http.ResponseWriter, r *http.Request) {
	var (
		i2, i4, i8    int64
		f4, f8        float64
		b             bool
		txt, vc, num  string
		bytea, js, jb []byte
		ts, d         time.Time
		null          sql.NullString
		uuid          string
	)
	err := sdk.DB().QueryRowContext(r.Context(), `SELECT 42::int2, 7::int4, 9007199254740993::int8, 1.5::float4, 2.25::float8,
		true, 'text'::text, 'vc'::varchar, '\xdeadbeef'::bytea, '2024-02-29 12:34:56.789123+00'::timestamptz, '2024-02-29'::date,
		'-12345.6789'::numeric, '{"a": [1, 2]}'::json, '{"b": true}'::jsonb, NULL::text, '0e5c0a76-8e2a-4a0e-9e4c-5b3f8e9f7a11'::uuid`).
		Scan(&i2, &i4, &i8, &f4, &f8, &b, &txt, &vc, &bytea, &ts, &d, &num, &js, &jb, &null, &uuid)
	if err != nil {
		http.Error(w, "scan: "+err.Error(), 500)
		return
	}
	out := map[string]string{
		"int2": fmt.Sprint(i2), "int4": fmt.Sprint(i4), "int8": fmt.Sprint(i8), "float4": fmt.Sprint(f4), "float8": fmt.Sprint(f8),
		"bool": fmt.Sprint(b), "text": txt, "varchar": vc, "bytea": hex.EncodeToString(bytea),
		"timestamptz": ts.UTC().Format(time.RFC3339Nano), "date": d.Format(time.DateOnly), "numeric": num,
		"json": string(js), "jsonb": string(jb), "null": fmt.Sprint(null.Valid), "uuid": uuid,
	}
	// And back: arguments of every kind.
	var back string
	err = sdk.DB().QueryRowContext(r.Context(), `SELECT concat_ws('|', $1::int8, $2::text, encode($3::bytea, 'hex'),
		to_char($4::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US'), $5::bool, $6::float8, $7::numeric, $8::jsonb->>'x', $9::text IS NULL)`,
		int64(-5), "héllo", []byte{0, 1, 254}, ts, true, 0.125, "3.14", `{"x": "y"}`, nil).Scan(&back)
	if err != nil {
		http.Error(w, "args: "+err.Error(), 500)
		return
	}
	out["args"] = back
	json.NewEncoder(w).Encode(out)
}

// txProbe inserts a row in a transaction, then commits, rolls back, or
// leaves the transaction open (the host must roll it back after the call).
func txProbe(w http.ResponseWriter, r *http.Request) {
	mode := r.URL.Query().Get("mode")
	tx, err := sdk.DB().BeginTx(r.Context(), nil)
	if err != nil {
		http.Error(w, "begin: "+err.Error(), 500)
		return
	}
	if _, err := tx.Exec(`INSERT INTO loot (v) VALUES ($1)`, mode); err != nil {
		http.Error(w, "insert: "+err.Error(), 500)
		return
	}
	switch mode {
	case "commit":
		err = tx.Commit()
	case "rollback":
		err = tx.Rollback()
	case "leave":
		// return with the transaction open
	}
	if err != nil {
		http.Error(w, mode+": "+err.Error(), 500)
		return
	}
	var n int
	if err := sdk.DB().QueryRow(`SELECT count(*) FROM loot`).Scan(&n); err != nil {
		http.Error(w, "count: "+err.Error(), 500)
		return
	}
	fmt.Fprint(w, n)
}

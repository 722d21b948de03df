package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/internal/hostcall"
)

// Args are an admin command's arguments, as the runtime checked them
// against the command's declaration in module.json (capabilities
// .admin_commands[].args): every value has its declared type, required
// ones are there, and defaults are filled in.
type Args struct {
	values map[string]json.RawMessage
	actor  string
	user   *User
}

// Decode decodes the arguments into v, a pointer to a struct whose fields
// name them with json tags (`json:"count"`), as encoding/json does.
func (a Args) Decode(v any) error {
	b, err := json.Marshal(a.values)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("sdk: command arguments: %w", err)
	}
	return nil
}

// Has reports whether the argument was given or has a default.
func (a Args) Has(name string) bool { _, ok := a.values[name]; return ok }

// String returns a string argument ("" when absent or of another type).
func (a Args) String(name string) string {
	var s string
	json.Unmarshal(a.values[name], &s)
	return s
}

// Int returns an integer argument (0 when absent or of another type).
func (a Args) Int(name string) int64 {
	var n int64
	json.Unmarshal(a.values[name], &n)
	return n
}

// Float returns a number argument (0 when absent or of another type).
func (a Args) Float(name string) float64 {
	var f float64
	json.Unmarshal(a.values[name], &f)
	return f
}

// Bool returns a boolean argument (false when absent or of another type).
func (a Args) Bool(name string) bool {
	var b bool
	json.Unmarshal(a.values[name], &b)
	return b
}

// User is the admin running the command from the admin area (once it
// offers commands), or nil when the site's owner runs it from the server's
// terminal (`websonic exec`).
func (a Args) User() *User { return a.user }

// Actor names who runs the command, as the site's audit log records it:
// "admin NAME (id N)", or "terminal (OS user)" for `websonic exec`.
func (a Args) Actor() string { return a.actor }

// Result is what an admin command answers: text (Text) or a table
// (Table). The zero Result is an empty text.
type Result struct {
	text    string
	columns []string
	rows    [][]any
}

// Text is a result shown as it is: `websonic exec` prints it (the admin
// area will show it preformatted).
func Text(s string) Result { return Result{text: s} }

// Table is a result shown as a table: each row has one cell per column,
// each cell a string, a number, a boolean or nil (shown empty). The
// runtime refuses more than 64 columns or 10000 rows, and any result over
// 1 MiB.
func Table(columns []string, rows [][]any) Result {
	if columns == nil {
		columns = []string{}
	}
	if rows == nil {
		rows = [][]any{}
	}
	return Result{columns: columns, rows: rows}
}

func (r Result) MarshalJSON() ([]byte, error) {
	if r.columns != nil {
		return json.Marshal(struct {
			Columns []string `json:"columns"`
			Rows    [][]any  `json:"rows"`
		}{r.columns, r.rows})
	}
	return json.Marshal(struct {
		Text string `json:"text"`
	}{r.text})
}

// commandCall is the host's body (sdk/ABI.md section 12).
type commandCall struct {
	Command string                     `json:"command"`
	Args    map[string]json.RawMessage `json:"args"`
	Actor   string                     `json:"actor"`
}

// commandFuncs are the module's commands, by name.
var commandFuncs = map[string]func(context.Context, Args) (Result, error){}

// Command registers run as the admin command name, which module.json must
// declare (capabilities.admin_commands) with its arguments: the runtime
// runs only declared commands, for admins only, with arguments checked
// against the declaration. Call it from an init function.
//
// The site's owner runs it from the server's terminal (the admin area
// will offer commands to admins too):
//
//	websonic exec MODULE NAME --count 3
//
// run's error fails the command: its message is shown to the admin and
// recorded in the audit log. A command runs like a request, under the
// same deadline, with the module's database and configuration.
func Command(name string, run func(ctx context.Context, args Args) (Result, error)) {
	commandFuncs[name] = run
	onHost(abi.CommandPathPrefix, serveCommand)
	hostcall.SetHandler(disp.serve)
}

func serveCommand(r *http.Request) (int, []byte) {
	name := strings.TrimPrefix(r.URL.Path, abi.CommandPathPrefix)
	run := commandFuncs[name]
	if run == nil {
		return http.StatusNotFound, []byte("this module has no command " + name + "\n")
	}
	var call commandCall
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&call); err != nil {
		return http.StatusBadRequest, []byte("sdk: the command's arguments: " + err.Error())
	}
	res, err := run(r.Context(), Args{values: call.Args, actor: call.Actor, user: UserFrom(r)})
	if err != nil {
		return http.StatusInternalServerError, []byte(err.Error())
	}
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(res); err != nil {
		return http.StatusInternalServerError, []byte("sdk: the command's result: " + err.Error())
	}
	return http.StatusOK, b.Bytes()
}

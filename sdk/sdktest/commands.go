package sdktest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

// CommandResult is an admin command's answer: Text, or a table (Columns
// set).
type CommandResult struct {
	Text    string   `json:"text"`
	Columns []string `json:"columns"`
	Rows    [][]any  `json:"rows"`
}

// ErrCommandFailed: the command (or job) answered with an error.
var ErrCommandFailed = errors.New("sdktest: the command failed")

// RunCommand runs the admin command the module registered with
// sdk.Command as the runtime would for user (an admin, or nil as from
// `websonic exec`). args are the arguments as the runtime hands them over:
// checked and with defaults filled in (RunCommand checks nothing against
// the manifest). Numbers in a table come back as json.Number.
func RunCommand(name string, args map[string]any, user *sdk.User) (*CommandResult, error) {
	actor := "terminal (test)"
	if user != nil {
		actor = fmt.Sprintf("admin %s (id %d)", user.Username, user.ID)
	}
	body, err := json.Marshal(map[string]any{"command": name, "args": args, "actor": actor})
	if err != nil {
		return nil, err
	}
	out, err := hostPost(abi.CommandPathPrefix+name, body, user)
	if err != nil {
		return nil, err
	}
	var res CommandResult
	dec := json.NewDecoder(bytes.NewReader(out))
	dec.UseNumber()
	if err := dec.Decode(&res); err != nil {
		return nil, fmt.Errorf("sdktest: the command's result: %w", err)
	}
	return &res, nil
}

// RunJob runs the scheduled job the module registered with sdk.Job for
// tick, as the runtime would.
func RunJob(name string, tick time.Time) error {
	body, _ := json.Marshal(map[string]any{"job": name, "tick": tick.UTC()})
	_, err := hostPost(abi.JobPathPrefix+name, body, nil)
	return err
}

func hostPost(path string, body []byte, user *sdk.User) ([]byte, error) {
	r, err := http.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.Header.Set("Content-Type", "application/json")
	resp := Do(r, user)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, fmt.Errorf("%w: %d %s", ErrCommandFailed, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return b, nil
}

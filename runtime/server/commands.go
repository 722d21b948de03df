package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/internal/commands"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/engine"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/manifest"
)

// CommandResult is an admin command's answer: text, or a table (Columns
// set; cells are strings, json.Number, bool or nil).
type CommandResult = commands.Result

// CommandForm describes an admin command for a form (the admin UI) or a
// listing (`websonic exec MODULE`).
type CommandForm struct {
	Module      string
	Name        string
	Description string
	// Args are the command's arguments in the order a form shows them:
	// name, type (string, integer, number, boolean), description,
	// required, default (JSON).
	Args []manifest.CommandArg
}

// Errors of admin commands (compare with errors.Is).
var (
	// ErrNotAdmin: only a site admin may run admin commands.
	ErrNotAdmin = errors.New("only an admin may run admin commands")
	// ErrUnknownModule: no running module has that name.
	ErrUnknownModule = errors.New("no such module is running")
	// ErrUnknownCommand: the module's manifest declares no such command.
	ErrUnknownCommand = errors.New("no such admin command")
	// ErrBadArguments: the arguments do not match the command's
	// declaration.
	ErrBadArguments = errors.New("bad arguments")
	// ErrCommandFailed: the module answered with an error, trapped, or
	// did not answer in time, or its result was not valid.
	ErrCommandFailed = errors.New("the command failed")
)

// Commands lists the admin commands of the running modules, by module
// and name.
func (s *Server) Commands() []CommandForm {
	var out []CommandForm
	for _, m := range s.Modules() {
		out = append(out, commandForms(m.Manifest())...)
	}
	slices.SortFunc(out, func(a, b CommandForm) int {
		return strings.Compare(a.Module+"\x00"+a.Name, b.Module+"\x00"+b.Name)
	})
	return out
}

func commandForms(m *manifest.Manifest) []CommandForm {
	var out []CommandForm
	for _, c := range m.Capabilities.AdminCommands {
		out = append(out, CommandForm{Module: m.Name, Name: c.Name, Description: c.Description, Args: slices.Clone(c.Args)})
	}
	return out
}

// RunCommand runs a module's admin command for user, who must be an admin
// (else ErrNotAdmin), with arguments as JSON values (a form's), checked
// against the command's declaration (ErrBadArguments). The run is audited
// (command.run). A failing command's error wraps ErrCommandFailed and
// carries the module's message.
func (s *Server) RunCommand(ctx context.Context, user *site.User, module, command string, args map[string]json.RawMessage) (*CommandResult, error) {
	if !user.Has(site.RoleAdmin) {
		return nil, ErrNotAdmin
	}
	by := commandActor{id: user.ID, name: fmt.Sprintf("admin %s (id %d)", user.Username, user.ID),
		user: &abi.User{ID: user.ID, Username: user.Username, DisplayName: user.DisplayName, Roles: user.Roles()}}
	return s.runCommand(ctx, by, module, command, func(c *manifest.AdminCommand) ([]byte, error) {
		if args == nil {
			args = map[string]json.RawMessage{}
		}
		return c.ResolveArgs(args)
	})
}

// commandActor is who runs a command: an admin (id, user) or the owner at
// the server's terminal (name only).
type commandActor struct {
	id   int64
	name string
	user *abi.User
}

// runCommand finds the command, resolves its arguments, calls the module
// and audits the run.
func (s *Server) runCommand(ctx context.Context, by commandActor, module, name string, resolve func(*manifest.AdminCommand) ([]byte, error)) (*CommandResult, error) {
	m := s.Module(module)
	if m == nil {
		return nil, fmt.Errorf("%w: %q (running modules with commands: %s)", ErrUnknownModule, module, s.modulesWithCommands())
	}
	if s.moduleDisabled(module) {
		return nil, fmt.Errorf("%w: %s is disabled by the site's owner, so its commands do not run: enable it first (websonic module enable %s)", ErrModuleDisabled, module, module)
	}
	c := m.Manifest().Capabilities.Command(name)
	if c == nil {
		return nil, fmt.Errorf("%w: %s has no command %q (%s)", ErrUnknownCommand, module, name, commandNames(m.Manifest()))
	}
	args, err := resolve(c)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w (its arguments: %s)", ErrBadArguments, module, name, err, commands.Usage(c))
	}
	body, _ := json.Marshal(commands.Call{Command: name, Args: args, Actor: by.name})
	start := time.Now()
	resp, err := m.Call(ctx, abi.CommandPathPrefix+name, by.user, body, "cmd-"+randomID())
	took := time.Since(start)
	var res *CommandResult
	switch {
	case errors.Is(err, engine.ErrTimeout):
		err = fmt.Errorf("%w: %s %s did not answer within its deadline", ErrCommandFailed, module, name)
	case err != nil && resp != nil: // 404: declared but not served
		err = fmt.Errorf("%w: %s %s: the module declares it but does not serve it", ErrCommandFailed, module, name)
	case err != nil:
		err = fmt.Errorf("%w: %s %s: %w", ErrCommandFailed, module, name, err)
	case resp.Status < 200 || resp.Status > 299:
		err = fmt.Errorf("%w: %s %s: %s", ErrCommandFailed, module, name, commands.ErrorMessage(resp.Body))
	default:
		if res, err = commands.ParseResult(resp.Body); err != nil {
			err = fmt.Errorf("%w: %s %s: %w", ErrCommandFailed, module, name, err)
		}
	}
	detail := map[string]any{
		"module": module, "version": m.Manifest().Version, "command": name, "args": json.RawMessage(args),
		"actor": by.name, "outcome": "ok", "duration_ms": took.Milliseconds(),
	}
	if err != nil {
		detail["outcome"], detail["error"] = "error", err.Error()
	}
	s.auditBy(ctx, by.id, "command.run", module+" "+name, detail)
	return res, err
}

func (s *Server) modulesWithCommands() string {
	var names []string
	for _, m := range s.Modules() {
		if len(m.Manifest().Capabilities.AdminCommands) > 0 {
			names = append(names, m.Manifest().Name)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func commandNames(m *manifest.Manifest) string {
	var names []string
	for _, c := range m.Capabilities.AdminCommands {
		names = append(names, c.Name)
	}
	if len(names) == 0 {
		return "it declares none"
	}
	return "its commands: " + strings.Join(names, ", ")
}

func randomID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// handleRequests registers the server's own actions on the request queue:
// exec runs an admin command for the owner at the terminal (arguments in
// their command-line form, a JSON object of strings), commands lists a
// module's commands. Without a registry, the updater's actions fail with
// a message saying so.
func (s *Server) handleRequests() {
	s.queue.Handle(ActionSiteReload, s.handleSiteReload) // sitemove.go
	s.queue.Handle("exec", func(ctx context.Context, r requestq.Request) (string, error) {
		values := map[string]string{}
		if len(r.Args) > 0 {
			if err := json.Unmarshal(r.Args, &values); err != nil {
				return "", fmt.Errorf("%w: %s %s: the arguments are not an object of strings: %w", ErrBadArguments, r.Module, r.Command, err)
			}
		}
		actor := r.Actor
		if actor == "" {
			actor = "terminal"
		}
		res, err := s.runCommand(ctx, commandActor{name: actor}, r.Module, r.Command, func(c *manifest.AdminCommand) ([]byte, error) {
			if err := checkNumbers(c, values); err != nil {
				return nil, err
			}
			return c.ParseArgs(values)
		})
		if err != nil {
			return "", err
		}
		b, err := json.Marshal(res)
		return string(b), err
	})
	s.queue.Handle("commands", func(ctx context.Context, r requestq.Request) (string, error) {
		m := s.Module(r.Module)
		if m == nil {
			return "", fmt.Errorf("%w: %q (running modules with commands: %s)", ErrUnknownModule, r.Module, s.modulesWithCommands())
		}
		forms := commandForms(m.Manifest())
		if forms == nil {
			forms = []CommandForm{}
		}
		b, err := json.Marshal(forms)
		return string(b), err
	})
}

// checkNumbers says plainly which command-line value is not a number of
// its argument's type (ParseArgs would quote a JSON decoder's error).
func checkNumbers(c *manifest.AdminCommand, values map[string]string) error {
	var errs []error
	for _, a := range c.Args {
		v, ok := values[a.Name]
		if !ok {
			continue
		}
		switch a.Type {
		case "integer":
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				errs = append(errs, fmt.Errorf("--%s: %q is not an integer", a.Name, v))
			}
		case "number":
			if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
				errs = append(errs, fmt.Errorf("--%s: %q is not a number", a.Name, v))
			}
		}
	}
	return errors.Join(errs...)
}

// unhandledRequest is the error of a request this runtime cannot carry
// out: the updater's, without a registry.
func unhandledRequest(r requestq.Request) error {
	switch r.Action {
	case "install", "rollback", "approve", "policy":
		return fmt.Errorf("the runtime serving the site runs without a registry, so it cannot %s modules: "+
			"start it with --registry URL --trusted-root root.json (`make run` does)", r.Action)
	}
	return fmt.Errorf("this runtime does not know the request %q (is it older than the CLI?)", r.Action)
}

// Exec asks a runtime serving the site to run a module's admin command
// with arguments in their command-line form (`--name value`: values as
// strings, checked against the command's declaration by the runtime), for
// actor (recorded in the audit log), and waits for its result. Errors are
// the runtime's (unknown module, command or argument, the command's own
// failure) or say what became of the request (see Request).
func (c *Console) Exec(ctx context.Context, module, command string, args map[string]string, actor string, opts RequestOptions) (*CommandResult, error) {
	raw, err := json.Marshal(args)
	if err != nil {
		return nil, err
	}
	if args == nil {
		raw = nil
	}
	res, err := c.Request(ctx, ModuleRequest{Action: "exec", Module: module, Command: command, Args: raw, Actor: actor}, opts)
	if err != nil {
		return nil, err
	}
	var out CommandResult
	dec := json.NewDecoder(strings.NewReader(res))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("server: the runtime's command result: %w", err)
	}
	return &out, nil
}

// CommandsOf asks a runtime serving the site for a running module's admin
// commands.
func (c *Console) CommandsOf(ctx context.Context, module string, opts RequestOptions) ([]CommandForm, error) {
	res, err := c.Request(ctx, ModuleRequest{Action: "commands", Module: module}, opts)
	if err != nil {
		return nil, err
	}
	var out []CommandForm
	if err := json.Unmarshal([]byte(res), &out); err != nil {
		return nil, fmt.Errorf("server: the runtime's list of commands: %w", err)
	}
	return out, nil
}

// auditBy records an action of actorID (0: the runtime, or the owner at
// the terminal) in the audit log; a failure is logged.
func (s *Server) auditBy(ctx context.Context, actorID int64, action, subject string, detail any) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := coredb.Audit(ctx, s.db.Pool, actorID, action, subject, detail); err != nil {
		s.log.Error("audit log", "error", err)
	}
}

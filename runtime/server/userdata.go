package server

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/jobs"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/abi"
)

// ExportFormat names the layout of a personal data export archive.
const ExportFormat = "websonic-user-export/1"

// ExportManifest is manifest.json in an export archive: what the archive
// holds, and what each running module answered.
type ExportManifest struct {
	Format  string    `json:"format"`
	UserID  int64     `json:"user_id"`
	Created time.Time `json:"created"`
	// Files lists the archive's other files and what each holds.
	Files []ExportFile `json:"files"`
	// Modules says, per running module: "exported" (modules/<name>.json),
	// "no data" (it does not serve exports) or "failed: …".
	Modules map[string]string `json:"modules"`
}

// ExportFile is one file of an export archive.
type ExportFile struct {
	Name     string `json:"name"`
	Contents string `json:"contents"`
}

// ErrIncomplete is wrapped by ExportUser's error when some module failed
// to export (the archive is written, and its manifest names them), and by
// EraseUser's when some module failed to erase (the account is left as it
// was: erase again once the module works).
var ErrIncomplete = errors.New("server: incomplete")

// userBody is the body of the host's export and erase calls.
func userBody(userID int64) []byte {
	b, _ := json.Marshal(struct {
		UserID int64 `json:"user_id"`
	}{userID})
	return b
}

// actorOf is who asks for an export or an erasure: the signed-in user in
// ctx (an admin, or the user on their account page), the runtime's
// privacy jobs ("module:_core", privacy.go), else the owner at the
// terminal.
func actorOf(ctx context.Context) site.Actor {
	if jobReason(ctx) != "" {
		return site.Actor{Module: jobs.CoreModule}
	}
	if u := site.UserFrom(ctx); u != nil {
		return site.Actor{UserID: u.ID}
	}
	return site.Actor{}
}

// ExportUser writes one zip archive to w holding what the site keeps about
// user userID: core.json (the account, its roles, sessions' metadata,
// the addresses it came from, and the audit entries by or about it),
// modules/<name>.json for each running module that answers the export
// call (abi.UserExportPath, a JSON document), and manifest.json listing
// them. A module that fails is named in the manifest, and the error wraps
// ErrIncomplete; site.ErrUnknownUser for no such user. Audited as
// "user.export". Each module's answer is bounded by the host's call limits
// (8 MiB).
func (s *Server) ExportUser(ctx context.Context, userID int64, w io.Writer) error {
	core, err := s.site.Store().ExportUser(ctx, userID)
	if err != nil {
		return err
	}
	man := ExportManifest{Format: ExportFormat, UserID: userID, Created: time.Now().UTC(), Modules: map[string]string{},
		Files: []ExportFile{{"core.json", "the account, its roles, sessions (metadata), the addresses it used, and audit entries by or about it"}}}
	answers := map[string][]byte{}
	var failed []string
	body := userBody(userID)
	for _, m := range s.Modules() {
		name := m.Manifest().Name
		resp, err := m.Call(ctx, abi.UserExportPath, nil, body, "user-export-"+strconv.FormatInt(userID, 10))
		switch {
		case errors.Is(err, modhost.ErrNotServed):
			man.Modules[name] = "no data"
		case err != nil:
			man.Modules[name] = "failed: " + err.Error()
		case resp.Status != http.StatusOK:
			man.Modules[name] = fmt.Sprintf("failed: status %d: %s", resp.Status, modhost.Answer(resp))
		case !json.Valid(resp.Body):
			man.Modules[name] = "failed: the answer is not a JSON document"
		default:
			man.Modules[name] = "exported"
			answers[name] = resp.Body
			man.Files = append(man.Files, ExportFile{"modules/" + name + ".json", "what module " + name + " keeps about the user"})
		}
		if man.Modules[name] != "exported" && man.Modules[name] != "no data" {
			failed = append(failed, name)
			s.log.Warn("a module failed to export a user's data", "module", name, "user", userID, "error", man.Modules[name])
		}
	}
	zw := zip.NewWriter(w)
	add := func(name string, v any) error {
		f, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: man.Created})
		if err != nil {
			return err
		}
		if raw, ok := v.([]byte); ok {
			_, err = f.Write(raw)
			return err
		}
		enc := json.NewEncoder(f)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	err = add("manifest.json", man)
	if err == nil {
		err = add("core.json", core)
	}
	for _, name := range slices.Sorted(maps.Keys(answers)) {
		if err == nil {
			err = add("modules/"+name+".json", answers[name])
		}
	}
	if err == nil {
		err = zw.Close()
	}
	if err != nil {
		return fmt.Errorf("server: export user %d: %w", userID, err)
	}
	a := actorOf(ctx)
	if aerr := coredb.Audit(context.WithoutCancel(ctx), s.db.Pool, a.UserID, "user.export", strconv.FormatInt(userID, 10),
		map[string]any{"by": a.String(), "user_id": userID, "modules": man.Modules}); aerr != nil {
		s.log.Error("audit log", "error", aerr)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%w: modules %v did not export their part (the archive says so)", ErrIncomplete, failed)
	}
	return nil
}

// EraseUser erases user userID: every running module is asked to erase or
// anonymise its part first (abi.UserErasePath; a module that does not
// serve it keeps nothing), then the core anonymises the account (see
// site.Store.EraseUser: the id stays, nothing personal does), and the
// realtime events kept for catch-up that name them go (realtime.Hub.Forget).
// If any module fails, the core is left as it was and the error wraps
// ErrIncomplete: modules' erasure must be safe to repeat, so erasing again
// finishes the job. Errors also: site.ErrUnknownUser, site.ErrLastAdmin.
// Audited as "user.erase" (naming the modules that erased) or
// "user.erase_failed".
func (s *Server) EraseUser(ctx context.Context, userID int64) error {
	st := s.site.Store()
	if err := st.CheckErase(ctx, userID); err != nil {
		return err
	}
	a := actorOf(ctx)
	body := userBody(userID)
	results := map[string]string{}
	var failed []string
	for _, m := range s.Modules() {
		name := m.Manifest().Name
		resp, err := m.Call(ctx, abi.UserErasePath, nil, body, "user-erase-"+strconv.FormatInt(userID, 10))
		switch {
		case errors.Is(err, modhost.ErrNotServed):
			results[name] = "no data"
		case err != nil:
			results[name] = "failed: " + err.Error()
		case resp.Status < 200 || resp.Status > 299:
			results[name] = fmt.Sprintf("failed: status %d: %s", resp.Status, modhost.Answer(resp))
		default:
			results[name] = "erased"
		}
		if results[name] != "erased" && results[name] != "no data" {
			failed = append(failed, name)
			s.log.Warn("a module failed to erase a user's data", "module", name, "user", userID, "error", results[name])
		}
	}
	if len(failed) > 0 {
		if aerr := coredb.Audit(context.WithoutCancel(ctx), s.db.Pool, a.UserID, "user.erase_failed", strconv.FormatInt(userID, 10),
			map[string]any{"by": a.String(), "user_id": userID, "modules": results}); aerr != nil {
			s.log.Error("audit log", "error", aerr)
		}
		return fmt.Errorf("%w: modules %v did not erase their part; the account is unchanged: erase again once they work", ErrIncomplete, failed)
	}
	detail := map[string]any{"modules": results}
	if why := jobReason(ctx); why != "" {
		detail["reason"] = why
	}
	who, err := st.LookupUser(ctx, "", userID)
	if err != nil {
		return err
	}
	if err := st.EraseUser(ctx, a, userID, detail); err != nil {
		return err
	}
	// The realtime events kept for catch-up (an hour) may name them: the
	// modules' messages, published as they were written.
	if s.hub != nil {
		if _, err := s.hub.Forget(context.WithoutCancel(ctx), who.Username, who.Email); err != nil {
			s.log.Error("forgetting an erased user's realtime events failed (they age out within the hub's retention)", "user", userID, "error", err)
		}
	}
	return nil
}

// Request queue actions of the owner's `websonic user export|erase`: both
// need a running runtime, which calls the modules.
const (
	actionUserExport = "user_export"
	actionUserErase  = "user_erase"
)

// maxExportArchive bounds an export carried through the request queue.
const maxExportArchive = 64 << 20

// userArgs are the arguments of actionUserExport and actionUserErase.
type userArgs struct {
	UserID int64 `json:"user_id"`
}

// exportResult is actionUserExport's result: the archive, and why it is
// incomplete ("" when it is not).
type exportResult struct {
	Archive    []byte `json:"archive"`
	Incomplete string `json:"incomplete,omitempty"`
}

func parseUserArgs(raw json.RawMessage) (int64, error) {
	var a userArgs
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || a.UserID <= 0 {
		return 0, fmt.Errorf("server: want arguments {\"user_id\": N}")
	}
	return a.UserID, nil
}

// handleUserRequests registers the export and erase actions on the
// request queue.
func (s *Server) handleUserRequests() {
	s.queue.Handle(actionUserExport, func(ctx context.Context, r requestq.Request) (string, error) {
		id, err := parseUserArgs(r.Args)
		if err != nil {
			return "", err
		}
		var buf bytes.Buffer
		var res exportResult
		switch err := s.ExportUser(ctx, id, &buf); {
		case errors.Is(err, ErrIncomplete):
			res.Incomplete = err.Error()
		case err != nil:
			return "", err
		}
		if buf.Len() > maxExportArchive {
			return "", fmt.Errorf("server: the export of user %d is %d bytes, more than the %d the request queue carries", id, buf.Len(), maxExportArchive)
		}
		res.Archive = buf.Bytes()
		b, err := json.Marshal(res)
		return string(b), err
	})
	s.queue.Handle(actionUserErase, func(ctx context.Context, r requestq.Request) (string, error) {
		id, err := parseUserArgs(r.Args)
		if err != nil {
			return "", err
		}
		if err := s.EraseUser(ctx, id); err != nil {
			return "", err
		}
		return fmt.Sprintf("erased user %d: the modules erased their part, the account is anonymised (%s)", id, site.ErasedName(id)), nil
	})
}

// ExportUser asks a runtime serving the site to export the user named
// username (see Server.ExportUser) and writes the archive to w. When some
// module failed to export, the archive is written and incomplete says
// why. Errors: site.ErrUnknownUser, ErrNoRuntime, or what became of the
// request (see Request).
func (c *Console) ExportUser(ctx context.Context, username string, w io.Writer, opts RequestOptions) (incomplete string, err error) {
	id, err := c.userID(ctx, username)
	if err != nil {
		return "", err
	}
	args, _ := json.Marshal(userArgs{id})
	reqID, out, err := c.request(ctx, ModuleRequest{Action: actionUserExport, Args: args, Actor: "terminal"}, opts)
	if err != nil {
		return "", err
	}
	// The archive holds the user's personal data: it leaves the queue
	// once delivered (an archive never collected goes with the erasure).
	if _, err := c.db.Pool.Exec(ctx, `UPDATE websonic.module_requests SET result = '' WHERE id = $1`, reqID); err != nil {
		return "", fmt.Errorf("server: clear the export from the request queue: %w", err)
	}
	var res exportResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		return "", fmt.Errorf("server: the runtime's export: %w", err)
	}
	if _, err := w.Write(res.Archive); err != nil {
		return "", err
	}
	return res.Incomplete, nil
}

// EraseUser asks a runtime serving the site to erase the user named
// username (see Server.EraseUser) and returns its answer.
func (c *Console) EraseUser(ctx context.Context, username string, opts RequestOptions) (string, error) {
	id, err := c.userID(ctx, username)
	if err != nil {
		return "", err
	}
	args, _ := json.Marshal(userArgs{id})
	return c.Request(ctx, ModuleRequest{Action: actionUserErase, Args: args, Actor: "terminal"}, opts)
}

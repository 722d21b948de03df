package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/websonic/websonic/runtime/internal/admin"
	"github.com/websonic/websonic/runtime/internal/coredb"
	"github.com/websonic/websonic/runtime/internal/modhost"
	"github.com/websonic/websonic/runtime/internal/pgnotify"
	"github.com/websonic/websonic/runtime/internal/requestq"
	"github.com/websonic/websonic/runtime/internal/site"
	"github.com/websonic/websonic/sdk/manifest"
)

// The owner's choices per module (enabled or disabled, its settings) live
// in websonic.modules (enabled, config): the desired state, which every
// replica reads at start and again whenever the site's module_state
// channel (package pgnotify: a name modules cannot forge) is notified,
// and every 30 s in case a notification was lost.
//
// A disabled module keeps running, unrouted: its pool stays warm and its
// data and grants stay as they are, but its routes answer 404, its nav
// entries and admin pages vanish, its jobs do not run, realtime refuses
// its topics (and ends the subscriptions open on this replica), and its
// commands are refused. Enabled again, it serves at once, as it was: no
// restart. Exports and erasures of users' data still reach it (it holds
// their data).
//
// Settings are applied live: modhost.Module.SetConfig swaps the
// configuration every call reads, on every replica.

// moduleStatePurpose is the pgnotify purpose of the module state channel.
const moduleStatePurpose = "module_state"

// moduleStateEvery is how often a replica re-reads the module state
// without a notification.
const moduleStateEvery = 30 * time.Second

// Errors of the module toggle and settings (compare with errors.Is).
var (
	// ErrModuleDisabled: the owner disabled the module.
	ErrModuleDisabled = errors.New("the module is disabled")
	// ErrNotInstalled: no module of that name is installed on the site.
	ErrNotInstalled = errors.New("no such module is installed")
	// ErrBadConfig: the settings do not match the module's config_schema
	// (the error joins one *manifest.FieldError per setting, Field
	// "config.KEY").
	ErrBadConfig = errors.New("bad settings")
)

// moduleState is what this replica knows of the owner's choices.
type moduleState struct {
	channel  string
	disabled atomic.Pointer[map[string]bool]
	mu       sync.Mutex // serialises reloads
	cancel   context.CancelFunc
	done     chan struct{}
	catalogs sync.Map // *modhost.Module → *moduleCatalog (modpages.go)

	// switchMu serialises taking up a switched-in site; incarnation is
	// the site's incarnation this replica serves, tookUpErr how taking
	// it up went (sitemove_reload.go).
	switchMu    sync.Mutex
	incarnation string
	tookUpErr   error
}

// openModuleState reads the module state (before any module starts, so a
// disabled module is never routed), follows its channel until Close, and
// registers the module_config request.
func (s *Server) openModuleState(ctx context.Context) error {
	ch, err := pgnotify.Channel(ctx, s.db.Pool, moduleStatePurpose)
	if err != nil {
		return fmt.Errorf("server: %w", err)
	}
	st := &moduleState{channel: ch, done: make(chan struct{})}
	st.disabled.Store(&map[string]bool{})
	s.mstate = st
	if st.incarnation, err = siteIncarnation(ctx, s.db.Pool); err != nil {
		return err
	}
	if err := s.reloadModuleState(ctx); err != nil {
		return err
	}
	lctx, cancel := context.WithCancel(context.Background())
	st.cancel = cancel
	l := pgnotify.Listen(lctx, pgnotify.ListenConfig{Pool: s.db.Pool, Channel: ch, AppName: "websonic module state", Logger: s.log.Named("modstate")})
	go func() {
		defer close(st.done)
		t := time.NewTicker(moduleStateEvery)
		defer t.Stop()
		for {
			select {
			case <-lctx.Done():
				return
			case <-l.C():
			case <-t.C:
			}
			rctx, cancel := context.WithTimeout(lctx, 30*time.Second)
			if err := s.reloadModuleState(rctx); err != nil && lctx.Err() == nil {
				s.log.Warn("reading the module state failed; trying again", "error", err)
			}
			cancel()
			if _, err := s.followSiteSwitch(lctx); err != nil && lctx.Err() == nil {
				s.log.Error("taking up the switched-in site", "error", err)
			}
		}
	}()
	s.queue.Handle("module_config", s.handleConfigRequest)
	return nil
}

// closeModuleState stops following the module state.
func (s *Server) closeModuleState() {
	if s.mstate != nil && s.mstate.cancel != nil {
		s.mstate.cancel()
		<-s.mstate.done
	}
}

// storedModule is one module's row of websonic.modules, as far as the
// owner's choices go.
type storedModule struct {
	enabled bool
	config  map[string]json.RawMessage
}

func readModuleStates(ctx context.Context, db interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, name string) (map[string]storedModule, error) {
	rows, err := db.Query(ctx, `SELECT name, enabled, config FROM websonic.modules WHERE $1 = '' OR name = $1`, name)
	if err != nil {
		return nil, fmt.Errorf("server: module state: %w", err)
	}
	out := map[string]storedModule{}
	for rows.Next() {
		var n string
		var m storedModule
		var raw []byte
		if err := rows.Scan(&n, &m.enabled, &raw); err != nil {
			return nil, fmt.Errorf("server: module state: %w", err)
		}
		if err := json.Unmarshal(raw, &m.config); err != nil {
			return nil, fmt.Errorf("server: module state: %s's config: %w", n, err)
		}
		out[n] = m
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("server: module state: %w", err)
	}
	return out, nil
}

// reloadModuleState reads the module state and applies it: the disabled
// set, the subscriptions of modules just disabled, the running modules'
// settings.
func (s *Server) reloadModuleState(ctx context.Context) error {
	st := s.mstate
	st.mu.Lock()
	defer st.mu.Unlock()
	states, err := readModuleStates(ctx, s.db.Pool, "")
	if err != nil {
		return err
	}
	disabled := map[string]bool{}
	for n, m := range states {
		if !m.enabled {
			disabled[n] = true
		}
	}
	was := *st.disabled.Load()
	st.disabled.Store(&disabled)
	running := map[*modhost.Module]bool{}
	for _, m := range s.Modules() {
		running[m] = true
		name := m.Manifest().Name
		if disabled[name] != was[name] {
			m.PurgeCache() // enabled or disabled: start afresh (respcache.go)
		}
		if disabled[name] && !was[name] && s.hub != nil {
			topics := m.Manifest().Capabilities.Topics
			if n := s.hub.EndSubscriptions(func(t string) bool { return manifest.TopicAllowed(topics, t) }); n > 0 {
				s.log.Info("ended the realtime subscriptions of a disabled module", "module", name, "subscriptions", n)
			}
		}
		if stored, ok := states[name]; ok {
			s.applyConfig(m, stored.config)
		}
	}
	st.catalogs.Range(func(k, _ any) bool {
		if !running[k.(*modhost.Module)] {
			st.catalogs.Delete(k)
		}
		return true
	})
	return nil
}

// applyConfig makes stored (the owner's values) m's configuration, unless
// it already is.
func (s *Server) applyConfig(m *modhost.Module, stored map[string]json.RawMessage) {
	usable, dropped := usableConfig(m.Manifest(), stored)
	want, err := m.Manifest().ResolveConfig(usable)
	if err != nil {
		s.log.Error("the module's stored settings do not resolve; it keeps its current ones", "module", m.Manifest().Name, "error", err)
		return
	}
	if bytes.Equal(want, m.Config()) {
		return
	}
	warnDropped(s, m.Manifest(), dropped)
	if err := m.SetConfig(usable); err != nil {
		s.log.Error("applying the module's settings failed", "module", m.Manifest().Name, "error", err)
		return
	}
	s.log.Info("module settings applied", "module", m.Manifest().Name)
}

// usableConfig keeps the stored values mf's schema accepts; the others
// (a key the schema no longer lists, a value of a type it no longer
// takes) fall back to their defaults: an update never fails on them.
func usableConfig(mf *manifest.Manifest, stored map[string]json.RawMessage) (usable map[string]json.RawMessage, dropped []string) {
	usable = map[string]json.RawMessage{}
	for k, v := range stored {
		item, ok := mf.Capabilities.ConfigSchema[k]
		if !ok || item.Check(v) != nil {
			dropped = append(dropped, k)
			continue
		}
		usable[k] = v
	}
	slices.Sort(dropped)
	return usable, dropped
}

func warnDropped(s *Server, mf *manifest.Manifest, dropped []string) {
	if len(dropped) > 0 {
		s.log.Warn("this version's config schema does not accept some stored settings: they take their defaults",
			"module", mf.Name, "version", mf.Version, "settings", dropped)
	}
}

// withStoredConfig is ap with the owner's stored settings for mf's module
// (those its schema accepts), unless ap carries settings of its own. Every
// start and update goes through it (Server.start, Server.Swap).
func (s *Server) withStoredConfig(ctx context.Context, mf *manifest.Manifest, ap modhost.Approval) modhost.Approval {
	if ap.Config != nil {
		return ap
	}
	states, err := readModuleStates(ctx, s.db.Pool, mf.Name)
	if err != nil {
		s.log.Error("reading the module's stored settings failed; it starts with its defaults", "module", mf.Name, "error", err)
		return ap
	}
	stored, ok := states[mf.Name]
	if !ok || len(stored.config) == 0 {
		return ap
	}
	usable, dropped := usableConfig(mf, stored.config)
	warnDropped(s, mf, dropped)
	ap.Config = usable
	return ap
}

// moduleDisabled says whether the owner disabled the module.
func (s *Server) moduleDisabled(name string) bool {
	if s.mstate == nil {
		return false
	}
	return (*s.mstate.disabled.Load())[name]
}

// ModuleEnabled says whether the named module is enabled (a module not
// installed counts as enabled: nothing disables it).
func (s *Server) ModuleEnabled(name string) bool { return !s.moduleDisabled(name) }

// enabledModules lists the running modules the owner has not disabled:
// those whose jobs run and whose topics realtime serves.
func (s *Server) enabledModules() []*modhost.Module {
	all := s.Modules()
	out := make([]*modhost.Module, 0, len(all))
	for _, m := range all {
		if !s.moduleDisabled(m.Manifest().Name) {
			out = append(out, m)
		}
	}
	return out
}

// SetModuleEnabled enables or disables a module for the site, on every
// replica at once, for user (an admin; nil: the system); see
// setModuleEnabled. This replica applies it before returning.
func (s *Server) SetModuleEnabled(ctx context.Context, user *site.User, name string, enabled bool) (changed bool, err error) {
	var id int64
	actor := "system"
	if user != nil {
		id, actor = user.ID, fmt.Sprintf("admin %s (id %d)", user.Username, user.ID)
	}
	changed, err = setModuleEnabled(ctx, s.db.Pool, name, enabled, id, actor)
	if err != nil {
		return false, err
	}
	if err := s.reloadModuleState(ctx); err != nil {
		s.log.Warn("reading the module state failed", "error", err)
	}
	return changed, nil
}

// SetModuleEnabled enables or disables a module from the terminal
// (`websonic module enable|disable`): the running replicas apply it at
// once; a runtime that starts later reads it. actor names the terminal's
// user for the audit log.
func (c *Console) SetModuleEnabled(ctx context.Context, name string, enabled bool, actor string) (changed bool, err error) {
	if actor == "" {
		actor = "terminal"
	}
	return setModuleEnabled(ctx, c.db.Pool, name, enabled, 0, actor)
}

// setModuleEnabled records the choice, notifies the replicas and audits
// it (module.enable, module.disable), in one transaction. It reports
// whether the state changed; a module not installed is ErrNotInstalled.
func setModuleEnabled(ctx context.Context, db interface {
	Begin(context.Context) (pgx.Tx, error)
}, name string, enabled bool, actorID int64, actor string) (changed bool, err error) {
	err = pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var was bool
		if err := tx.QueryRow(ctx, `SELECT enabled FROM websonic.modules WHERE name = $1 FOR UPDATE`, name).Scan(&was); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("%w: %q", ErrNotInstalled, name)
			}
			return err
		}
		if was == enabled {
			return nil
		}
		changed = true
		if _, err := tx.Exec(ctx, `UPDATE websonic.modules SET enabled = $2 WHERE name = $1`, name, enabled); err != nil {
			return err
		}
		action := "module.disable"
		if enabled {
			action = "module.enable"
		}
		if err := coredb.Audit(ctx, tx, actorID, action, name, map[string]any{"actor": actor}); err != nil {
			return err
		}
		return notifyModuleState(ctx, tx)
	})
	if err != nil && !errors.Is(err, ErrNotInstalled) {
		err = fmt.Errorf("server: setting module %s enabled=%t: %w", name, enabled, err)
	}
	return changed, err
}

func notifyModuleState(ctx context.Context, tx pgx.Tx) error {
	ch, err := pgnotify.Channel(ctx, tx, moduleStatePurpose)
	if err != nil {
		return err
	}
	return pgnotify.Notify(ctx, tx, ch)
}

// ModuleSettings is a running module's config schema with the owner's
// stored values (not the defaults) and what the module sees now.
type ModuleSettings struct {
	Module   string                         `json:"module"`
	Schema   map[string]manifest.ConfigItem `json:"schema"`
	Values   map[string]json.RawMessage     `json:"values"`   // the owner's
	Resolved json.RawMessage                `json:"resolved"` // the module's configuration now
}

// Settings returns a running module's settings.
func (s *Server) Settings(ctx context.Context, name string) (*ModuleSettings, error) {
	m := s.Module(name)
	if m == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownModule, name)
	}
	states, err := readModuleStates(ctx, s.db.Pool, name)
	if err != nil {
		return nil, err
	}
	values := states[name].config
	if values == nil {
		values = map[string]json.RawMessage{}
	}
	schema := m.Manifest().Capabilities.ConfigSchema
	if schema == nil {
		schema = map[string]manifest.ConfigItem{}
	}
	return &ModuleSettings{Module: name, Schema: schema, Values: values, Resolved: m.Config()}, nil
}

// SetSettings replaces a running module's settings by values (the
// owner's: keys absent take their defaults), checked against its
// config_schema (an error wrapping ErrBadConfig joins one
// *manifest.FieldError per bad setting), for actor (who, for the audit
// log: module.config, which names the keys, never the values). Every
// replica applies them at once; this one before returning.
func (s *Server) SetSettings(ctx context.Context, actorID int64, actor, name string, values map[string]json.RawMessage) error {
	m := s.Module(name)
	if m == nil {
		return fmt.Errorf("%w: %q", ErrUnknownModule, name)
	}
	if values == nil {
		values = map[string]json.RawMessage{}
	}
	if _, err := m.Manifest().ResolveConfig(values); err != nil {
		return fmt.Errorf("%w: %w", ErrBadConfig, err)
	}
	raw, err := json.Marshal(values)
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.db.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE websonic.modules SET config = $2 WHERE name = $1`, name, raw)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %q", ErrNotInstalled, name)
		}
		keys := slices.Sorted(maps.Keys(values))
		if err := coredb.Audit(ctx, tx, actorID, "module.config", name, map[string]any{"actor": actor, "keys": keys}); err != nil {
			return err
		}
		return notifyModuleState(ctx, tx)
	})
	if err != nil {
		return fmt.Errorf("server: saving %s's settings: %w", name, err)
	}
	if err := s.reloadModuleState(ctx); err != nil {
		s.log.Warn("reading the module state failed", "error", err)
	}
	return nil
}

// configRequest is the module_config request's arguments: settings to
// set (a text in its command-line form) or, with a null, to unset.
type configRequest map[string]*string

// handleConfigRequest carries out `websonic module config NAME
// [key=value…]`: without arguments it shows the settings; with some it
// changes those keys (key= unsets one) and shows the result.
func (s *Server) handleConfigRequest(ctx context.Context, r requestq.Request) (string, error) {
	set, err := s.Settings(ctx, r.Module)
	if err != nil {
		return "", err
	}
	if len(r.Args) > 0 {
		var req configRequest
		if err := json.Unmarshal(r.Args, &req); err != nil {
			return "", fmt.Errorf("%w: not an object of strings: %w", ErrBadConfig, err)
		}
		values := maps.Clone(set.Values)
		var errs []error
		for k, text := range req {
			item, ok := set.Schema[k]
			if !ok {
				errs = append(errs, &manifest.FieldError{Field: "config." + k, Msg: "is not in the module's config schema (its settings: " + strings.Join(slices.Sorted(maps.Keys(set.Schema)), ", ") + ")"})
				continue
			}
			if text == nil {
				delete(values, k)
				continue
			}
			v, given, err := admin.FormValue(item.Type, *text)
			switch {
			case err != nil:
				errs = append(errs, &manifest.FieldError{Field: "config." + k, Msg: err.Error()})
			case given:
				values[k] = v
			default:
				delete(values, k)
			}
		}
		if err := errors.Join(errs...); err != nil {
			return "", fmt.Errorf("%w: %w", ErrBadConfig, err)
		}
		actor := r.Actor
		if actor == "" {
			actor = "terminal"
		}
		if err := s.SetSettings(ctx, 0, actor, r.Module, values); err != nil {
			return "", err
		}
		if set, err = s.Settings(ctx, r.Module); err != nil {
			return "", err
		}
	}
	b, err := json.Marshal(set)
	return string(b), err
}

// ModuleConfig asks a runtime serving the site for a running module's
// settings and, with set, changes them first: key → value in its
// command-line form, or nil to unset (the default applies). Errors are
// the runtime's (unknown module or key, a value of the wrong type).
func (c *Console) ModuleConfig(ctx context.Context, module string, set map[string]*string, actor string, opts RequestOptions) (*ModuleSettings, error) {
	var raw json.RawMessage
	if len(set) > 0 {
		var err error
		if raw, err = json.Marshal(set); err != nil {
			return nil, err
		}
	}
	res, err := c.Request(ctx, ModuleRequest{Action: "module_config", Module: module, Args: raw, Actor: actor}, opts)
	if err != nil {
		return nil, err
	}
	var out ModuleSettings
	if err := json.Unmarshal([]byte(res), &out); err != nil {
		return nil, fmt.Errorf("server: the runtime's module settings: %w", err)
	}
	return &out, nil
}

package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk/abi"
)

// FormatVersion is the manifest format this package writes; it decodes
// every format from MinFormatVersion on. Version 2 adds typed arguments of
// admin commands, topic prefixes ("chat.*"), user actions, seal and mail.
const FormatVersion = 2

// MinFormatVersion is the oldest manifest format Decode accepts.
const MinFormatVersion = 1

// FileName is the manifest's file name in a module folder or package.
const FileName = "module.json"

// MaxSize bounds the manifest's encoded size.
const MaxSize = 256 << 10

// Manifest describes a module.
type Manifest struct {
	// ManifestVersion is the format version, FormatVersion.
	ManifestVersion int `json:"manifest_version"`
	// Name is the module's name: lowercase letters, digits and '_', starting
	// with a letter, 2 to 30 characters. It names the module's database
	// schema and role, so it is stable for the module's whole life.
	Name string `json:"name"`
	// Version is the module's semantic version, e.g. "1.4.0" or "2.0.0-beta.1".
	Version string `json:"version"`
	// ABIVersion is the host ABI the module was built against.
	ABIVersion uint32 `json:"abi_version"`
	// Description is one line shown to the site owner.
	Description string `json:"description"`
	// Capabilities the module asks for. Nothing is granted that is not listed.
	Capabilities Capabilities `json:"capabilities"`
	// Migrations are SQL files in the module package, applied once each in
	// the listed order under the module's own database role.
	Migrations []string `json:"migrations,omitempty"`
	// PersonalData declares the personal data the module stores, why and
	// for how long. It is a declaration, not a capability: the runtime
	// grants nothing for it, and assembles the site's record of processing
	// (GDPR Art. 30) from it.
	PersonalData []PersonalData `json:"personal_data,omitempty"`
}

// PersonalData is one kind of personal data a module stores.
type PersonalData struct {
	// Category is what the data is, 1-60 characters, e.g. "chat messages",
	// "contact details".
	Category string `json:"category"`
	// Purpose is why the module keeps it, 1-200 characters.
	Purpose string `json:"purpose"`
	// Retention is how long it is kept, 1-100 characters, e.g. "until the
	// account is erased", "90 days after the ticket is closed".
	Retention string `json:"retention"`
	// Subjects are whose data it is, 1-60 characters, e.g. "users",
	// "visitors" (default: "users").
	Subjects string `json:"subjects,omitempty"`
	// Fields name where it is stored, as table or table.column, at most 32.
	Fields []string `json:"fields,omitempty"`
}

// MaxPersonalData bounds Manifest.PersonalData.
const MaxPersonalData = 32

// Capabilities is what a module may ask the site owner for. README.md
// gives each field's rules.
type Capabilities struct {
	// Routes are the path prefixes the runtime sends to the module.
	Routes []Route `json:"routes,omitempty"`
	// CoreData are the read-only core views asked for (CoreUsers,
	// CoreUserEmails).
	CoreData []string `json:"core_data,omitempty"`
	// Topics are the realtime topics the module owns: it publishes to
	// them and decides who subscribes. Each is a topic ("news") or, from
	// format 2, a prefix ending in ".*" ("chat.*": chat.general,
	// chat.room.12…).
	Topics []string `json:"topics,omitempty"`
	// OutboundHTTP are origins (scheme://host:port) the module may call.
	OutboundHTTP []string `json:"outbound_http,omitempty"`
	// Schedules are recurring jobs.
	Schedules []Schedule `json:"schedules,omitempty"`
	// AdminCommands are actions the site's admins run (`websonic exec`,
	// the admin UI).
	AdminCommands []AdminCommand `json:"admin_commands,omitempty"`
	// UserActions are the core user services the module may use (format
	// 2): UserBan, UserSuspend, UserBlockIP, UserSetPassword, UserRoles,
	// UserConnections, UserStatus.
	UserActions []string `json:"user_actions,omitempty"`
	// Seal lets the module encrypt and decrypt with the site's data key
	// (format 2), bound to the module and a purpose.
	Seal bool `json:"seal,omitempty"`
	// Mail lets the module send e-mail through the site's mail relay
	// (format 2): from the owner's sender address, to the recipients it
	// names (sdk.SendMail).
	Mail bool `json:"mail,omitempty"`
	// Nav are links in the site's navigation.
	Nav []NavEntry `json:"nav,omitempty"`
	// ConfigSchema declares the settings the owner may give, by key.
	ConfigSchema map[string]ConfigItem `json:"config_schema,omitempty"`
	// AdminPages are pages the module shows inside the site's admin area
	// (format 2), to admins only (sdk.AdminPage).
	AdminPages []AdminPage `json:"admin_pages,omitempty"`
}

// AdminPage is a page a module contributes to the admin area: its HTML
// fragment, sanitized by the runtime, shown in the area's layout at
// /admin/modules/MODULE/pages/NAME.
type AdminPage struct {
	// Name is an identifier (a-z, 0-9, _), unique in the module.
	Name string `json:"name"`
	// Label is the page's title and link text, 1-40 characters (translated
	// through the module's catalogue, locales/LANG.json).
	Label string `json:"label"`
}

// MaxAdminPages bounds Capabilities.AdminPages.
const MaxAdminPages = 16

// AdminPage returns the admin page called name, or nil.
func (c *Capabilities) AdminPage(name string) *AdminPage {
	for i := range c.AdminPages {
		if c.AdminPages[i].Name == name {
			return &c.AdminPages[i]
		}
	}
	return nil
}

// Access is who may reach a route or see a nav entry.
type Access string

const (
	AccessPublic Access = "public"
	AccessMember Access = "member"
	AccessStaff  Access = "staff"
	AccessAdmin  Access = "admin"
)

// Route is a path prefix served by the module: the module receives requests
// for Path itself and everything below it, with the full path.
type Route struct {
	Path    string   `json:"path"`
	Methods []string `json:"methods,omitempty"` // empty means GET, HEAD
	Access  Access   `json:"access"`
}

// Core data views a module may be granted (schema websonic_api).
const (
	CoreUsers      = "users"       // id, username, display_name, roles
	CoreUserEmails = "user_emails" // user_id, email
)

// Schedule is a recurring job.
type Schedule struct {
	Name string `json:"name"`
	Cron string `json:"cron"` // five fields: minute hour day-of-month month day-of-week
}

// AdminCommand is an action the site's admins run.
type AdminCommand struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Args are the command's typed arguments (format 2), in the order a
	// form shows them.
	Args []CommandArg `json:"args,omitempty"`
}

// CommandArg is one argument of an admin command.
type CommandArg struct {
	// Name is an identifier (a-z, 0-9, _): `--name value` on the command
	// line.
	Name string `json:"name"`
	// Type is string, integer, number or boolean (as in config_schema).
	Type        string          `json:"type"`
	Description string          `json:"description,omitempty"`
	Required    bool            `json:"required,omitempty"`
	Default     json.RawMessage `json:"default,omitempty"`
}

// User actions a module may ask for (Capabilities.UserActions).
const (
	UserBan         = "ban"          // ban and unban users
	UserSuspend     = "suspend"      // suspend users for a while
	UserBlockIP     = "block_ip"     // block and unblock addresses
	UserSetPassword = "set_password" // change a user's password
	UserRoles       = "roles"        // grant and remove roles
	UserConnections = "connections"  // list the site's realtime connections
	UserStatus      = "status"       // read what the runtime replica is running (runtime.status)
)

// UserActionList lists the user actions, in the order documents show them.
var UserActionList = []string{UserBan, UserSuspend, UserBlockIP, UserSetPassword, UserRoles, UserConnections, UserStatus}

// NavEntry is a link the site shows in its navigation.
type NavEntry struct {
	Label  string `json:"label"`
	Path   string `json:"path"`
	Access Access `json:"access"`
}

// ConfigItem is one setting the site owner can give the module.
type ConfigItem struct {
	Type        string          `json:"type"` // string, integer, number, boolean
	Description string          `json:"description,omitempty"`
	Default     json.RawMessage `json:"default,omitempty"`
	Required    bool            `json:"required,omitempty"`
}

// ErrInvalid is wrapped by every error Decode returns.
var ErrInvalid = errors.New("manifest: invalid")

// FieldError is one problem with one field.
type FieldError struct {
	Field string // e.g. "capabilities.routes[0].path"
	Msg   string
}

func (e *FieldError) Error() string { return "manifest: " + e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Decode reads and validates a manifest. The returned error lists every
// problem found (errors.Join of *FieldError), each wrapping ErrInvalid.
func Decode(data []byte) (*Manifest, error) {
	if len(data) > MaxSize {
		return nil, &FieldError{Field: "(file)", Msg: fmt.Sprintf("larger than %d bytes", MaxSize)}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var m Manifest
	if err := dec.Decode(&m); err != nil {
		return nil, &FieldError{Field: jsonErrorField(err), Msg: strings.TrimPrefix(err.Error(), "json: ")}
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, &FieldError{Field: "(file)", Msg: "trailing data after the manifest object"}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func jsonErrorField(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return te.Field
	}
	return "(file)"
}

var (
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9_]{1,29}$`)
	semverRE  = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)
	pathRE    = regexp.MustCompile(`^/[a-z0-9][a-z0-9._~-]*(/[a-z0-9._~-]+)*$`)
	topicRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	ident     = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	dataField = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?$`)
	migration = regexp.MustCompile(`^migrations/[0-9]{3,}_[a-z0-9_]+\.sql$`)
	cronField = regexp.MustCompile(`^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$`)
)

// ReservedPaths are path prefixes owned by the core site. Paths under
// ReservedNames are names no module may take: the admin area's own pages
// under /admin/modules/ would hide its pages.
var ReservedNames = []string{"available", "install"}

// abi.HostPathPrefix ("/_websonic/") are reserved too, for the runtime's own
// calls into modules.
var ReservedPaths = []string{"/admin", "/login", "/logout", "/register", "/account", "/healthz", "/readyz", "/metrics", "/static", "/ws", "/api"}

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

// Validate checks every field of m; Decode calls it.
func (m *Manifest) Validate() error {
	var errs []error
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	if m.ManifestVersion < MinFormatVersion || m.ManifestVersion > FormatVersion {
		add("manifest_version", "must be %d to %d, got %d", MinFormatVersion, FormatVersion, m.ManifestVersion)
	}
	v2 := func(field string) {
		if m.ManifestVersion < 2 {
			add(field, "needs manifest_version 2")
		}
	}
	if !nameRE.MatchString(m.Name) {
		add("name", "%q must be 2-30 of a-z, 0-9, _ starting with a letter", m.Name)
	} else if slices.Contains(ReservedNames, m.Name) {
		add("name", "%q is reserved: the admin area's pages use it (/admin/modules/%s); choose another", m.Name, m.Name)
	}
	if !semverRE.MatchString(m.Version) {
		add("version", "%q is not a semantic version (e.g. 1.2.3)", m.Version)
	}
	if m.ABIVersion == 0 {
		add("abi_version", "is required")
	}
	if len(m.Description) > 300 {
		add("description", "longer than 300 characters")
	}
	c := &m.Capabilities
	seenPath := map[string]bool{}
	for i, r := range c.Routes {
		f := fmt.Sprintf("capabilities.routes[%d]", i)
		validatePath(add, f+".path", r.Path)
		if seenPath[r.Path] {
			add(f+".path", "%q listed twice", r.Path)
		}
		seenPath[r.Path] = true
		for j, meth := range r.Methods {
			if !slices.Contains(httpMethods, meth) {
				add(fmt.Sprintf("%s.methods[%d]", f, j), "%q is not one of %s", meth, strings.Join(httpMethods, ", "))
			}
		}
		validateAccess(add, f+".access", r.Access)
	}
	for i, v := range c.CoreData {
		if v != CoreUsers && v != CoreUserEmails {
			add(fmt.Sprintf("capabilities.core_data[%d]", i), "%q is not a core view (%s, %s)", v, CoreUsers, CoreUserEmails)
		}
	}
	for i, t := range c.Topics {
		f := fmt.Sprintf("capabilities.topics[%d]", i)
		prefix, isPrefix := strings.CutSuffix(t, ".*")
		switch {
		case !topicRE.MatchString(prefix) || !ValidTopic(prefix):
			add(f, "%q must be a topic of a-z, 0-9, '.', '_', '-' (or a prefix such as chat.*)", t)
		case isPrefix:
			v2(f)
		}
	}
	for i, o := range c.OutboundHTTP {
		if err := validateOrigin(o); err != "" {
			add(fmt.Sprintf("capabilities.outbound_http[%d]", i), "%q %s", o, err)
		}
	}
	seenName := map[string]bool{}
	for i, s := range c.Schedules {
		f := fmt.Sprintf("capabilities.schedules[%d]", i)
		if !ident.MatchString(s.Name) || seenName["s:"+s.Name] {
			add(f+".name", "%q must be a unique identifier (a-z, 0-9, _)", s.Name)
		}
		seenName["s:"+s.Name] = true
		if err := validateCron(s.Cron); err != "" {
			add(f+".cron", "%q: %s", s.Cron, err)
		}
	}
	for i, a := range c.AdminCommands {
		f := fmt.Sprintf("capabilities.admin_commands[%d]", i)
		if !ident.MatchString(a.Name) || seenName["a:"+a.Name] {
			add(f+".name", "%q must be a unique identifier (a-z, 0-9, _)", a.Name)
		}
		seenName["a:"+a.Name] = true
		if len(a.Description) > 300 {
			add(f+".description", "longer than 300 characters")
		}
		if len(a.Args) > 0 {
			v2(f + ".args")
		}
		if len(a.Args) > 32 {
			add(f+".args", "more than 32 arguments")
		}
		seenArg := map[string]bool{}
		for j, arg := range a.Args {
			af := fmt.Sprintf("%s.args[%d]", f, j)
			if !ident.MatchString(arg.Name) || seenArg[arg.Name] {
				add(af+".name", "%q must be a unique identifier (a-z, 0-9, _)", arg.Name)
			}
			seenArg[arg.Name] = true
			if len(arg.Description) > 300 {
				add(af+".description", "longer than 300 characters")
			}
			switch arg.Type {
			case "string", "integer", "number", "boolean":
			default:
				add(af+".type", "%q is not one of string, integer, number, boolean", arg.Type)
				continue
			}
			if len(arg.Default) > 0 {
				if err := checkConfigValue(arg.Type, arg.Default); err != nil {
					add(af+".default", "%v", err)
				}
				if arg.Required {
					add(af+".required", "a required argument has no default")
				}
			}
		}
	}
	seenAction := map[string]bool{}
	for i, a := range c.UserActions {
		f := fmt.Sprintf("capabilities.user_actions[%d]", i)
		v2(f)
		if !slices.Contains(UserActionList, a) || seenAction[a] {
			add(f, "%q must be one of %s, listed once", a, strings.Join(UserActionList, ", "))
		}
		seenAction[a] = true
	}
	if c.Seal {
		v2("capabilities.seal")
	}
	if c.Mail {
		v2("capabilities.mail")
	}
	for i, n := range c.Nav {
		f := fmt.Sprintf("capabilities.nav[%d]", i)
		if n.Label == "" || len(n.Label) > 40 {
			add(f+".label", "must be 1-40 characters")
		}
		validatePath(add, f+".path", n.Path)
		if !routed(c.Routes, n.Path) {
			add(f+".path", "%q is not served by any of the module's routes", n.Path)
		}
		validateAccess(add, f+".access", n.Access)
	}
	if len(c.AdminPages) > 0 {
		v2("capabilities.admin_pages")
	}
	if len(c.AdminPages) > MaxAdminPages {
		add("capabilities.admin_pages", "at most %d pages", MaxAdminPages)
	}
	seenPage := map[string]bool{}
	for i, p := range c.AdminPages {
		f := fmt.Sprintf("capabilities.admin_pages[%d]", i)
		if !ident.MatchString(p.Name) || len(p.Name) > 30 || seenPage[p.Name] {
			add(f+".name", "%q must be a unique identifier (a-z, 0-9, _) of at most 30 characters", p.Name)
		}
		seenPage[p.Name] = true
		if p.Label == "" || utf8.RuneCountInString(p.Label) > 40 || strings.IndexFunc(p.Label, unicode.IsControl) >= 0 {
			add(f+".label", "must be 1-40 characters, without control characters")
		}
	}
	for k, item := range c.ConfigSchema {
		f := "capabilities.config_schema." + k
		if !ident.MatchString(k) {
			add(f, "key must be an identifier (a-z, 0-9, _)")
		}
		switch item.Type {
		case "string", "integer", "number", "boolean":
		default:
			add(f+".type", "%q is not one of string, integer, number, boolean", item.Type)
			continue
		}
		if len(item.Default) > 0 {
			if err := checkConfigValue(item.Type, item.Default); err != nil {
				add(f+".default", "%v", err)
			}
		}
	}
	seenMig := map[string]bool{}
	for i, p := range m.Migrations {
		f := fmt.Sprintf("migrations[%d]", i)
		if !migration.MatchString(p) {
			add(f, "%q must look like migrations/001_name.sql", p)
		}
		if seenMig[p] {
			add(f, "%q listed twice", p)
		}
		seenMig[p] = true
	}
	validatePersonalData(add, m.PersonalData)
	return errors.Join(errs...)
}

// validatePersonalData checks the personal_data declarations: each text a
// line of bounded length, fields table or table.column, nothing twice.
func validatePersonalData(add func(string, string, ...any), list []PersonalData) {
	if len(list) > MaxPersonalData {
		add("personal_data", "at most %d entries", MaxPersonalData)
	}
	text := func(field, v string, maxLen int, required bool) {
		switch {
		case v == "" && required:
			add(field, "is required (1-%d characters)", maxLen)
		case utf8.RuneCountInString(v) > maxLen || !utf8.ValidString(v):
			add(field, "must be at most %d characters of valid UTF-8", maxLen)
		case strings.IndexFunc(v, unicode.IsControl) >= 0 || v != strings.TrimSpace(v):
			add(field, "must be one line without control characters or surrounding spaces")
		}
	}
	seen := map[string]bool{}
	for i, d := range list {
		f := fmt.Sprintf("personal_data[%d]", i)
		text(f+".category", d.Category, 60, true)
		text(f+".purpose", d.Purpose, 200, true)
		text(f+".retention", d.Retention, 100, true)
		text(f+".subjects", d.Subjects, 60, false)
		key := strings.ToLower(d.Category) + "\x00" + strings.ToLower(d.SubjectsOrDefault())
		if d.Category != "" && seen[key] {
			add(f+".category", "%q for %q listed twice", d.Category, d.SubjectsOrDefault())
		}
		seen[key] = true
		if len(d.Fields) > 32 {
			add(f+".fields", "at most 32 fields")
		}
		seenField := map[string]bool{}
		for j, fl := range d.Fields {
			if !dataField.MatchString(fl) || seenField[fl] {
				add(fmt.Sprintf("%s.fields[%d]", f, j), "%q must be a table or table.column (a-z, 0-9, _), listed once", fl)
			}
			seenField[fl] = true
		}
	}
}

// DefaultSubjects is PersonalData.Subjects when a declaration gives none.
const DefaultSubjects = "users"

// SubjectsOrDefault returns d.Subjects, or DefaultSubjects when it is empty.
func (d PersonalData) SubjectsOrDefault() string {
	if d.Subjects == "" {
		return DefaultSubjects
	}
	return d.Subjects
}

func validatePath(add func(string, string, ...any), field, p string) {
	if !strings.HasPrefix(p, "/") {
		add(field, "%q must start with \"/\"", p)
		return
	}
	if hostPath := strings.TrimSuffix(abi.HostPathPrefix, "/"); p == hostPath || strings.HasPrefix(p, abi.HostPathPrefix) {
		add(field, "%q is reserved for the runtime's own calls into modules (%s…, e.g. the health check)", p, abi.HostPathPrefix)
		return
	}
	if !pathRE.MatchString(p) {
		add(field, "%q must be lowercase path segments of a-z, 0-9, '.', '_', '~', '-'", p)
		return
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "." || seg == ".." {
			add(field, "%q must not contain \".\" or \"..\" segments", p)
			return
		}
	}
	for _, r := range ReservedPaths {
		if p == r || strings.HasPrefix(p, r+"/") {
			add(field, "%q is reserved by the core site", p)
		}
	}
}

func validateAccess(add func(string, string, ...any), field string, a Access) {
	switch a {
	case AccessPublic, AccessMember, AccessStaff, AccessAdmin:
	default:
		add(field, "%q is not one of public, member, staff, admin", a)
	}
}

// routed reports whether path is one of routes or below one of them.
func routed(routes []Route, path string) bool {
	for _, r := range routes {
		if path == r.Path || strings.HasPrefix(path, r.Path+"/") {
			return true
		}
	}
	return false
}

func validateOrigin(o string) string {
	scheme, rest, ok := strings.Cut(o, "://")
	if !ok || (scheme != "http" && scheme != "https") {
		return "must be scheme://host:port with scheme http or https"
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return "must name an explicit port, e.g. https://api.example.com:443"
	}
	host, port := rest[:i], rest[i+1:]
	if strings.ContainsAny(host, "/?#@ *") {
		return "host must be a plain host name (no path, user or wildcard)"
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 || port != strconv.Itoa(p) {
		return "port must be 1-65535"
	}
	return ""
}

var cronRanges = [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 7}}

func validateCron(expr string) string {
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return "must have five fields: minute hour day-of-month month day-of-week"
	}
	for i, f := range fields {
		if !cronField.MatchString(f) {
			return fmt.Sprintf("field %d %q: bad syntax", i+1, f)
		}
		for _, part := range strings.Split(f, ",") {
			rng, step, hasStep := strings.Cut(part, "/")
			if s, err := strconv.Atoi(step); hasStep && (err != nil || s < 1) {
				return fmt.Sprintf("field %d %q: step must be at least 1", i+1, f)
			}
			var bounds []int
			for _, n := range strings.Split(rng, "-") {
				if n == "*" {
					continue
				}
				v, _ := strconv.Atoi(n)
				if v < cronRanges[i][0] || v > cronRanges[i][1] {
					return fmt.Sprintf("field %d: %d outside %d-%d", i+1, v, cronRanges[i][0], cronRanges[i][1])
				}
				bounds = append(bounds, v)
			}
			if len(bounds) == 2 && bounds[0] > bounds[1] {
				return fmt.Sprintf("field %d %q: range %d-%d runs backwards", i+1, f, bounds[0], bounds[1])
			}
		}
	}
	return ""
}

// checkConfigValue checks that raw JSON is a value of the config type.
// Check says whether raw is a valid value of the item's type.
func (c ConfigItem) Check(raw json.RawMessage) error { return checkConfigValue(c.Type, raw) }

func checkConfigValue(typ string, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	ok := false
	switch v.(type) {
	case string:
		ok = typ == "string"
	case bool:
		ok = typ == "boolean"
	case float64:
		// An integer is an integer literal that fits int64, so the module
		// can decode it into an int64 field: 1.0 and 1e2 are not.
		_, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
		ok = typ == "number" || (typ == "integer" && err == nil)
	}
	if !ok {
		return fmt.Errorf("%s is not a %s", raw, typ)
	}
	return nil
}

// ResolveConfig merges the owner's values over the schema's defaults and
// checks them: unknown keys, wrong types and missing required values are
// errors. The result is a JSON object.
func (m *Manifest) ResolveConfig(values map[string]json.RawMessage) ([]byte, error) {
	out := map[string]json.RawMessage{}
	var errs []error
	for k, item := range m.Capabilities.ConfigSchema {
		if len(item.Default) > 0 {
			out[k] = item.Default
		}
		if v, ok := values[k]; ok {
			if err := checkConfigValue(item.Type, v); err != nil {
				errs = append(errs, &FieldError{Field: "config." + k, Msg: err.Error()})
				continue
			}
			out[k] = v
		}
		if _, ok := out[k]; !ok && item.Required {
			errs = append(errs, &FieldError{Field: "config." + k, Msg: "is required"})
		}
	}
	for k := range values {
		if _, ok := m.Capabilities.ConfigSchema[k]; !ok {
			errs = append(errs, &FieldError{Field: "config." + k, Msg: "is not in the module's config schema"})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// Grants reports whether the module asked for a core data view.
func (c *Capabilities) Grants(view string) bool { return slices.Contains(c.CoreData, view) }

// TopicAllowed reports whether topic lies under one of the patterns of a
// manifest's Capabilities.Topics: equal to a plain topic, or below a
// prefix ("chat.*" allows "chat.x" and "chat.x.y", not "chat").
func TopicAllowed(patterns []string, topic string) bool {
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if len(topic) > len(prefix) && strings.HasPrefix(topic, prefix) {
				return true
			}
		} else if topic == p {
			return true
		}
	}
	return false
}

// ValidTopic reports whether topic is a concrete topic name (what modules
// publish to and clients subscribe to): 1 to 200 of a-z, 0-9, '.', '_',
// '-', starting with a letter or digit, with no empty segment.
func ValidTopic(topic string) bool {
	if len(topic) == 0 || len(topic) > 200 || strings.Contains(topic, "..") || strings.HasSuffix(topic, ".") {
		return false
	}
	for i, r := range topic {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
		case (r == '.' || r == '_' || r == '-') && i > 0:
		default:
			return false
		}
	}
	return true
}

// Command returns the admin command named name, or nil.
func (c *Capabilities) Command(name string) *AdminCommand {
	for i := range c.AdminCommands {
		if c.AdminCommands[i].Name == name {
			return &c.AdminCommands[i]
		}
	}
	return nil
}

// ParseArgs turns command-line values (`--name value`, as strings) into
// the command's arguments: a JSON object with every value of its declared
// type, defaults filled in. Unknown names, values that are not of their
// type and missing required arguments are errors (*FieldError).
func (a *AdminCommand) ParseArgs(values map[string]string) ([]byte, error) {
	raw := map[string]json.RawMessage{}
	var errs []error
	for k, v := range values {
		i := slices.IndexFunc(a.Args, func(arg CommandArg) bool { return arg.Name == k })
		if i < 0 {
			errs = append(errs, &FieldError{Field: "--" + k, Msg: fmt.Sprintf("is not an argument of %s", a.Name)})
			continue
		}
		var enc []byte
		switch a.Args[i].Type {
		case "string":
			enc, _ = json.Marshal(v)
		case "boolean":
			b, err := strconv.ParseBool(v)
			if err != nil {
				errs = append(errs, &FieldError{Field: "--" + k, Msg: fmt.Sprintf("%q is not true or false", v)})
				continue
			}
			enc, _ = json.Marshal(b)
		default:
			enc = []byte(strings.TrimSpace(v))
		}
		raw[k] = enc
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return a.ResolveArgs(raw)
}

// ResolveArgs checks JSON argument values (an admin UI's form) against
// the command's declared arguments and fills in defaults. The result is a
// JSON object.
func (a *AdminCommand) ResolveArgs(values map[string]json.RawMessage) ([]byte, error) {
	out := map[string]json.RawMessage{}
	var errs []error
	for _, arg := range a.Args {
		if len(arg.Default) > 0 {
			out[arg.Name] = arg.Default
		}
		if v, ok := values[arg.Name]; ok {
			if err := checkConfigValue(arg.Type, v); err != nil {
				errs = append(errs, &FieldError{Field: "--" + arg.Name, Msg: err.Error()})
				continue
			}
			out[arg.Name] = v
		}
		if _, ok := out[arg.Name]; !ok && arg.Required {
			errs = append(errs, &FieldError{Field: "--" + arg.Name, Msg: "is required"})
		}
	}
	for k := range values {
		if !slices.ContainsFunc(a.Args, func(arg CommandArg) bool { return arg.Name == k }) {
			errs = append(errs, &FieldError{Field: "--" + k, Msg: fmt.Sprintf("is not an argument of %s", a.Name)})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// TopicsOverlap reports whether two topic patterns of Capabilities.Topics
// can name a common topic: equal topics, a topic below a prefix, or two
// prefixes one of which lies below the other ("chat.*" and "chat.room.*").
func TopicsOverlap(a, b string) bool {
	pa, aPrefix := strings.CutSuffix(a, "*")
	pb, bPrefix := strings.CutSuffix(b, "*")
	switch {
	case aPrefix && bPrefix:
		return strings.HasPrefix(pa, pb) || strings.HasPrefix(pb, pa)
	case aPrefix:
		return TopicAllowed([]string{a}, b)
	case bPrefix:
		return TopicAllowed([]string{b}, a)
	}
	return a == b
}

package theme

import (
	"html/template"
	"slices"
	"time"

	"github.com/websonic/websonic/internal/i18n"
)

// The pages the site renders, each a "content" template inside the
// theme's layout. A theme may override any of them with pages/<name>.html;
// the others are the built-in theme's.
const (
	PageHome     = "home"     // the home page
	PageLogin    = "login"    // the sign-in form
	PageRegister = "register" // the registration form
	PageAccount  = "account"  // the signed-in user's account
	PageError    = "error"    // every error page (404, 403, 500, …)
	PageFrame    = "frame"    // a module's page: its HTML fragment in the theme
	PageAudit    = "audit"    // the audit log (admins and auditors)
)

// Pages lists every page the site renders.
var Pages = []string{PageHome, PageLogin, PageRegister, PageAccount, PageError, PageFrame, PageAudit}

// Page is what every template of a theme gets as its data (the dot):
// the site's settings, the visitor, the navigation and the page's own
// fields. Its methods T and Lang translate. Fields a page does not use are
// zero. Themes must treat it as read-only.
type Page struct {
	Site  Site   // the owner's settings: name, logo, accent colour, language
	Name  string // which page: one of Pages
	Title string // the page's title, translated
	User  *User  // the signed-in user, nil for a visitor
	Nav   []Link // the navigation, already filtered for User by access level

	Error   string        // a form's error message (login, register), translated
	Next    string        // where to go after signing in or registering (a local path)
	Form    Form          // what the user typed into a form that failed (never a password)
	Message string        // error: the text, translated
	SignIn  bool          // error: offer a sign-in link
	Content template.HTML // frame: the module's HTML fragment, inserted as is
	Audit   *Audit        // audit: the entries

	// PasswordMin is the shortest password the site accepts.
	PasswordMin int

	p *i18n.Printer
}

// NewPage returns a page translated by p (nil: English).
func NewPage(p *i18n.Printer) *Page { return &Page{p: p} }

// T translates key, filling its {name} placeholders from name, value
// pairs: {{$.T "Signed in as {user}" "user" .User.Username}}.
func (d *Page) T(key string, args ...any) string { return d.p.T(key, args...) }

// Lang is the page's language, such as "en" or "fr", for <html lang>.
func (d *Page) Lang() string { return d.p.Lang() }

// Printer is the page's printer.
func (d *Page) Printer() *i18n.Printer { return d.p }

// Site is the owner's settings as themes see them.
type Site struct {
	Name string // the site's name (never empty)
	// Logo is the URL of the logo image, "" when the owner set none.
	Logo string
	// Accent is the accent colour as #rrggbb, "" for the theme's own. Its
	// contrast with white is at least 4.5:1 (the admin area checks), so
	// white text on it and it as text on white are readable.
	Accent string
}

// User is the signed-in user as themes see them.
type User struct {
	Username    string
	DisplayName string
	Email       string   // "" when the user gave none
	Roles       []string // most powerful first: admin, staff, auditor, member
}

// Has says whether the user holds role ("admin", "staff", "auditor",
// "member"); nil holds none.
func (u *User) Has(role string) bool { return u != nil && slices.Contains(u.Roles, role) }

// Link is one entry of the navigation.
type Link struct{ Label, Path string }

// Form is what a visitor typed into a form that failed.
type Form struct{ Username, DisplayName, Email string }

// Audit is a page of the audit log.
type Audit struct {
	Action  string // the filter
	Entries []AuditEntry
	Older   string // the next page's URL, "" for none
}

// AuditEntry is one entry of the audit log.
type AuditEntry struct {
	ID      int64
	At      time.Time
	Actor   string // "" for the system
	Action  string
	Subject string
	Detail  string // JSON
}

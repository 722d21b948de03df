package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// Guests (API.md, "Guests"): when the owner sets allow_guests, a visitor
// without an account opens a ticket on a panel that takes guests, with
// their e-mail address, and follows it through a private link. The link's
// token is 32 random bytes; the module keeps only its SHA-256 (which finds
// the ticket) and the token sealed with the site's key (for the e-mails
// that carry the link). A wrong token is a ticket that does not exist.
// The pages (GET /tickets/guest, /tickets/guest/t/{token}) are the web
// slice's; they find the ticket with guestTicket.

func init() {
	mux.HandleFunc("GET /tickets/guest/api/panels", public(guestAPIPanels))
	mux.HandleFunc("POST /tickets/guest/api/tickets", public(guestAPIOpen))
	mux.HandleFunc("GET /tickets/guest/api/t/{token}", public(guestAPIView))
	mux.HandleFunc("POST /tickets/guest/api/t/{token}/replies", public(guestAPIReply))
	mux.HandleFunc("POST /tickets/guest/api/t/{token}/solve", public(guestAPISolve))
	mux.HandleFunc("POST /tickets/guest/api/t/{token}/reopen", public(guestAPIReopen))
	mux.HandleFunc("POST /tickets/guest/api/t/{token}/rating", public(guestAPIRate))
}

const (
	// guestTokenBytes is the size of a private link's secret.
	guestTokenBytes = 32
	// guestsPerHour bounds the tickets guests open, site-wide, in any
	// hour: a flood of them from a script stops there.
	guestsPerHour = 20
	// guestsPerAddressPerDay bounds the guest tickets, and so the mails,
	// one e-mail address gets in a day: the form mails any address typed
	// in, and a guest may solve their ticket at once through its link, so
	// the open-ticket limit alone would let a script fill a stranger's
	// mailbox.
	guestsPerAddressPerDay = 3
	// maxGuestName is the longest guest's name, in characters.
	maxGuestName = 80
	// maxEmail is the longest e-mail address (RFC 5321's path limit).
	maxEmail = 254
)

// errNoGuestTicket answers a token that finds no ticket.
var errNoGuestTicket = jsonapi.NotFound("There is no such ticket; check the link in the e-mail we sent you.")

// guestsAllowed refuses the guests' routes when the owner does not take
// tickets from visitors.
func guestsAllowed() error {
	if !readSettings().AllowGuests {
		return notFound("This site does not take requests from visitors without an account; sign in to write to us.")
	}
	return nil
}

func guestAPIPanels(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := guestsAllowed(); err != nil {
		return nil, err
	}
	panels, err := openablePanels(r.Context(), true)
	if err != nil {
		return nil, err
	}
	return map[string]any{"panels": panels}, nil
}

// guestTicketBody is the body of POST /tickets/guest/api/tickets.
type guestTicketBody struct {
	newTicket
	Email string `json:"email"`
	Name  string `json:"name"`
}

// guestOpener is who opens a guest ticket, and their private link.
type guestOpener struct {
	email, name       string
	token             string // base64url of the secret: the link's last part
	tokenHash, sealed []byte
}

// checkEmail answers the one bare address s holds, or an error. The
// address is ASCII, as the runtime's mail.send takes it: one it refused
// would leave the guest without their link and every answer.
func checkEmail(s string) (string, error) {
	ascii := strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r >= 0x7f }) < 0
	a, err := mail.ParseAddress(s)
	if !ascii || err != nil || a.Address != s || a.Name != "" || len(s) > maxEmail {
		return "", badRequest("Give one e-mail address, like name@example.com, so that we can answer you.")
	}
	return s, nil
}

// newGuestToken makes a private link's token, its hash and its sealed
// copy.
func newGuestToken(ctx context.Context, g *guestOpener) error {
	secret := make([]byte, guestTokenBytes)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("a guest token: %w", err)
	}
	g.token = base64.RawURLEncoding.EncodeToString(secret)
	h := sha256.Sum256(secret)
	g.tokenHash = h[:]
	sealed, err := sdk.Seal(ctx, guestLinkPurpose, []byte(g.token))
	if err != nil {
		return fmt.Errorf("seal a guest token: %w", err)
	}
	g.sealed = sealed
	return nil
}

func guestAPIOpen(w http.ResponseWriter, r *http.Request) (any, error) {
	ctx := r.Context()
	if err := guestsAllowed(); err != nil {
		return nil, err
	}
	var b guestTicketBody
	if err := readJSON(r, &b); err != nil {
		return nil, err
	}
	var g guestOpener
	var err error
	if g.email, err = checkEmail(b.Email); err != nil {
		return nil, err
	}
	if g.name, err = jsonapi.CheckText(b.Name, maxGuestName, false); err != nil || g.name == "" {
		return nil, badRequest(fmt.Sprintf("Give your name, 1 to %d characters.", maxGuestName))
	}
	c, err := b.check(ctx, true)
	if err != nil {
		return nil, err
	}
	if err := newGuestToken(ctx, &g); err != nil {
		return nil, err
	}
	var l *locked
	err = inTx(ctx, func(tx *sql.Tx) error {
		// Guests' openings go one at a time, site-wide: the hourly cap
		// and each address's limit are counted by one opening at once.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('tickets.open.guests', 0))`); err != nil {
			return err
		}
		// A ticket's updated_at is never before its created_at: the
		// condition on it lets the hour's count read tickets_updated.
		var lastHour, lastDay, open int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE guest_email IS NOT NULL
			AND updated_at > now() - interval '1 hour' AND created_at > now() - interval '1 hour'`).Scan(&lastHour); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE lower(guest_email) = lower($1)
			AND updated_at > now() - interval '1 day' AND created_at > now() - interval '1 day'`, g.email).Scan(&lastDay); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM tickets WHERE panel_id = $2
			AND status NOT IN ('solved', 'closed') AND lower(guest_email) = lower($1)`, g.email, c.panel.ID).Scan(&open); err != nil {
			return err
		}
		if lastHour >= guestsPerHour {
			return conflict("Many requests were sent without an account in the last hour; please try again in an hour, or sign in to write to us.")
		}
		if lastDay >= guestsPerAddressPerDay {
			return conflict("Several requests were sent from this e-mail address today; follow them through the links we e-mailed, or sign in to write to us.")
		}
		if err := c.overLimit(open); err != nil {
			return err
		}
		var err error
		if l, err = c.insert(ctx, tx, nil, &g); err != nil {
			return err
		}
		if _, err = l.addReply(ctx, tx, actor{Guest: true}, c.description); err != nil {
			return err
		}
		_, err = queueMail(ctx, tx, l, mailOpened, "", guestPath(g.token))
		return err
	})
	if err != nil {
		return nil, err
	}
	publish(ctx, panelTopic(l.PanelID), event{Type: "ticket", Ticket: l.ID, Panel: l.PanelID})
	sendSoon(ctx)
	t, err := loadTicket(ctx, l.ID, customer)
	if err != nil {
		return nil, err
	}
	return created(map[string]any{"ticket": t, "link": guestPath(g.token)}), nil
}

// guestTicket finds the ticket of a private link's token (errNoGuestTicket
// when there is none): by the token's hash, so that no comparison of
// secrets happens in the module.
func guestTicket(ctx context.Context, token string) (int64, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(guestTokenBytes) {
		return 0, errNoGuestTicket
	}
	secret, err := base64.RawURLEncoding.Strict().DecodeString(token) // one spelling per token
	if err != nil || len(secret) != guestTokenBytes {
		return 0, errNoGuestTicket
	}
	h := sha256.Sum256(secret)
	var id int64
	err = sdk.DB().QueryRowContext(ctx, `SELECT id FROM tickets WHERE guest_token = $1`, h[:]).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, errNoGuestTicket
	}
	return id, err
}

// guestOf reads the ticket of r's token.
func guestOf(r *http.Request) (int64, error) {
	return guestTicket(r.Context(), r.PathValue("token"))
}

// guestActor is the guest opener acting on their ticket.
var guestActor = actor{Guest: true}

func guestAPIView(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := guestOf(r)
	if err != nil {
		return nil, err
	}
	return showCustomer(r.Context(), id, customer)
}

// guestAPIReplyBody is a guest's reply: text only (guests attach nothing).
type guestAPIReplyBody struct {
	Body string `json:"body"`
}

func guestAPIReply(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := guestOf(r)
	if err != nil {
		return nil, err
	}
	var b guestAPIReplyBody
	if err := readJSON(r, &b); err != nil {
		return nil, err
	}
	m, err := customerReply(r.Context(), id, guestActor, customerReplyBody{Body: b.Body})
	if err != nil {
		return nil, err
	}
	return created(m), nil
}

func guestAPISolve(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := guestOf(r)
	if err != nil {
		return nil, err
	}
	return customerSolve(r.Context(), id, guestActor)
}

func guestAPIReopen(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := guestOf(r)
	if err != nil {
		return nil, err
	}
	return customerReopen(r.Context(), id, guestActor)
}

func guestAPIRate(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := guestOf(r)
	if err != nil {
		return nil, err
	}
	var b customerRatingBody
	if err := readJSON(r, &b); err != nil {
		return nil, err
	}
	return customerRate(r.Context(), id, guestActor, b)
}

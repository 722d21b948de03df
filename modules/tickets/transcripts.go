package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// Transcripts (API.md): the public conversation of a solved or closed
// ticket as a self-contained HTML page (inline CSS; no script, no image,
// no link to load) or as plain text, downloaded by its customers and
// agents. They are made from loadTicket's customer view and loadMessages,
// which never read notes: a transcript cannot carry an internal note.

func init() {
	// One pattern for both files: "/tickets/{id}/transcript.html" would
	// overlap "/tickets/attachments/{id}" (and any "/tickets/x/{y}" of the
	// pages) without either being more specific, which net/http refuses.
	mux.HandleFunc("GET /tickets/{id}/{file}", transcript)
	// The guests' transcripts (API.md): a wrong token is 404.
	mux.HandleFunc("GET /tickets/guest/t/{token}/{file}", func(w http.ResponseWriter, r *http.Request) {
		id, err := guestTicket(r.Context(), r.PathValue("token"))
		if err == nil {
			err = writeTranscript(w, r, id, r.PathValue("file"))
		}
		if err != nil {
			jsonapi.Fail(w, r, err)
		}
	})
}

func transcript(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		id, err := ticketID(r)
		if err != nil {
			return err
		}
		if _, err := need(r.Context(), sdk.UserFrom(r), id, customer); err != nil {
			return err
		}
		return writeTranscript(w, r, id, r.PathValue("file"))
	}()
	if err != nil {
		jsonapi.Fail(w, r, err)
	}
}

// writeTranscript answers the transcript of ticket id (its reader's
// access checked) as file, "transcript.html" or "transcript.txt"; 409
// until the ticket is solved or closed.
func writeTranscript(w http.ResponseWriter, r *http.Request, id int64, file string) error {
	var asHTML bool
	switch file {
	case "transcript.html":
		asHTML = true
	case "transcript.txt":
	default:
		return notFound("There is no such page.")
	}
	ctx := r.Context()
	t, err := loadTicket(ctx, id, customer)
	if err != nil {
		return err
	}
	if !done(t.Status) {
		return conflict("A ticket's transcript is ready once the ticket is solved or closed.")
	}
	msgs, err := loadMessages(ctx, id)
	if err != nil {
		return err
	}
	tr := makeTranscript(t, msgs, time.Now())
	var (
		b   bytes.Buffer
		typ = "text/plain; charset=utf-8"
		ext = "txt"
	)
	if asHTML {
		typ, ext = "text/html; charset=utf-8", "html"
		if err := transcriptHTML.Execute(&b, tr); err != nil {
			return fmt.Errorf("transcript %d: %w", id, err)
		}
	} else {
		tr.writeText(&b)
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="ticket-%d.%s"`, id, ext))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	h.Set("Cache-Control", "private, no-store")
	h.Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
	return nil
}

// transcriptData is what both forms show.
type transcriptData struct {
	ID       int64
	Subject  string
	Panel    string
	Opener   string
	Status   string
	Opened   string
	Solved   string
	Closed   string
	Made     string
	Messages []transcriptLine
}

type transcriptLine struct {
	Event       bool
	Author      string
	At          string
	Body        string // the reply's text, or the event's sentence
	Attachments []string
}

const transcriptTime = "2006-01-02 15:04 UTC"

func stamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(transcriptTime)
}

// personName is how a transcript names a user.
func personName(u *userRef) string {
	if u.DisplayName == "" || u.DisplayName == u.Username {
		return "@" + u.Username
	}
	return u.DisplayName + " (@" + u.Username + ")"
}

func makeTranscript(t ticketView, msgs []messageView, now time.Time) transcriptData {
	d := transcriptData{ID: t.ID, Subject: t.Subject, Panel: t.Panel.Name, Status: statusLabel(t.Status),
		Opened: t.CreatedAt.UTC().Format(transcriptTime), Solved: stamp(t.SolvedAt), Closed: stamp(t.ClosedAt),
		Made: now.UTC().Format(transcriptTime)}
	switch {
	case t.Opener != nil:
		d.Opener = personName(t.Opener)
	case t.GuestName != "":
		d.Opener = t.GuestName + " (guest)"
	default:
		d.Opener = "a guest or a deleted account"
	}
	for _, m := range msgs {
		l := transcriptLine{At: m.CreatedAt.UTC().Format(transcriptTime), Body: m.Body}
		switch {
		case m.Author != nil:
			l.Author = personName(m.Author)
			if m.Staff {
				l.Author += ", support"
			}
		case m.Guest:
			l.Author = "the guest"
			if t.GuestName != "" {
				l.Author = t.GuestName + " (guest)"
			}
		case m.Kind == "event":
			l.Author = "the support desk"
		default:
			l.Author = "deleted user"
		}
		if m.Kind == "event" {
			l.Event, l.Body = true, eventSentence(m.Event)
		}
		for _, a := range m.Attachments {
			l.Attachments = append(l.Attachments, fmt.Sprintf("%s (%s)", a.Name, sizeText(a.Size)))
		}
		d.Messages = append(d.Messages, l)
	}
	return d
}

// eventSentence says what an event of the conversation was (API.md,
// "message").
func eventSentence(raw json.RawMessage) string {
	var e struct {
		Type   string `json:"type"`
		From   string `json:"from"`
		To     string `json:"to"`
		User   string `json:"user"`
		Ticket int64  `json:"ticket"`
		Score  int    `json:"score"`
	}
	json.Unmarshal(raw, &e)
	switch e.Type {
	case "opened":
		return "The ticket was opened."
	case "status":
		return fmt.Sprintf("Status changed from %s to %s.", statusLabel(e.From), statusLabel(e.To))
	case "claimed":
		return fmt.Sprintf("@%s took the ticket.", e.User)
	case "assigned":
		return fmt.Sprintf("The ticket was assigned to @%s.", e.User)
	case "unassigned":
		return "The ticket was unassigned."
	case "priority":
		return "The priority changed."
	case "merged_from":
		return fmt.Sprintf("Ticket #%d was merged into this one.", e.Ticket)
	case "merged_into":
		return fmt.Sprintf("This ticket was merged into ticket #%d.", e.Ticket)
	case "participant_added":
		return fmt.Sprintf("@%s joined the conversation.", e.User)
	case "participant_removed":
		return fmt.Sprintf("@%s left the conversation.", e.User)
	case "reopened":
		return "The ticket was reopened."
	case "rated":
		return fmt.Sprintf("The customer rated the help %d out of 5.", e.Score)
	}
	return "The ticket changed."
}

// writeText writes the plain-text transcript.
func (d transcriptData) writeText(b *bytes.Buffer) {
	fmt.Fprintf(b, "Ticket #%d: %s\n", d.ID, d.Subject)
	fmt.Fprintf(b, "Panel: %s\nOpened by: %s\nOpened: %s\nStatus: %s\n", d.Panel, d.Opener, d.Opened, d.Status)
	if d.Solved != "" {
		fmt.Fprintf(b, "Solved: %s\n", d.Solved)
	}
	if d.Closed != "" {
		fmt.Fprintf(b, "Closed: %s\n", d.Closed)
	}
	fmt.Fprintf(b, "Transcript made: %s\n", d.Made)
	for _, m := range d.Messages {
		b.WriteString("\n" + strings.Repeat("-", 72) + "\n")
		fmt.Fprintf(b, "%s, %s:\n", m.At, m.Author)
		if m.Body != "" {
			b.WriteString(m.Body)
			b.WriteByte('\n')
		}
		if len(m.Attachments) > 0 {
			fmt.Fprintf(b, "Attachments: %s\n", strings.Join(m.Attachments, ", "))
		}
	}
}

// transcriptHTML is the HTML transcript: one file, its style inline,
// every text escaped by html/template.
var transcriptHTML = template.Must(template.New("transcript").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Ticket #{{.ID}}: {{.Subject}}</title>
<style>
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff;max-width:50rem;margin:0 auto;padding:1rem}
h1{font-size:1.4rem;margin:0 0 .5rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:0 0 1.5rem}
dt{font-weight:600}dd{margin:0}
article{border:1px solid #d0d7de;border-radius:.5rem;padding:.6rem .9rem;margin:0 0 .8rem}
article.event{border-style:dashed;color:#57606a;font-size:.9rem}
header{font-size:.9rem;color:#57606a;margin-bottom:.3rem}
header strong{color:#1f2328}
.body{white-space:pre-wrap;overflow-wrap:anywhere}
ul{margin:.4rem 0 0;padding-left:1.2rem;font-size:.9rem}
@media (prefers-color-scheme:dark){body{background:#0d1117;color:#e6edf3}article{border-color:#30363d}header,article.event{color:#8b949e}header strong{color:#e6edf3}}
</style></head>
<body>
<h1>Ticket #{{.ID}}: <bdi>{{.Subject}}</bdi></h1>
<dl>
<dt>Panel</dt><dd><bdi>{{.Panel}}</bdi></dd>
<dt>Opened by</dt><dd><bdi>{{.Opener}}</bdi></dd>
<dt>Opened</dt><dd>{{.Opened}}</dd>
<dt>Status</dt><dd>{{.Status}}</dd>
{{if .Solved}}<dt>Solved</dt><dd>{{.Solved}}</dd>{{end}}
{{if .Closed}}<dt>Closed</dt><dd>{{.Closed}}</dd>{{end}}
<dt>Transcript made</dt><dd>{{.Made}}</dd>
</dl>
{{range .Messages}}<article{{if .Event}} class="event"{{end}}>
<header><strong><bdi>{{.Author}}</bdi></strong>, <time>{{.At}}</time></header>
{{if .Body}}<div class="body">{{.Body}}</div>{{end}}
{{if .Attachments}}<ul>{{range .Attachments}}<li>Attachment: <bdi>{{.}}</bdi></li>{{end}}</ul>{{end}}
</article>
{{end}}</body></html>
`))

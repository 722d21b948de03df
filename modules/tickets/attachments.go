package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/modules/internal/jsonapi"
	"github.com/websonic/websonic/sdk"
)

// maxAttachmentsPerMessage bounds the files one reply or note carries.
const maxAttachmentsPerMessage = 5

// claimDrafts attaches the uploader's draft attachments ids (uploaded to
// ticket, not yet sent) to the message or the note just written in tx
// (exactly one of message, note is above 0). An id that is not such a
// draft answers 400 and the caller's transaction rolls back.
func claimDrafts(ctx context.Context, tx *sql.Tx, ticket int64, uploader any, ids []int64, message, note int64) error {
	if len(ids) == 0 {
		return nil
	}
	if uploader == nil { // guests attach nothing: nothing ties an upload to them
		return badRequest("Only signed-in people attach files.")
	}
	if len(ids) > maxAttachmentsPerMessage {
		return badRequest(fmt.Sprintf("A message carries at most %d attachments.", maxAttachmentsPerMessage))
	}
	var msg, nt any
	if message > 0 {
		msg = message
	} else {
		nt = note
	}
	seen := map[int64]bool{}
	for _, id := range ids {
		if seen[id] {
			return badRequest("An attachment is listed twice.")
		}
		seen[id] = true
		res, err := tx.ExecContext(ctx, `UPDATE attachments SET message_id = $4, note_id = $5
			WHERE id = $1 AND ticket_id = $2 AND uploader_id IS NOT DISTINCT FROM $3
			  AND message_id IS NULL AND note_id IS NULL`, id, ticket, uploader, msg, nt)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return badRequest(fmt.Sprintf("Attachment %d is not one you uploaded to this ticket, or it was already sent.", id))
		}
	}
	return nil
}

// Uploads and downloads (API.md, "Attachments"). An upload is a draft of
// its uploader's until a reply or note claims it (claimDrafts); the
// retention job drops drafts a day old. Files live in the module's schema
// and are served with headers that keep a browser from running them: the
// type as stored (checked against the bytes at upload), nosniff, a
// sandboxing Content-Security-Policy, and a download unless an image of a
// type browsers render safely.

func init() {
	mux.HandleFunc("POST /tickets/api/tickets/{id}/attachments", api(uploadAs(customer)))
	mux.HandleFunc("POST /tickets/staff/api/tickets/{id}/attachments", api(uploadAs(agent)))
	mux.HandleFunc("GET /tickets/attachments/{id}", download)
}

// maxDrafts bounds the unsent uploads of one person on one ticket.
const maxDrafts = 20

// maxCustomerUploadsPerDay bounds the files a customer (not an agent of
// the ticket) uploads in a day, over all their tickets: each reply carries
// 5 and replies are not counted, so without it one account would fill the
// site's database a megabyte at a time.
const maxCustomerUploadsPerDay = 50

// maxAttachmentName is the longest file name, in characters.
const maxAttachmentName = 200

// attachmentTypes are the types one may attach.
var attachmentTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain", "text/csv", "application/zip"}

// inlineTypes are shown in the browser rather than downloaded.
var inlineTypes = []string{"image/png", "image/jpeg", "image/gif", "image/webp"}

// uploadAs makes the upload handler for callers with at least access want
// to the ticket: customers under /tickets/api, agents under
// /tickets/staff/api.
func uploadAs(want access) func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
	return func(w http.ResponseWriter, r *http.Request, u *sdk.User) (any, error) {
		ctx := r.Context()
		id, err := ticketID(r)
		if err != nil {
			return nil, err
		}
		has, err := need(ctx, u, id, want)
		if err != nil {
			return nil, err
		}
		name, err := cleanFileName(r.URL.Query().Get("name"))
		if err != nil {
			return nil, err
		}
		limit := readSettings().MaxAttachmentBytes
		if r.ContentLength > limit {
			return nil, tooLarge(fmt.Sprintf("A file is at most %s.", sizeText(limit)))
		}
		data, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
		if err != nil {
			return nil, badRequest("The file could not be read; send it again.")
		}
		if int64(len(data)) > limit {
			return nil, tooLarge(fmt.Sprintf("A file is at most %s.", sizeText(limit)))
		}
		if len(data) == 0 {
			return nil, badRequest("The file is empty.")
		}
		typ, err := checkFileType(r.Header.Get("Content-Type"), data)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(data)
		ref := attachmentRef{Name: name, Type: typ, Size: int64(len(data))}
		err = inTx(ctx, func(tx *sql.Tx) error {
			l, err := lockTicket(ctx, tx, id)
			if err != nil {
				return err
			}
			if l.Status == statusClosed {
				return refuseClosed(l)
			}
			var drafts int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM attachments WHERE ticket_id = $1 AND uploader_id = $2
				AND message_id IS NULL AND note_id IS NULL`, id, u.ID).Scan(&drafts); err != nil {
				return err
			}
			if drafts >= maxDrafts {
				return conflict(fmt.Sprintf("You have %d files waiting to be sent on this ticket: send them with a message first.", maxDrafts))
			}
			if has == customer {
				// One count at a time per person: two uploads at once
				// cannot both pass the day's limit.
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(format('tickets.uploads.%s', $1::bigint), 0))`, u.ID); err != nil {
					return err
				}
				var today int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM attachments WHERE ticket_id IN `+userTickets+`
					AND uploader_id = $1 AND created_at > now() - interval '1 day'`, u.ID).Scan(&today); err != nil {
					return err
				}
				if today >= maxCustomerUploadsPerDay {
					return conflict(fmt.Sprintf("You sent %d files today, the most allowed; send more tomorrow.", maxCustomerUploadsPerDay))
				}
			}
			return tx.QueryRowContext(ctx, `INSERT INTO attachments (ticket_id, uploader_id, name, type, size, sha256, data)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, id, u.ID, name, typ, len(data), sum[:], data).Scan(&ref.ID)
		})
		if err != nil {
			return nil, err
		}
		return created(ref), nil
	}
}

// sizeText is a number of bytes as people read it.
func sizeText(n int64) string {
	switch {
	case n >= 1_000_000 && n%100_000 == 0:
		return strconv.FormatFloat(float64(n)/1e6, 'f', -1, 64) + " MB"
	case n >= 1000 && n%100 == 0:
		return strconv.FormatFloat(float64(n)/1e3, 'f', -1, 64) + " kB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// cleanFileName keeps the base name of a file's name (what follows the
// last / or \), trimmed, of 1 to maxAttachmentName characters without
// control or invisible characters.
func cleanFileName(s string) (string, error) {
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	name, err := jsonapi.CheckText(s, maxAttachmentName, false)
	if err != nil || name == "" || name == "." || name == ".." {
		return "", badRequest("A file's name is 1 to 200 characters, without control characters.")
	}
	for _, r := range name {
		if unicode.Is(unicode.Cf, r) { // bidi overrides and other format characters disguise a name
			return "", badRequest("A file's name is 1 to 200 characters, without control characters.")
		}
	}
	return name, nil
}

// checkFileType answers the media type of an upload declared as declared
// (its Content-Type), refusing with 415 a type not allowed and bytes that
// are not of the declared type.
func checkFileType(declared string, data []byte) (string, error) {
	mt, params, err := mime.ParseMediaType(declared)
	if err != nil || !slices.Contains(attachmentTypes, mt) {
		return "", unsupported("Attach a picture (PNG, JPEG, GIF, WebP), a PDF, a text or CSV file, or a ZIP archive.")
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "us-ascii") {
		return "", unsupported("A text file is sent as UTF-8.")
	}
	if !contentMatches(mt, data) {
		return "", unsupported("The file's content is not of the type it claims; attach the original file.")
	}
	return mt, nil
}

// contentMatches reports whether data is of media type mt: images, PDF
// and ZIP as http.DetectContentType sees them; text as valid UTF-8
// without NUL.
func contentMatches(mt string, data []byte) bool {
	switch mt {
	case "text/plain", "text/csv":
		return utf8.Valid(data) && !bytes.ContainsRune(data, 0)
	}
	return http.DetectContentType(data) == mt
}

// download serves an attachment to those who may read what it belongs to:
// a message's to the ticket's customers and agents, a note's to its
// agents, a draft to its uploader (while they may still read the ticket).
// Anything else is 404, as a file that does not exist.
func download(w http.ResponseWriter, r *http.Request) {
	name, typ, data, err := readDownload(r)
	if err != nil {
		jsonapi.Fail(w, r, err)
		return
	}
	h := w.Header()
	for k, v := range fileHeaders(name, typ) {
		h.Set(k, v)
	}
	h.Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

// readDownload reads the attachment a download asks for, if the caller
// may read it.
func readDownload(r *http.Request) (name, typ string, data []byte, err error) {
	ctx := r.Context()
	noFile := notFound("There is no such file, or it is not yours.")
	id, err := jsonapi.PathID(r, "id", "There is no such file, or it is not yours.")
	if err != nil {
		return "", "", nil, err
	}
	u := sdk.UserFrom(r)
	if u == nil {
		return "", "", nil, noFile
	}
	var (
		ticket               int64
		message, note, owner sql.NullInt64
	)
	err = sdk.DB().QueryRowContext(ctx, `SELECT ticket_id, message_id, note_id, uploader_id, name, type
		FROM attachments WHERE id = $1`, id).Scan(&ticket, &message, &note, &owner, &name, &typ)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil, noFile
	}
	if err != nil {
		return "", "", nil, err
	}
	want := customer
	if note.Valid { // a note's file is the note's: agents only
		want = agent
	}
	if _, err := need(ctx, u, ticket, want); err != nil {
		return "", "", nil, noFile
	}
	if !message.Valid && !note.Valid && (!owner.Valid || owner.Int64 != u.ID) { // a draft is its uploader's
		return "", "", nil, noFile
	}
	err = sdk.DB().QueryRowContext(ctx, `SELECT data FROM attachments WHERE id = $1`, id).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", nil, noFile
	}
	return name, typ, data, err
}

// fileHeaders are the headers of a download of a file name of type typ.
func fileHeaders(name, typ string) map[string]string {
	ct := typ
	if strings.HasPrefix(typ, "text/") {
		ct += "; charset=utf-8"
	}
	disposition := "attachment"
	if slices.Contains(inlineTypes, typ) {
		disposition = "inline"
	}
	return map[string]string{
		"Content-Type":            ct,
		"X-Content-Type-Options":  "nosniff",
		"Content-Security-Policy": "default-src 'none'; sandbox",
		"Content-Disposition":     disposition + "; filename*=UTF-8''" + rfc5987(name),
		"Cache-Control":           "private, no-store",
	}
}

// rfc5987 encodes s as an ext-value's value-chars (RFC 5987, 3.2.1):
// attr-chars as they are, every other byte of its UTF-8 percent-encoded.
func rfc5987(s string) string {
	const attrChars = "!#$&+-.^_`|~"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(attrChars, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

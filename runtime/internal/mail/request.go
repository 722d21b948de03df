package mail

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"net/textproto"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk/abi"
)

// maxPayload bounds a request's JSON: both bodies at their cap with every
// byte escaped as \u00XX (6 bytes: encoding/json writes <, > and & so),
// and room for the rest.
const maxPayload = 2*6*abi.MaxMailBody + 64<<10

// headerList are the header fields other than X-… a module may set.
var headerList = map[string]bool{
	"In-Reply-To": true, "References": true, "List-Unsubscribe": true, "List-Unsubscribe-Post": true,
}

// Decode reads and checks a mail.send payload: a JSON object of
// abi.MailRequest's fields only, valid UTF-8 throughout, within every
// limit of the request (package doc). Header names come back in canonical
// form. The error says what is wrong, for the module.
func Decode(payload []byte) (*abi.MailRequest, error) {
	if len(payload) > maxPayload {
		return nil, fmt.Errorf("payload of %d bytes exceeds %d", len(payload), maxPayload)
	}
	if !utf8.Valid(payload) {
		return nil, errors.New("payload is not valid UTF-8")
	}
	if t := bytes.TrimLeft(payload, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return nil, errors.New("payload must be a JSON object")
	}
	var req abi.MailRequest
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("bad payload: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("bad payload: data after the JSON object")
	}
	if err := check(&req); err != nil {
		return nil, err
	}
	return &req, nil
}

// check applies the rules of a request; it canonicalizes header names.
func check(req *abi.MailRequest) error {
	if len(req.To) == 0 {
		return errors.New("to: at least one recipient")
	}
	if len(req.To) > abi.MaxMailRecipients {
		return fmt.Errorf("to: %d recipients, at most %d", len(req.To), abi.MaxMailRecipients)
	}
	seen := map[string]bool{}
	for i, a := range req.To {
		if err := checkAddress(a); err != nil {
			return fmt.Errorf("to[%d]: %w", i, err)
		}
		if k := strings.ToLower(a); seen[k] {
			return fmt.Errorf("to[%d]: %q is listed twice", i, a)
		} else {
			seen[k] = true
		}
	}
	if req.ReplyTo != "" {
		if err := checkAddress(req.ReplyTo); err != nil {
			return fmt.Errorf("reply_to: %w", err)
		}
	}
	if err := checkLine("subject", req.Subject, abi.MaxMailSubject); err != nil {
		return err
	}
	if strings.TrimSpace(req.Subject) == "" {
		return errors.New("subject: must not be empty")
	}
	if req.FromName != "" {
		if err := checkLine("from_name", req.FromName, abi.MaxMailName); err != nil {
			return err
		}
	}
	if req.Text == "" && req.HTML == "" {
		return errors.New("text, html: give at least one body")
	}
	for _, b := range []struct{ name, v string }{{"text", req.Text}, {"html", req.HTML}} {
		if len(b.v) > abi.MaxMailBody {
			return fmt.Errorf("%s: %d bytes, at most %d", b.name, len(b.v), abi.MaxMailBody)
		}
		if strings.ContainsRune(b.v, 0) {
			return fmt.Errorf("%s: contains a NUL character", b.name)
		}
	}
	if len(req.Headers) > abi.MaxMailHeaders {
		return fmt.Errorf("headers: %d fields, at most %d", len(req.Headers), abi.MaxMailHeaders)
	}
	canon := make(map[string]string, len(req.Headers))
	for name, v := range req.Headers {
		c, err := checkHeaderName(name)
		if err != nil {
			return err
		}
		if _, dup := canon[c]; dup {
			return fmt.Errorf("headers: %q is given twice", c)
		}
		if len(v) > abi.MaxMailHeaderValue {
			return fmt.Errorf("headers[%s]: %d bytes, at most %d", c, len(v), abi.MaxMailHeaderValue)
		}
		if err := checkLine("headers["+c+"]", v, abi.MaxMailHeaderValue); err != nil {
			return err
		}
		if !strings.HasPrefix(c, "X-") && strings.IndexFunc(v, func(r rune) bool { return r > unicode.MaxASCII }) >= 0 {
			return fmt.Errorf("headers[%s]: must be ASCII", c)
		}
		canon[c] = v
	}
	if len(canon) > 0 {
		req.Headers = canon
	} else {
		req.Headers = nil
	}
	return nil
}

// checkAddress accepts one bare address: what net/mail parses as exactly
// itself, with no display name, comment, group or angle brackets, ASCII,
// at most abi.MaxMailAddress bytes.
func checkAddress(a string) error {
	if a == "" {
		return errors.New("empty address")
	}
	if len(a) > abi.MaxMailAddress {
		return fmt.Errorf("address of %d bytes, at most %d", len(a), abi.MaxMailAddress)
	}
	for _, r := range a {
		if r <= ' ' || r >= unicode.MaxASCII {
			return fmt.Errorf("%q: an address is ASCII without spaces or control characters", a)
		}
	}
	p, err := mail.ParseAddress(a)
	if err != nil {
		return fmt.Errorf("%q: %w", a, err)
	}
	if p.Name != "" || p.Address != a {
		return fmt.Errorf("%q: give the bare address (name@domain), without a name or brackets", a)
	}
	at := strings.LastIndexByte(a, '@')
	if at <= 0 || at == len(a)-1 || strings.HasPrefix(a, `"`) {
		return fmt.Errorf("%q: give a plain name@domain address", a)
	}
	return nil
}

// checkLine accepts a header value: no control character (CR and LF
// above all: header injection), no line or paragraph separator or
// bidirectional control, at most max characters.
func checkLine(field, v string, max int) error {
	if n := utf8.RuneCountInString(v); n > max {
		return fmt.Errorf("%s: %d characters, at most %d", field, n, max)
	}
	if i := strings.IndexFunc(v, badInLine); i >= 0 {
		return fmt.Errorf("%s: contains the control character %U (a header value is one line)", field, []rune(v[i:])[0])
	}
	return nil
}

func badInLine(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError
}

// checkHeaderName returns name's canonical form when a module may set it.
func checkHeaderName(name string) (string, error) {
	if name == "" || len(name) > 64 {
		return "", fmt.Errorf("headers: a field name is 1-64 characters")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", fmt.Errorf("headers: %q: a field name is letters, digits and '-'", name)
		}
	}
	c := textproto.CanonicalMIMEHeaderKey(name)
	switch {
	case headerList[c]:
	case strings.HasPrefix(c, "X-") && len(c) > 2 && !strings.HasPrefix(c, "X-Websonic-"):
	default:
		return "", fmt.Errorf("headers: %q: a module may set X-… (not X-Websonic-…), In-Reply-To, References, List-Unsubscribe and List-Unsubscribe-Post only", name)
	}
	return c, nil
}

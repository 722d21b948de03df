package realtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/websonic/websonic/sdk/manifest"
)

// Frame types (the "type" member of every frame; sdk/ABI.md section 11).
const (
	// client → host
	TypeSubscribe   = "subscribe"
	TypeUnsubscribe = "unsubscribe"
	TypeMessage     = "message"
	// host → client
	TypeEvent      = "event"
	TypeEvents     = "events" // a batch of event frames
	TypeSubscribed = "subscribed"
	TypeRefused    = "refused"
	TypeReload     = "reload"
	TypeError      = "error"
)

// Reasons of a refused frame.
const (
	ReasonNoModule = "no_module" // no running module owns the topic
	ReasonDenied   = "denied"    // the owning module did not allow it (any non-2xx, trap, timeout)
	ReasonTooMany  = "too_many"  // Limits.MaxSubscriptions reached
	ReasonAlready  = "already"   // already subscribed on this connection
	ReasonRevoked  = "revoked"   // the owning module ended the subscription (Hub.Revoke)
)

// Codes of an error frame.
const (
	CodeBadFrame      = "bad_frame"      // the frame does not decode (see DecodeClientFrame)
	CodeRateLimited   = "rate_limited"   // over Limits.MessagesPerSecond: the frame was dropped
	CodeNotSubscribed = "not_subscribed" // a message or unsubscribe on a topic not subscribed
	CodeRefused       = "refused"        // the module did not take the message
)

// ErrFrame is wrapped by the errors of DecodeClientFrame and DecodePublish.
var ErrFrame = errors.New("realtime: bad frame")

// ErrTooLarge is wrapped (with ErrFrame) when an event's data is over the
// limit.
var ErrTooLarge = errors.New("too large")

// ClientFrame is a decoded client frame.
type ClientFrame struct {
	Type  string
	Topic string
	// LastID is the subscribe frame's last_id (HasLastID: it was given).
	LastID    int64
	HasLastID bool
	// Data is the message frame's data: a JSON value.
	Data json.RawMessage
}

// wireClientFrame is what a client frame may hold.
type wireClientFrame struct {
	Type   string          `json:"type"`
	Topic  string          `json:"topic"`
	LastID *int64          `json:"last_id"`
	Data   json.RawMessage `json:"data"`
}

// DecodeClientFrame decodes one client frame strictly: exactly one JSON
// object of valid UTF-8, no member it does not know, a known type with the
// members that type takes (subscribe: topic, last_id ≥ 0 optional;
// unsubscribe: topic; message: topic, data), and a valid topic name. The
// caller bounds the frame's size.
func DecodeClientFrame(b []byte) (ClientFrame, error) {
	var w wireClientFrame
	if err := decodeStrict(b, &w); err != nil {
		return ClientFrame{}, err
	}
	f := ClientFrame{Type: w.Type, Topic: w.Topic}
	switch w.Type {
	case TypeSubscribe:
		if w.Data != nil {
			return ClientFrame{}, fmt.Errorf("%w: subscribe takes no data", ErrFrame)
		}
		if w.LastID != nil {
			if *w.LastID < 0 {
				return ClientFrame{}, fmt.Errorf("%w: last_id must not be negative", ErrFrame)
			}
			f.LastID, f.HasLastID = *w.LastID, true
		}
	case TypeUnsubscribe:
		if w.Data != nil || w.LastID != nil {
			return ClientFrame{}, fmt.Errorf("%w: unsubscribe takes only a topic", ErrFrame)
		}
	case TypeMessage:
		if w.LastID != nil {
			return ClientFrame{}, fmt.Errorf("%w: message takes no last_id", ErrFrame)
		}
		if len(w.Data) == 0 {
			return ClientFrame{}, fmt.Errorf("%w: message needs data", ErrFrame)
		}
		f.Data = compact(w.Data)
	default:
		return ClientFrame{}, fmt.Errorf("%w: unknown type %q", ErrFrame, truncate(w.Type))
	}
	if !manifest.ValidTopic(w.Topic) {
		return ClientFrame{}, fmt.Errorf("%w: invalid topic %q", ErrFrame, truncate(w.Topic))
	}
	return f, nil
}

// PublishRequest is the payload of the realtime.publish host service.
type PublishRequest struct {
	Topic string          `json:"topic"`
	Data  json.RawMessage `json:"data"`
}

// DecodePublish decodes a realtime.publish payload strictly: one object of
// valid UTF-8 with a valid topic and data (any JSON value, compacted) of at
// most maxData bytes.
func DecodePublish(b []byte, maxData int) (PublishRequest, error) {
	if len(b) > maxData+1024 {
		return PublishRequest{}, fmt.Errorf("%w: %w: %d bytes: data is limited to %d", ErrFrame, ErrTooLarge, len(b), maxData)
	}
	var p PublishRequest
	if err := decodeStrict(b, &p); err != nil {
		return PublishRequest{}, err
	}
	if !manifest.ValidTopic(p.Topic) {
		return PublishRequest{}, fmt.Errorf("%w: invalid topic %q", ErrFrame, truncate(p.Topic))
	}
	if len(p.Data) == 0 {
		return PublishRequest{}, fmt.Errorf("%w: data is required (any JSON value)", ErrFrame)
	}
	p.Data = compact(p.Data)
	if len(p.Data) > maxData {
		return PublishRequest{}, fmt.Errorf("%w: %w: data of %d bytes: limited to %d", ErrFrame, ErrTooLarge, len(p.Data), maxData)
	}
	return p, nil
}

// decodeStrict decodes exactly one JSON object of valid UTF-8 into v,
// refusing unknown members and trailing data.
func decodeStrict(b []byte, v any) error {
	if !utf8.Valid(b) {
		return fmt.Errorf("%w: not UTF-8", ErrFrame)
	}
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("%w: not a JSON object", ErrFrame)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("%w: %w", ErrFrame, err)
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the object", ErrFrame)
	}
	return nil
}

// compact returns the JSON value b without insignificant space. json.Null
// stays "null".
func compact(b json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return b // already validated by the decoder; cannot happen
	}
	return buf.Bytes()
}

func truncate(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return s
}

// Host frames. Topics are valid topic names (no character JSON escapes)
// and data is compact JSON, so frames are built by appending.

// EventFrame encodes an event frame.
func EventFrame(topic string, id int64, data []byte) []byte {
	b := make([]byte, 0, 40+len(topic)+len(data))
	b = append(b, `{"type":"event","topic":"`...)
	b = append(b, topic...)
	b = append(b, `","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	return append(b, '}')
}

// maxBatchBytes bounds an events frame (a single event frame may be
// larger, and goes alone): 32 KiB, the default read limit of common
// WebSocket client libraries.
const maxBatchBytes = 32 << 10

// batchLen is how many of q's first frames go in one message: a run of
// event frames of at most max bytes in all (as an events frame), else 1.
func batchLen(q [][]byte, max int) int {
	if len(q) < 2 || !isEventFrame(q[0]) {
		return 1
	}
	size := len(`{"type":"events","events":[]}`) + len(q[0])
	n := 1
	for n < len(q) && isEventFrame(q[n]) && size+1+len(q[n]) <= max {
		size += 1 + len(q[n])
		n++
	}
	return n
}

var eventPrefix = []byte(`{"type":"event",`)

func isEventFrame(f []byte) bool { return bytes.HasPrefix(f, eventPrefix) }

// appendBatch appends the events frame holding the event frames fs.
func appendBatch(b []byte, fs [][]byte) []byte {
	b = append(b, `{"type":"events","events":[`...)
	for i, f := range fs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	return append(b, "]}"...)
}

// positionFrame encodes a subscribed or reload frame: events after id
// follow.
func positionFrame(typ, topic string, id int64) []byte {
	b := append([]byte(`{"type":"`), typ...)
	b = append(b, `","topic":"`...)
	b = append(b, topic...)
	b = append(b, `","id":`...)
	b = strconv.AppendInt(b, id, 10)
	return append(b, '}')
}

func refusedFrame(topic, reason string) []byte {
	b, _ := json.Marshal(struct {
		Type   string `json:"type"`
		Topic  string `json:"topic"`
		Reason string `json:"reason"`
	}{TypeRefused, topic, reason})
	return b
}

func errorFrame(code, message string) []byte {
	b, _ := json.Marshal(struct {
		Type    string `json:"type"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}{TypeError, code, message})
	return b
}

// DecodeHostMessage decodes one message from the host: a host frame, or
// the event frames of an events frame, in order (clients and tests use
// it).
func DecodeHostMessage(b []byte) ([]HostFrame, error) {
	var w struct {
		HostFrame
		Events []HostFrame `json:"events"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return nil, fmt.Errorf("realtime: host message %.64q: %w", b, err)
	}
	if w.Type != TypeEvents {
		return []HostFrame{w.HostFrame}, nil
	}
	for _, f := range w.Events {
		if f.Type != TypeEvent {
			return nil, fmt.Errorf("realtime: an events frame holds a %q frame", f.Type)
		}
	}
	return w.Events, nil
}

// HostFrame is any host frame, decoded (clients and tests use it).
type HostFrame struct {
	Type    string          `json:"type"`
	Topic   string          `json:"topic,omitempty"`
	ID      int64           `json:"id,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Reason  string          `json:"reason,omitempty"`
	Code    string          `json:"code,omitempty"`
	Message string          `json:"message,omitempty"`
}

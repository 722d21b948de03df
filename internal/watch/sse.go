package watch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Wire limits of the client's decoder (see the package notes).
const (
	// maxLine bounds one line of the stream, without its terminator.
	maxLine = 4 << 10
	// maxData bounds the data of one event (all its data lines).
	maxData = 16 << 10
)

// eventTimestamp is the event type of a new timestamp version.
const eventTimestamp = "timestamp"

// errProtocol is wrapped around every violation of the stream format.
var errProtocol = errors.New("watch: protocol error")

// renderTimestamp renders the event announcing version v. The Hub renders
// it once per version; every stream writes the same bytes.
func renderTimestamp(v int64) []byte {
	return fmt.Appendf(nil, "id: %d\nevent: %s\ndata: {\"version\":%d}\n\n", v, eventTimestamp, v)
}

// event is one dispatched server-sent event.
type event struct {
	typ  string // "message" when the stream named none
	id   string // the last event id seen on the stream, as the SSE spec defines it
	data []byte // data lines joined by '\n'; valid until the next call of next
}

// decoder reads server-sent events (the WHATWG "event stream" format) from
// untrusted input: lines end in CRLF, LF or CR; a leading BOM is skipped;
// comments and unknown fields are ignored; a line longer than maxLine or
// an event with more than maxData bytes of data is an errProtocol.
type decoder struct {
	sc    *bufio.Scanner
	lines int // complete lines read so far
	typ   []byte
	data  []byte
	id    string
}

func newDecoder(r io.Reader) *decoder {
	sc := bufio.NewScanner(r)
	// +2 leaves room for a CRLF terminator after a line of maxLine bytes.
	sc.Buffer(make([]byte, 0, 512), maxLine+2)
	sc.Split(splitLines)
	return &decoder{sc: sc}
}

// splitLines is a bufio.SplitFunc for SSE lines: CRLF, LF or a lone CR end
// a line. A final line without a terminator is dropped, as the SSE spec
// discards an incomplete event at the end of the stream.
func splitLines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	i := bytes.IndexAny(data, "\r\n")
	if i < 0 {
		return 0, nil, nil // need more (at EOF, the Scanner drops the remainder)
	}
	if data[i] == '\n' {
		return i + 1, data[:i], nil
	}
	// CR: a following LF belongs to the same terminator.
	if i+1 < len(data) {
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	}
	if atEOF {
		return i + 1, data[:i], nil
	}
	return 0, nil, nil // is an LF next?
}

// next returns the next event. It returns io.EOF when the stream ends
// cleanly between lines (a pending, undispatched event is discarded), an
// error wrapping errProtocol for malformed input, or the reader's error.
func (d *decoder) next() (event, error) {
	for d.sc.Scan() {
		line := d.sc.Bytes()
		d.lines++
		if d.lines == 1 {
			line = bytes.TrimPrefix(line, []byte("\uFEFF"))
		}
		if len(line) > maxLine {
			return event{}, fmt.Errorf("%w: line longer than %d bytes", errProtocol, maxLine)
		}
		if len(line) == 0 {
			if ev, ok := d.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		if line[0] == ':' {
			continue // comment, e.g. the heartbeat
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			d.typ = append(d.typ[:0], value...)
		case "data":
			if len(d.data)+len(value)+1 > maxData {
				return event{}, fmt.Errorf("%w: event data longer than %d bytes", errProtocol, maxData)
			}
			d.data = append(d.data, value...)
			d.data = append(d.data, '\n')
		case "id":
			if bytes.IndexByte(value, 0) < 0 {
				d.id = string(value)
			}
		default:
			// "retry" and unknown fields are ignored: the client has its
			// own reconnection policy.
		}
	}
	if err := d.sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return event{}, fmt.Errorf("%w: line longer than %d bytes", errProtocol, maxLine)
		}
		return event{}, err
	}
	return event{}, io.EOF
}

// dispatch ends the pending event. An event without data is not
// dispatched (ok is false), as the SSE spec says.
func (d *decoder) dispatch() (ev event, ok bool) {
	typ := d.typ
	d.typ = d.typ[:0]
	if len(d.data) == 0 {
		return event{}, false
	}
	data := d.data[:len(d.data)-1] // the last data line's '\n'
	d.data = d.data[:0]
	ev = event{typ: "message", id: d.id, data: data}
	if len(typ) > 0 {
		ev.typ = string(typ)
	}
	return ev, true
}

// parseTimestamp decodes the data of a timestamp event, {"version":N}
// with N > 0. Unknown JSON fields are ignored, for servers that add some.
func parseTimestamp(data []byte) (int64, error) {
	var m struct {
		Version *int64 `json:"version"`
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return 0, fmt.Errorf("%w: timestamp event: %w", errProtocol, err)
	}
	if m.Version == nil || *m.Version <= 0 {
		return 0, fmt.Errorf("%w: timestamp event without a positive version", errProtocol)
	}
	return *m.Version, nil
}

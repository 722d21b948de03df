package watch

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// decodeAll returns the events of in (type, id and data joined as
// "typ|id|data") and the error that ended the stream.
func decodeAll(in string) ([]string, error) {
	d := newDecoder(strings.NewReader(in))
	var got []string
	for {
		ev, err := d.next()
		if err != nil {
			return got, err
		}
		got = append(got, ev.typ+"|"+ev.id+"|"+string(ev.data))
	}
}

func TestDecoder(t *testing.T) {
	long := strings.Repeat("x", maxLine)
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr error // io.EOF for a clean end
	}{
		{"rendered", string(renderTimestamp(42)), []string{`timestamp|42|{"version":42}`}, io.EOF},
		{"crlf", "id: 1\r\nevent: timestamp\r\ndata: x\r\n\r\n", []string{"timestamp|1|x"}, io.EOF},
		{"cr", "id: 1\revent: timestamp\rdata: x\r\r", []string{"timestamp|1|x"}, io.EOF},
		{"bom", "\uFEFFdata: x\n\n", []string{"message||x"}, io.EOF},
		{"bom only first line", "data: a\n\n\uFEFFdata: b\n\n", []string{"message||a"}, io.EOF},
		{"comments ignored", ": ping\n\n: ping\ndata: x\n: mid\n\n", []string{"message||x"}, io.EOF},
		{"no space after colon", "event:timestamp\ndata:{}\n\n", []string{"timestamp||{}"}, io.EOF},
		{"only one space stripped", "data:  x\n\n", []string{"message|| x"}, io.EOF},
		{"field without colon", "data\n\n", []string{"message||"}, io.EOF},
		{"multi-line data", "data: a\ndata: b\n\n", []string{"message||a\nb"}, io.EOF},
		{"unknown fields and retry", "foo: bar\nretry: 10\ndata: x\n\n", []string{"message||x"}, io.EOF},
		{"no data, no event", "event: timestamp\nid: 3\n\ndata: x\n\n", []string{"message|3|x"}, io.EOF},
		{"id persists", "id: 7\ndata: a\n\ndata: b\n\n", []string{"message|7|a", "message|7|b"}, io.EOF},
		{"id with NUL ignored", "id: 7\ndata: a\n\nid: 8\x00\ndata: b\n\n", []string{"message|7|a", "message|7|b"}, io.EOF},
		{"event type resets", "event: e\ndata: a\n\ndata: b\n\n", []string{"e||a", "message||b"}, io.EOF},
		{"incomplete event dropped", "data: a\n\ndata: b\n", []string{"message||a"}, io.EOF},
		{"unterminated line dropped", "data: a\n\ndata: b", []string{"message||a"}, io.EOF},
		{"line at the limit", ":" + long[1:] + "\ndata: x\n\n", []string{"message||x"}, io.EOF},
		{"line at the limit, crlf", ":" + long[1:] + "\r\ndata: x\n\n", []string{"message||x"}, io.EOF},
		{"line over the limit", ":" + long + "\ndata: x\n\n", nil, errProtocol},
		{"line over the limit, no end", long + long, nil, errProtocol},
		{"data over the limit", strings.Repeat("data: "+long[:1000]+"\n", 17) + "\n", nil, errProtocol},
		{"empty", "", nil, io.EOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeAll(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Join(got, ";") != strings.Join(tt.want, ";") {
				t.Fatalf("events = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseTimestamp(t *testing.T) {
	tests := []struct {
		data string
		want int64 // 0: a protocol error
	}{
		{`{"version":42}`, 42},
		{`{"version":9223372036854775807}`, 1<<63 - 1},
		{`{"version":42,"expires":"2030-01-01T00:00:00Z"}`, 42},
		{` {"version" : 1} `, 1},
		{`{"version":0}`, 0},
		{`{"version":-1}`, 0},
		{`{"version":"42"}`, 0},
		{`{"version":4.2}`, 0},
		{`{"version":9223372036854775808}`, 0},
		{`{"version":null}`, 0},
		{`{}`, 0},
		{`[]`, 0},
		{`{"version":42}{}`, 0},
		{``, 0},
	}
	for _, tt := range tests {
		t.Run(tt.data, func(t *testing.T) {
			v, err := parseTimestamp([]byte(tt.data))
			if tt.want == 0 {
				if !errors.Is(err, errProtocol) {
					t.Fatalf("got %d, %v; want a protocol error", v, err)
				}
				return
			}
			if err != nil || v != tt.want {
				t.Fatalf("got %d, %v; want %d", v, err, tt.want)
			}
		})
	}
}

func TestRenderRoundTrip(t *testing.T) {
	for _, v := range []int64{1, 2, 1234567, 1<<63 - 1} {
		d := newDecoder(bytes.NewReader(renderTimestamp(v)))
		ev, err := d.next()
		if err != nil || ev.typ != eventTimestamp {
			t.Fatalf("%d: %+v, %v", v, ev, err)
		}
		got, err := parseTimestamp(ev.data)
		if err != nil || got != v || ev.id != strconv.FormatInt(v, 10) {
			t.Fatalf("%d: got %d (id %q), %v", v, got, ev.id, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"10", 10 * time.Second},
		{"-5", 0},
		{"junk", 0},
		{"99999999999999999", maxRetryAfter},
		{"7200", maxRetryAfter},
		{now.Add(30 * time.Second).Format(time.RFC1123), 30 * time.Second},
		{now.Add(-30 * time.Second).Format(time.RFC1123), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(strings.Replace(tt.in, "UTC", "GMT", 1), now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestDelay(t *testing.T) {
	s := &subscriber{cfg: ClientConfig{MinBackoff: time.Second, MaxBackoff: time.Minute}}
	tests := []struct {
		name       string
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{"first", 0, 0, 500 * time.Millisecond, time.Second},
		{"third", 2, 0, 2 * time.Second, 4 * time.Second},
		{"capped", 50, 0, 30 * time.Second, time.Minute},
		{"huge attempt", 1 << 30, 0, 30 * time.Second, time.Minute},
		{"retry-after wins", 0, 20 * time.Second, 20 * time.Second, 25 * time.Second},
		{"backoff wins", 10, 2 * time.Second, 30 * time.Second, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 200 {
				if d := s.delay(tt.attempt, tt.retryAfter); d < tt.lo || d > tt.hi {
					t.Fatalf("delay = %v, want in [%v, %v]", d, tt.lo, tt.hi)
				}
			}
		})
	}
}

// FuzzParse feeds untrusted bytes to the stream decoder and the timestamp
// parser: they must not panic, must end, and must keep their limits.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		string(renderTimestamp(1)),
		string(renderTimestamp(1<<63-1)) + ": ping\n\n",
		"id: 1\r\nevent: timestamp\r\ndata: {\"version\":1}\r\n\r\n",
		"\uFEFFevent:timestamp\rdata:{\"version\":2}\r\r",
		"data: a\ndata: b\n\nevent: x\nid: 1\x00\nretry: 5\n\n",
		"event: timestamp\ndata: {\"version\":\"1\"}\n\n",
		"event: timestamp\ndata: {\"version\":-1}\n\n",
		"event: timestamp\ndata: {\"version\":1e3}\n\n",
		": " + strings.Repeat("x", maxLine) + "\n",
		"data: x\r",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := newDecoder(bytes.NewReader(in))
		for i := 0; ; i++ {
			if i > len(in) {
				t.Fatalf("more events than input bytes")
			}
			ev, err := d.next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, errProtocol) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(ev.data) >= maxData || len(ev.typ) > maxLine || len(ev.id) > maxLine {
				t.Fatalf("event over the limits: %d bytes of data", len(ev.data))
			}
			if ev.typ == eventTimestamp {
				if v, err := parseTimestamp(ev.data); err == nil && v <= 0 {
					t.Fatalf("accepted version %d", v)
				} else if err != nil && !errors.Is(err, errProtocol) {
					t.Fatalf("unexpected error %v", err)
				}
			}
		}
	})
}

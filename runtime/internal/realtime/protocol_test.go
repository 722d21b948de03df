package realtime

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/websonic/websonic/sdk/manifest"
)

func TestDecodeClientFrame(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     ClientFrame // Type "" means an error
	}{
		{"subscribe", `{"type":"subscribe","topic":"chat.a"}`, ClientFrame{Type: TypeSubscribe, Topic: "chat.a"}},
		{"subscribe last_id", `{"type":"subscribe","topic":"chat.a","last_id":42}`, ClientFrame{Type: TypeSubscribe, Topic: "chat.a", LastID: 42, HasLastID: true}},
		{"last_id zero", ` {"type":"subscribe","topic":"a","last_id":0} `, ClientFrame{Type: TypeSubscribe, Topic: "a", HasLastID: true}},
		{"unsubscribe", `{"type":"unsubscribe","topic":"chat.a"}`, ClientFrame{Type: TypeUnsubscribe, Topic: "chat.a"}},
		{"message", `{"type":"message","topic":"chat.a","data":{ "x" : [1, 2] }}`, ClientFrame{Type: TypeMessage, Topic: "chat.a", Data: json.RawMessage(`{"x":[1,2]}`)}},
		{"message null", `{"type":"message","topic":"chat.a","data":null}`, ClientFrame{Type: TypeMessage, Topic: "chat.a", Data: json.RawMessage(`null`)}},
		{"unknown member", `{"type":"subscribe","topic":"chat.a","x":1}`, ClientFrame{}},
		{"unknown type", `{"type":"publish","topic":"chat.a","data":1}`, ClientFrame{}},
		{"no type", `{"topic":"chat.a"}`, ClientFrame{}},
		{"no topic", `{"type":"subscribe"}`, ClientFrame{}},
		{"bad topic", `{"type":"subscribe","topic":"Chat"}`, ClientFrame{}},
		{"prefix topic", `{"type":"subscribe","topic":"chat.*"}`, ClientFrame{}},
		{"negative last_id", `{"type":"subscribe","topic":"a","last_id":-1}`, ClientFrame{}},
		{"fraction last_id", `{"type":"subscribe","topic":"a","last_id":1.5}`, ClientFrame{}},
		{"huge last_id", `{"type":"subscribe","topic":"a","last_id":1e30}`, ClientFrame{}},
		{"data on subscribe", `{"type":"subscribe","topic":"a","data":1}`, ClientFrame{}},
		{"last_id on message", `{"type":"message","topic":"a","data":1,"last_id":1}`, ClientFrame{}},
		{"unsubscribe data", `{"type":"unsubscribe","topic":"a","data":1}`, ClientFrame{}},
		{"no data", `{"type":"message","topic":"a"}`, ClientFrame{}},
		{"trailing", `{"type":"subscribe","topic":"a"}{}`, ClientFrame{}},
		{"trailing junk", `{"type":"subscribe","topic":"a"} x`, ClientFrame{}},
		{"array", `[{"type":"subscribe","topic":"a"}]`, ClientFrame{}},
		{"string", `"subscribe"`, ClientFrame{}},
		{"empty", ``, ClientFrame{}},
		{"not utf8", "{\"type\":\"subscribe\",\"topic\":\"a\xff\"}", ClientFrame{}},
		{"type not string", `{"type":1,"topic":"a"}`, ClientFrame{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DecodeClientFrame([]byte(tt.in))
			if tt.want.Type == "" {
				if err == nil || !errors.Is(err, ErrFrame) {
					t.Errorf("= %+v, %v; want an ErrFrame", got, err)
				}
				return
			}
			if err != nil || got.Type != tt.want.Type || got.Topic != tt.want.Topic || got.LastID != tt.want.LastID ||
				got.HasLastID != tt.want.HasLastID || string(got.Data) != string(tt.want.Data) {
				t.Errorf("= %+v (data %s), %v; want %+v", got, got.Data, err, tt.want)
			}
		})
	}
}

func TestDecodePublish(t *testing.T) {
	for _, tt := range []struct {
		name, in, data string // data "" means an error
	}{
		{"object", `{"topic":"chat.a","data":{"a": 1}}`, `{"a":1}`},
		{"string", `{"topic":"chat.a","data":"x"}`, `"x"`},
		{"null", `{"topic":"chat.a","data":null}`, `null`},
		{"missing", `{"topic":"chat.a"}`, ``},
		{"bad topic", `{"topic":"a..b","data":1}`, ``},
		{"unknown", `{"topic":"a","data":1,"to":"x"}`, ``},
		{"too big", `{"topic":"a","data":"` + strings.Repeat("x", 100) + `"}`, ``},
		{"big with spaces", `{"topic":"a","data":[` + strings.Repeat(" ", 500) + `1]}`, `[1]`}, // compacted under the cap
		{"trailing", `{"topic":"a","data":1} 1`, ``},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, err := DecodePublish([]byte(tt.in), 64)
			if tt.data == "" {
				if err == nil {
					t.Errorf("= %+v; want an error", p)
				}
				return
			}
			if err != nil || string(p.Data) != tt.data {
				t.Errorf("= %s, %v; want %s", p.Data, err, tt.data)
			}
		})
	}
}

// checkFrame: a frame built from decoded parts is one valid JSON object
// that decodes back to them.
func checkFrame(t *testing.T, topic string, data []byte) {
	f := EventFrame(topic, 7, data)
	var back HostFrame
	if err := json.Unmarshal(f, &back); err != nil || back.Topic != topic || back.ID != 7 || !json.Valid(back.Data) {
		t.Fatalf("event frame %s: %+v, %v", f, back, err)
	}
}

func FuzzDecodeClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"subscribe","topic":"chat.a","last_id":1}`, `{"type":"unsubscribe","topic":"a"}`,
		`{"type":"message","topic":"a","data":{"k":["v",1,null]}}`, `{"type":"message","topic":"a","data":"\u0000"}`,
		`{"type":"subscribe","topic":"a","last_id":9223372036854775807}`, `{"type":"subscribe","topic":"a","type":"message"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := DecodeClientFrame(b)
		if err != nil {
			if !errors.Is(err, ErrFrame) {
				t.Fatalf("error %v is not an ErrFrame", err)
			}
			return
		}
		if !manifest.ValidTopic(fr.Topic) || fr.LastID < 0 || (fr.HasLastID && fr.Type != TypeSubscribe) {
			t.Fatalf("accepted %+v", fr)
		}
		if fr.Type == TypeMessage {
			if !json.Valid(fr.Data) {
				t.Fatalf("message data %q is not JSON", fr.Data)
			}
			checkFrame(t, fr.Topic, fr.Data)
		}
	})
}

func FuzzDecodePublish(f *testing.F) {
	for _, s := range []string{
		`{"topic":"chat.a","data":{"a":1}}`, `{"topic":"a","data":"\ud800"}`, `{"topic":"a","data":[` + strings.Repeat(" ", 50) + `]}`,
		`{"data":1,"topic":"x-y_z.1"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 256
		p, err := DecodePublish(b, max)
		if err != nil {
			if !errors.Is(err, ErrFrame) {
				t.Fatalf("error %v is not an ErrFrame", err)
			}
			return
		}
		if !manifest.ValidTopic(p.Topic) || len(p.Data) == 0 || len(p.Data) > max || !json.Valid(p.Data) {
			t.Fatalf("accepted %+v", p)
		}
		checkFrame(t, p.Topic, p.Data)
	})
}

// TestBatchLen: runs of event frames go together up to the byte bound;
// other frames, and an event frame too large to share, go alone; what
// DecodeHostMessage gets back is every frame in order.
func TestBatchLen(t *testing.T) {
	ev := func(id int64, size int) []byte {
		return EventFrame("t.a", id, []byte(`"`+strings.Repeat("x", size)+`"`))
	}
	sub := positionFrame(TypeSubscribed, "t.a", 0)
	for _, tt := range []struct {
		name string
		q    [][]byte
		want []int // message sizes in frames
	}{
		{"one event", [][]byte{ev(1, 1)}, []int{1}},
		{"run", [][]byte{ev(1, 1), ev(2, 1), ev(3, 1)}, []int{3}},
		{"other frames alone", [][]byte{sub, ev(1, 1), ev(2, 1), errorFrame(CodeRefused, "x"), ev(3, 1)}, []int{1, 2, 1, 1}},
		{"byte bound", [][]byte{ev(1, 20<<10), ev(2, 10<<10), ev(3, 5<<10), ev(4, 1)}, []int{2, 2}},
		{"large alone", [][]byte{ev(1, 1), ev(2, 40<<10), ev(3, 1)}, []int{1, 1, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			var back []HostFrame
			for q := tt.q; len(q) > 0; {
				n := batchLen(q, maxBatchBytes)
				got = append(got, n)
				msg := q[0]
				if n > 1 {
					msg = appendBatch(nil, q[:n])
					if len(msg) > maxBatchBytes {
						t.Errorf("events frame of %d bytes", len(msg))
					}
				}
				fs, err := DecodeHostMessage(msg)
				if err != nil {
					t.Fatal(err)
				}
				back = append(back, fs...)
				q = q[n:]
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("messages %v, want %v", got, tt.want)
			}
			if len(back) != len(tt.q) {
				t.Fatalf("%d frames back, want %d", len(back), len(tt.q))
			}
			for i, f := range tt.q {
				var want HostFrame
				if err := json.Unmarshal(f, &want); err != nil {
					t.Fatal(err)
				}
				if back[i].Type != want.Type || back[i].ID != want.ID || string(back[i].Data) != string(want.Data) {
					t.Errorf("frame %d: %+v, want %+v", i, back[i], want)
				}
			}
		})
	}
}

// FuzzBatch: whatever the host frames queued, the messages batchLen and
// appendBatch make decode (DecodeHostMessage) to the same frames in the
// same order, and no events frame is over the bound; DecodeHostMessage
// itself never panics on any input.
func FuzzBatch(f *testing.F) {
	f.Add([]byte(`{"a":1}`), uint8(3), uint16(100), []byte(`{"type":"events","events":[{"type":"event","id":1}]}`))
	f.Add([]byte(`"x"`), uint8(200), uint16(5000), []byte(`{"type":"events","events":[{"type":"subscribed"}]}`))
	f.Fuzz(func(t *testing.T, data []byte, n uint8, size uint16, raw []byte) {
		_, _ = DecodeHostMessage(raw)
		var v any
		if json.Unmarshal(data, &v) != nil {
			return
		}
		data = compact(data)
		var q [][]byte
		for i := range int(n) {
			switch {
			case i%17 == 5:
				q = append(q, positionFrame(TypeReload, "t.a", int64(i)))
			case i%7 == 3:
				q = append(q, EventFrame("t.a", int64(i+1), []byte(`"`+strings.Repeat("y", int(size)*(i%3))+`"`)))
			default:
				q = append(q, EventFrame("t.a", int64(i+1), data))
			}
		}
		var back []HostFrame
		for len(q) > 0 {
			k := batchLen(q, maxBatchBytes)
			msg := q[0]
			if k > 1 {
				msg = appendBatch(nil, q[:k])
				if len(msg) > maxBatchBytes {
					t.Fatalf("events frame of %d bytes", len(msg))
				}
			}
			fs, err := DecodeHostMessage(msg)
			if err != nil || len(fs) != k {
				t.Fatalf("%d frames back of %d: %v", len(fs), k, err)
			}
			back = append(back, fs...)
			q = q[k:]
		}
		if len(back) != int(n) {
			t.Fatalf("%d frames back, want %d", len(back), n)
		}
		for i, f := range back {
			if f.Type == TypeEvent && f.ID != int64(i+1) {
				t.Fatalf("frame %d has id %d", i, f.ID)
			}
		}
	})
}

package jsonapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	type body struct {
		Name string `json:"name"`
	}
	tests := []struct {
		name, in string
		status   int // 0: accepted
	}{
		{"object", `{"name":"a"}`, 0},
		{"unknown field", `{"name":"a","x":1}`, 400},
		{"two objects", `{"name":"a"}{"name":"b"}`, 400},
		{"not json", `name=a`, 400},
		{"bad utf-8", "{\"name\":\"\xff\"}", 400},
		{"too large", `{"name":"` + strings.Repeat("a", MaxBody) + `"}`, 413},
		{"empty", ``, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.in))
			var v body
			err := Read(r, &v)
			var e *Error
			switch {
			case tt.status == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.status != 0 && (!errors.As(err, &e) || e.Status != tt.status):
				t.Fatalf("got %v, want status %d", err, tt.status)
			}
		})
	}
}

func TestCheckText(t *testing.T) {
	tests := []struct {
		in, want  string
		multiline bool
		ok        bool
	}{
		{"  hi  ", "hi", false, true},
		{"a\r\nb", "a\nb", true, true},
		{"a\nb", "", false, false},
		{"a\x00b", "", true, false},
		{"a\u2028b", "", true, false},
		{"\xff", "", false, false},
		{strings.Repeat("é", 10), strings.Repeat("é", 10), false, true},
		{strings.Repeat("é", 11), "", false, false},
		{"<b>x</b>", "<b>x</b>", false, true},
	}
	for _, tt := range tests {
		got, err := CheckText(tt.in, 10, tt.multiline)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CheckText(%q, %v) = %q, %v; want %q ok=%v", tt.in, tt.multiline, got, err, tt.want, tt.ok)
		}
	}
}

func TestHandler(t *testing.T) {
	tests := []struct {
		name   string
		v      any
		err    error
		status int
		body   string
	}{
		{"ok", map[string]int{"a": 1}, nil, 200, `{"a":1}`},
		{"created", Created(map[string]int{"a": 1}), nil, 201, `{"a":1}`},
		{"none", nil, nil, 204, ``},
		{"refused", nil, Conflict("Taken."), 409, `{"code":"conflict","error":"Taken."}`},
		{"wrapped", nil, errors.Join(errors.New("x"), NotFound("Gone.")), 404, `{"code":"not_found","error":"Gone."}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			Handler(func(http.ResponseWriter, *http.Request) (any, error) { return tt.v, tt.err })(w, httptest.NewRequest("GET", "/", nil))
			if w.Code != tt.status || strings.TrimSpace(w.Body.String()) != tt.body {
				t.Fatalf("%d %q, want %d %q", w.Code, w.Body.String(), tt.status, tt.body)
			}
		})
	}
}

// FuzzRead: no body makes Read panic, and whatever it accepts is at most
// MaxBody of valid UTF-8.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"name":"a"}`))
	f.Add([]byte(`{"name":"\ud800"}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v struct {
			Name string         `json:"name"`
			N    map[string]any `json:"n"`
		}
		r := httptest.NewRequest("POST", "/", strings.NewReader(string(b)))
		if err := Read(r, &v); err == nil && len(b) > MaxBody {
			t.Fatalf("accepted %d bytes", len(b))
		}
	})
}

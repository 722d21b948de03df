package main

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/websonic/websonic/modules/internal/jsonapi"
)

// wantRefused checks err is a 400 whose sentence holds want.
func wantRefused(t *testing.T, err error, want string) {
	t.Helper()
	var e *jsonapi.Error
	if !errors.As(err, &e) || e.Status != 400 || !strings.Contains(e.Msg, want) {
		t.Fatalf("err = %v, want a 400 holding %q", err, want)
	}
}

func TestCheckFields(t *testing.T) {
	text := func(name string) field { return field{Name: name, Label: "L " + name, Type: "text"} }
	many := make([]field, maxFields+1)
	for i := range many {
		many[i] = text("f" + strings.Repeat("x", i))
	}
	opts := make([]string, maxOptions+1)
	for i := range opts {
		opts[i] = strings.Repeat("o", i+1)
	}
	for _, tc := range []struct {
		name   string
		fields []field
		want   string // "" when accepted
	}{
		{"none", nil, ""},
		{"every type", []field{text("a"), {Name: "b", Label: "B", Type: "textarea"}, {Name: "c", Label: "C", Type: "number"},
			{Name: "d", Label: "D", Type: "select", Options: []string{"x", "y"}}, {Name: "e", Label: "E", Type: "checkbox"},
			{Name: "f", Label: "F", Type: "email"}, {Name: "g_2", Label: "G", Type: "date", Required: true}}, ""},
		{"the most fields", many[:maxFields], ""},
		{"too many fields", many, "at most 20 extra fields"},
		{"a name with a capital", []field{text("Order")}, "Field 1: a name is 1 to 40"},
		{"a name starting with a digit", []field{text("1st")}, "a name is 1 to 40"},
		{"a name too long", []field{text("a" + strings.Repeat("b", 40))}, "a name is 1 to 40"},
		{"an empty name", []field{text("")}, "a name is 1 to 40"},
		{"a name twice", []field{text("a"), text("b"), text("a")}, "Field 3: the name a is used twice"},
		{"no label", []field{{Name: "a", Label: "  ", Type: "text"}}, "a label is 1 to 80"},
		{"a label too long", []field{{Name: "a", Label: strings.Repeat("l", 81), Type: "text"}}, "a label is 1 to 80"},
		{"a label on two lines", []field{{Name: "a", Label: "x\ny", Type: "text"}}, "a label is 1 to 80"},
		{"an unknown type", []field{{Name: "a", Label: "A", Type: "file"}}, "a type is one of"},
		{"options on a text", []field{{Name: "a", Label: "A", Type: "text", Options: []string{"x"}}}, "only a select field has options"},
		{"a select without options", []field{{Name: "a", Label: "A", Type: "select"}}, "1 to 50 options"},
		{"a select with too many options", []field{{Name: "a", Label: "A", Type: "select", Options: opts}}, "1 to 50 options"},
		{"an option twice", []field{{Name: "a", Label: "A", Type: "select", Options: []string{"x", " x "}}}, "options are distinct"},
		{"an empty option", []field{{Name: "a", Label: "A", Type: "select", Options: []string{"x", ""}}}, "options are distinct"},
		{"an option too long", []field{{Name: "a", Label: "A", Type: "select", Options: []string{strings.Repeat("o", 81)}}}, "options are distinct"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := checkFields(tc.fields)
			if tc.want == "" {
				if err != nil || len(out) != len(tc.fields) {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			wantRefused(t, err, tc.want)
		})
	}

	// Texts are cleaned.
	out, err := checkFields([]field{{Name: "a", Label: "  Order  ", Type: "select", Options: []string{" x", "y "}}})
	if err != nil || out[0].Label != "Order" || out[0].Options[0] != "x" || out[0].Options[1] != "y" {
		t.Fatalf("cleaned %+v %v", out, err)
	}
}

// testForm is a panel's form of every type of field.
var testForm = []field{
	{Name: "order", Label: "Order number", Type: "text", Required: true},
	{Name: "count", Label: "Items", Type: "number"},
	{Name: "kind", Label: "Kind", Type: "select", Options: []string{"Parcel", "Letter"}},
	{Name: "contact", Label: "Contact", Type: "email"},
	{Name: "when", Label: "Date", Type: "date"},
	{Name: "gift", Label: "Gift", Type: "checkbox"},
	{Name: "details", Label: "Details", Type: "textarea"},
}

func TestCheckValues(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values string
		want   string // the cleaned object, or the refusal's words after "!"
	}{
		{"the required one", `{"order": "A-1"}`, `{"order":"A-1"}`},
		{"all of them", `{"order": " A-1 ", "count": 2.5, "kind": "Letter", "contact": "a@b.test", "when": "2026-02-28",
			"gift": true, "details": "one\r\ntwo"}`,
			`{"contact":"a@b.test","count":2.5,"details":"one\ntwo","gift":true,"kind":"Letter","order":"A-1","when":"2026-02-28"}`},
		{"empty optional ones left out", `{"order": "A", "kind": "", "contact": " ", "gift": false, "count": null}`, `{"order":"A"}`},
		{"HTML kept", `{"order": "<b>A</b>", "details": "<script>x</script>"}`, `{"details":"\u003cscript\u003ex\u003c/script\u003e","order":"\u003cb\u003eA\u003c/b\u003e"}`},
		{"missing required", `{}`, "!Fill in Order number."},
		{"required null", `{"order": null}`, "!Fill in Order number."},
		{"required blank", `{"order": "   "}`, "!Fill in Order number."},
		{"unknown field", `{"order": "A", "colour": "red"}`, `!This form has no field "colour".`},
		{"number as text", `{"order": "A", "count": "2"}`, "!Items: give a number."},
		{"text as number", `{"order": 1}`, "!Order number: give a text."},
		{"checkbox as text", `{"order": "A", "gift": "true"}`, "!Gift: give true or false."},
		{"not an option", `{"order": "A", "kind": "parcel"}`, "!Kind: choose one of the options."},
		{"an address with a name", `{"order": "A", "contact": "Ann <a@b.test>"}`, "!Contact: give one e-mail address"},
		{"two addresses", `{"order": "A", "contact": "a@b.test, c@d.test"}`, "!Contact: give one e-mail address"},
		{"not an address", `{"order": "A", "contact": "ann"}`, "!Contact: give one e-mail address"},
		{"a date that does not exist", `{"order": "A", "when": "2026-02-30"}`, "!Date: give a date as YYYY-MM-DD."},
		{"a date of another form", `{"order": "A", "when": "28/02/2026"}`, "!Date: give a date as YYYY-MM-DD."},
		{"a date and time", `{"order": "A", "when": "2026-02-28T10:00:00Z"}`, "!Date: give a date as YYYY-MM-DD."},
		{"a text too long", `{"order": "` + strings.Repeat("x", maxFieldText+1) + `"}`, "!at most 2000 characters"},
		{"a textarea of its most", `{"order": "A", "details": "` + strings.Repeat("x", maxFieldLong) + `"}`, ""},
		{"a textarea too long", `{"order": "A", "details": "` + strings.Repeat("x", maxFieldLong+1) + `"}`, "!at most 10000 characters"},
		{"a newline in a text", `{"order": "A\nB"}`, "!without control characters"},
		{"an escape in a textarea", `{"order": "A", "details": "\u001b[31m"}`, "!without control characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var values map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tc.values), &values); err != nil {
				t.Fatal(err)
			}
			got, err := checkValues(testForm, values)
			if msg, refused := strings.CutPrefix(tc.want, "!"); refused {
				wantRefused(t, err, msg)
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.want != "" && got != tc.want {
				t.Fatalf("got %s\nwant %s", got, tc.want)
			}
		})
	}
	if got, err := checkValues(nil, nil); err != nil || got != "{}" {
		t.Fatalf("no fields: %s %v", got, err)
	}
}

// FuzzCheckValues: whatever a client sends as a ticket's fields, the check
// answers a JSON object of the form's fields, or a 400; never a panic.
func FuzzCheckValues(f *testing.F) {
	f.Add(`{"order": "A", "count": 1e308, "kind": "Parcel", "contact": "a@b.c", "when": "2026-01-01", "gift": true, "details": "x"}`)
	f.Add(`{"order": {"nested": [1, 2]}, "count": -0}`)
	f.Add(`{"order": "\u0000", "gift": null}`)
	f.Fuzz(func(t *testing.T, in string) {
		var values map[string]json.RawMessage
		if json.Unmarshal([]byte(in), &values) != nil {
			return
		}
		out, err := checkValues(testForm, values)
		if err != nil {
			var e *jsonapi.Error
			if !errors.As(err, &e) || e.Status != 400 {
				t.Fatalf("%s: %v", in, err)
			}
			return
		}
		var got map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%s answered %s: %v", in, out, err)
		}
		if _, ok := got["order"]; !ok {
			t.Fatalf("%s answered %s without the required field", in, out)
		}
		for k := range got {
			if _, ok := values[k]; !ok {
				t.Fatalf("%s answered %s: %s was not given", in, out, k)
			}
		}
	})
}

package main

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"time"

	"github.com/websonic/websonic/modules/internal/jsonapi"
)

// field is one extra field of a panel's form (API.md, "field").
type field struct {
	Name     string   `json:"name"`
	Label    string   `json:"label"`
	Type     string   `json:"type"`
	Required bool     `json:"required"`
	Options  []string `json:"options,omitempty"`
}

// Limits of panel forms.
const (
	maxFields      = 20
	maxOptions     = 50
	maxFieldText   = 2000
	maxFieldLong   = 10000
	maxOptionRunes = 80
)

var (
	fieldTypes = []string{"text", "textarea", "number", "select", "checkbox", "email", "date"}
	fieldName  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
)

// checkFields validates a panel's field definitions, cleaning their
// texts; the error is a sentence for the admin.
func checkFields(fs []field) ([]field, error) {
	if len(fs) > maxFields {
		return nil, badRequest(fmt.Sprintf("A panel has at most %d extra fields.", maxFields))
	}
	out := make([]field, 0, len(fs))
	seen := map[string]bool{}
	for i, f := range fs {
		n := i + 1
		if !fieldName.MatchString(f.Name) {
			return nil, badRequest(fmt.Sprintf("Field %d: a name is 1 to 40 of a-z, 0-9 and _, starting with a letter.", n))
		}
		if seen[f.Name] {
			return nil, badRequest(fmt.Sprintf("Field %d: the name %s is used twice.", n, f.Name))
		}
		seen[f.Name] = true
		label, err := jsonapi.CheckText(f.Label, 80, false)
		if err != nil || label == "" {
			return nil, badRequest(fmt.Sprintf("Field %d: a label is 1 to 80 characters.", n))
		}
		f.Label = label
		if !slices.Contains(fieldTypes, f.Type) {
			return nil, badRequest(fmt.Sprintf("Field %d: a type is one of text, textarea, number, select, checkbox, email, date.", n))
		}
		if f.Type != "select" {
			if len(f.Options) > 0 {
				return nil, badRequest(fmt.Sprintf("Field %d: only a select field has options.", n))
			}
		} else {
			if len(f.Options) == 0 || len(f.Options) > maxOptions {
				return nil, badRequest(fmt.Sprintf("Field %d: a select field has 1 to %d options.", n, maxOptions))
			}
			opts := make([]string, 0, len(f.Options))
			for _, o := range f.Options {
				c, err := jsonapi.CheckText(o, maxOptionRunes, false)
				if err != nil || c == "" || slices.Contains(opts, c) {
					return nil, badRequest(fmt.Sprintf("Field %d: options are distinct texts of 1 to %d characters.", n, maxOptionRunes))
				}
				opts = append(opts, c)
			}
			f.Options = opts
		}
		out = append(out, f)
	}
	return out, nil
}

// checkValues validates the values a ticket gives for its panel's fields
// and returns them cleaned, as a JSON object. Values of fields the panel
// does not have are refused; an empty optional field is left out.
func checkValues(fs []field, values map[string]json.RawMessage) (string, error) {
	out := map[string]any{}
	for name := range values {
		if !slices.ContainsFunc(fs, func(f field) bool { return f.Name == name }) {
			return "", badRequest(fmt.Sprintf("This form has no field %q.", name))
		}
	}
	for _, f := range fs {
		raw, ok := values[f.Name]
		if ok && string(raw) == "null" {
			ok = false
		}
		v, err := fieldValue(f, raw, ok)
		if err != nil {
			return "", err
		}
		if v != nil {
			out[f.Name] = v
		} else if f.Required {
			return "", badRequest(fmt.Sprintf("Fill in %s.", f.Label))
		}
	}
	b, err := json.Marshal(out)
	return string(b), err
}

// fieldValue checks one value (nil: none given or empty).
func fieldValue(f field, raw json.RawMessage, given bool) (any, error) {
	if !given {
		return nil, nil
	}
	bad := func(what string) error { return badRequest(fmt.Sprintf("%s: %s.", f.Label, what)) }
	switch f.Type {
	case "number":
		var n float64
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, bad("give a number")
		}
		return n, nil
	case "checkbox":
		var b bool
		if err := json.Unmarshal(raw, &b); err != nil {
			return nil, bad("give true or false")
		}
		if !b {
			return nil, nil
		}
		return true, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, bad("give a text")
	}
	limit := maxFieldText
	if f.Type == "textarea" {
		limit = maxFieldLong
	}
	s, err := jsonapi.CheckText(s, limit, f.Type == "textarea")
	if err != nil {
		return nil, bad(fmt.Sprintf("at most %d characters, without control characters", limit))
	}
	if s == "" {
		return nil, nil
	}
	switch f.Type {
	case "select":
		if !slices.Contains(f.Options, s) {
			return nil, bad("choose one of the options")
		}
	case "email":
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s || a.Name != "" {
			return nil, bad("give one e-mail address, like name@example.com")
		}
	case "date":
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, bad("give a date as YYYY-MM-DD")
		}
	}
	return s, nil
}

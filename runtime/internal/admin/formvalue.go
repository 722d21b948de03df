package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// FormValue converts a form's or the command line's text into a JSON
// value of a setting's or a command argument's type (string, integer,
// number, boolean; manifest.ConfigItem): given is false for an empty text
// (the setting takes its default). A boolean reads "true", "on", "yes",
// "1" and "false", "off", "no", "0" (and "" as false). The errors'
// messages are catalogue keys.
func FormValue(typ, text string) (v json.RawMessage, given bool, err error) {
	t := strings.TrimSpace(text)
	if t == "" && typ != "boolean" {
		return nil, false, nil
	}
	switch typ {
	case "string":
		b, _ := json.Marshal(text)
		return b, true, nil
	case "integer":
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return nil, true, errors.New("must be a whole number, such as 42")
		}
		return json.RawMessage(strconv.FormatInt(n, 10)), true, nil
	case "number":
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, true, errors.New("must be a number, such as 2.5")
		}
		return json.RawMessage(strconv.FormatFloat(f, 'g', -1, 64)), true, nil
	case "boolean":
		switch strings.ToLower(t) {
		case "true", "on", "yes", "1":
			return json.RawMessage("true"), true, nil
		case "", "false", "off", "no", "0":
			return json.RawMessage("false"), true, nil
		}
		return nil, true, errors.New("must be true or false")
	}
	return nil, true, fmt.Errorf("unknown type %q", typ)
}

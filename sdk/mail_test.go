package sdk_test

import (
	"context"
	"errors"
	"testing"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/sdktest"
)

// TestSendMailUTF8: bad UTF-8 in any field is refused before the host
// call (JSON would replace it silently); a valid mail reaches the host
// call, which natively is not there.
func TestSendMailUTF8(t *testing.T) {
	ok := sdk.Mail{To: []string{"ana@example.com"}, Subject: "Hi", Text: "x", Headers: map[string]string{"X-A": "1"}}
	for name, f := range map[string]func(m *sdk.Mail){
		"subject": func(m *sdk.Mail) { m.Subject = "Hi \xff" },
		"text":    func(m *sdk.Mail) { m.Text = "\xc3" },
		"html":    func(m *sdk.Mail) { m.HTML = "\xfe" },
		"to":      func(m *sdk.Mail) { m.To = []string{"a\xff@example.com"} },
		"reply":   func(m *sdk.Mail) { m.ReplyTo = "\xff" },
		"name":    func(m *sdk.Mail) { m.FromName = "\xff" },
		"header":  func(m *sdk.Mail) { m.Headers = map[string]string{"X-A": "\xff"} },
	} {
		m := ok
		f(&m)
		var he *sdk.HostError
		if _, err := sdk.SendMail(context.Background(), m); !errors.As(err, &he) || he.Code != abi.HostErrInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := sdk.SendMail(context.Background(), ok); !errors.Is(err, sdktest.ErrNotInRuntime) {
		t.Fatalf("valid mail: %v", err)
	}
}

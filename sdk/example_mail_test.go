package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/sdktest"
)

// A module that sends e-mail asks for it in its manifest,
//
//	"capabilities": {"mail": true}
//
// and calls sdk.SendMail; the runtime sends it through the relay the
// site owner configured, from the owner's address. Natively, as here,
// the call fails with sdktest.ErrNotInRuntime.
func ExampleSendMail() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := sdk.SendMail(ctx, sdk.Mail{
		To:       []string{"ana@example.com"},
		Subject:  "Your ticket #12 has an answer",
		Text:     "Hello Ana,\n\nBo answered your ticket: https://example.com/tickets/12\n",
		HTML:     `<p>Hello Ana,</p><p>Bo answered <a href="https://example.com/tickets/12">your ticket</a>.</p>`,
		FromName: "Support desk",
		Headers:  map[string]string{"X-Ticket": "12"},
	})
	var he *sdk.HostError
	switch {
	case errors.Is(err, sdk.ErrDenied):
		fmt.Println("the owner did not approve mail:", err)
	case errors.As(err, &he) && he.Code == abi.HostErrInvalid:
		fmt.Println("bad message:", he.Message) // a line break in the subject, a bad address…
	case errors.As(err, &he) && he.Code == abi.HostErrLimit:
		fmt.Println("too many e-mails: try later")
	case errors.As(err, &he) && he.Code == abi.HostErrFailed:
		fmt.Println("not sent:", he.Message) // no relay, or the relay failed
	case errors.Is(err, sdktest.ErrNotInRuntime):
		fmt.Println("not inside the runtime")
	case err != nil:
		fmt.Println("failed:", err)
	default:
		fmt.Println("sent as", id) // keep it to thread replies (In-Reply-To: <id>)
	}
	// Output:
	// not inside the runtime
}

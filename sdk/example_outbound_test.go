package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
	"github.com/websonic/websonic/sdk/sdktest"
)

// A module that calls a web API lists the API's origin in its manifest,
//
//	"capabilities": {"outbound_http": ["https://api.example.com:443"]}
//
// and uses sdk.HTTPClient like any *http.Client. The runtime makes the
// request; natively, as here, every request fails with
// sdktest.ErrNotInRuntime.
func ExampleHTTPClient() {
	client := sdk.HTTPClient()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", "https://api.example.com/v1/check",
		strings.NewReader(`{"text":"hello"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	var he *sdk.HostError
	switch {
	case errors.Is(err, sdk.ErrDenied):
		fmt.Println("not allowed:", err) // origin not approved, or a private address
	case errors.As(err, &he) && he.Code == abi.HostErrLimit:
		fmt.Println("too big or too many:", err)
	case errors.Is(err, sdktest.ErrNotInRuntime):
		fmt.Println("not inside the runtime")
	case err != nil:
		fmt.Println("failed:", err)
	default:
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, string(body))
	}
	// Output:
	// not inside the runtime
}

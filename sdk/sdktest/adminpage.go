package sdktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/websonic/websonic/sdk"
	"github.com/websonic/websonic/sdk/abi"
)

// AdminPage calls the admin page the module registered with sdk.AdminPage
// as the runtime would for user (an admin): method GET or POST, the page
// URL's query and a POST's form. It returns the status and the fragment
// as the module wrote it (the runtime sanitizes it before showing it;
// sdktest does not); for a redirect (3xx), the fragment is its Location.
func AdminPage(name, method, query string, form url.Values, user *sdk.User) (int, string, error) {
	body, err := json.Marshal(map[string]any{"method": method, "query": query, "form": form})
	if err != nil {
		return 0, "", err
	}
	r, err := http.NewRequest(http.MethodPost, abi.AdminPagePathPrefix+name, strings.NewReader(string(body)))
	if err != nil {
		return 0, "", err
	}
	r.Header.Set("Content-Type", "application/json")
	resp := Do(r, user)
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, "", fmt.Errorf("sdktest: %w", err)
	}
	return resp.StatusCode, string(b), nil
}

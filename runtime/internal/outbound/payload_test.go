package outbound

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/websonic/websonic/sdk/abi"
)

func TestDecodeFetch(t *testing.T) {
	ok, err := decodeFetch([]byte(`{"method":"POST","url":"https://API.example:443/p?q=1","headers":[["x-a","1"],["X-A","2"],["Content-Type","text/plain"]],"body":"aGk=","timeout_ms":250}`), 10)
	if err != nil {
		t.Fatal(err)
	}
	if ok.method != "POST" || ok.url.String() != "https://api.example/p?q=1" || ok.origin.String() != "https://api.example:443" ||
		string(ok.body) != "hi" || ok.timeout.Milliseconds() != 250 || strings.Join(ok.header["X-A"], ",") != "1,2" {
		t.Fatalf("decoded %+v", ok)
	}
	if f, err := decodeFetch([]byte(`{"url":"http://a.example/"}`), 10); err != nil || f.method != http.MethodGet {
		t.Fatalf("default method: %+v %v", f, err)
	}
	for _, tc := range []struct{ name, payload, code string }{
		{"empty", ``, abi.HostErrInvalid},
		{"not json", `{"url":`, abi.HostErrInvalid},
		{"trailing", `{"url":"http://a.example/"} {}`, abi.HostErrInvalid},
		{"trailing garbage", `{"url":"http://a.example/"} x`, abi.HostErrInvalid},
		{"unknown field", `{"url":"http://a.example/","proxy":"x"}`, abi.HostErrInvalid},
		{"bad base64", `{"url":"http://a.example/","body":"!!"}`, abi.HostErrInvalid},
		{"body over cap", `{"url":"http://a.example/","body":"MDEyMzQ1Njc4OWFi"}`, abi.HostErrLimit},
		{"header short", `{"url":"http://a.example/","headers":[["a"]]}`, abi.HostErrInvalid},
		{"header long", `{"url":"http://a.example/","headers":[["a","b","c"]]}`, abi.HostErrInvalid},
		{"header null", `{"url":"http://a.example/","headers":[null]}`, abi.HostErrInvalid},
		{"header crlf", `{"url":"http://a.example/","headers":[["a","b\r\nHost: x"]]}`, abi.HostErrInvalid},
		{"header name", `{"url":"http://a.example/","headers":[["a b","c"]]}`, abi.HostErrInvalid},
		{"host", `{"url":"http://a.example/","headers":[["HOST","x"]]}`, abi.HostErrInvalid},
		{"connection", `{"url":"http://a.example/","headers":[["connection","close"]]}`, abi.HostErrInvalid},
		{"keep-alive", `{"url":"http://a.example/","headers":[["Keep-Alive","1"]]}`, abi.HostErrInvalid},
		{"transfer-encoding", `{"url":"http://a.example/","headers":[["Transfer-Encoding","chunked"]]}`, abi.HostErrInvalid},
		{"te", `{"url":"http://a.example/","headers":[["TE","trailers"]]}`, abi.HostErrInvalid},
		{"trailer", `{"url":"http://a.example/","headers":[["Trailer","x"]]}`, abi.HostErrInvalid},
		{"upgrade", `{"url":"http://a.example/","headers":[["Upgrade","h2c"]]}`, abi.HostErrInvalid},
		{"content-length", `{"url":"http://a.example/","headers":[["Content-Length","5"]]}`, abi.HostErrInvalid},
		{"proxy", `{"url":"http://a.example/","headers":[["Proxy-Authorization","x"]]}`, abi.HostErrInvalid},
		{"too many", `{"url":"http://a.example/","headers":[` + strings.Repeat(`["a","b"],`, maxHeaders) + `["a","b"]]}`, abi.HostErrInvalid},
		{"too big", `{"url":"http://a.example/","headers":[["a","` + strings.Repeat("b", maxHeaderBytes) + `"]]}`, abi.HostErrInvalid},
		{"connect", `{"method":"CONNECT","url":"http://a.example/"}`, abi.HostErrInvalid},
		{"trace", `{"method":"TRACE","url":"http://a.example/"}`, abi.HostErrInvalid},
		{"lower get", `{"method":"get","url":"http://a.example/"}`, abi.HostErrInvalid},
		{"timeout", `{"url":"http://a.example/","timeout_ms":-1}`, abi.HostErrInvalid},
		{"url", `{"url":"file:///etc/passwd"}`, abi.HostErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := decodeFetch([]byte(tc.payload), 10)
			var pe *payloadError
			if !errors.As(err, &pe) || pe.code != tc.code {
				t.Fatalf("decodeFetch(%q) = %+v, %v; want code %s", tc.payload, f, err, tc.code)
			}
		})
	}
}

// FuzzDecodeFetch: any payload decodes to a checked fetch or a
// payloadError, never a panic; what is accepted obeys every rule.
func FuzzDecodeFetch(f *testing.F) {
	for _, s := range []string{
		`{"method":"POST","url":"https://a.example/","headers":[["X","y"]],"body":"aGk=","timeout_ms":5}`,
		`{"url":"http://2130706433/"}`, `{"url":"http://a.example/","headers":[["Host","x"]]}`, `[]`, `null`, `{"url":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		fe, err := decodeFetch(payload, 64)
		if err != nil {
			var pe *payloadError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is no payloadError", err)
			}
			return
		}
		if !methods[fe.method] || len(fe.body) > 64 || fe.timeout < 0 {
			t.Fatalf("accepted %+v", fe)
		}
		if _, o, err := parseURL(fe.url.String()); err != nil || o != fe.origin {
			t.Fatalf("accepted URL %s (%s): %v %s", fe.url, fe.origin, err, o)
		}
		for name := range fe.header {
			if hostHeaders[name] || strings.HasPrefix(name, "Proxy-") {
				t.Fatalf("accepted header %s", name)
			}
		}
	})
}

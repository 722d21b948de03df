//go:build wasip1

package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/websonic/websonic/sdk/abi"
)

// Attacks on the http.fetch host service: payloads no SDK would send, each
// made raw through the host import. GET /hostile/outbound?case=NAME
// answers "code|message" (the HostReply's error) or "ok|payload".
func init() {
	mux.HandleFunc("GET /hostile/outbound", func(w http.ResponseWriter, r *http.Request) {
		payload, ok := fetchAttacks[r.URL.Query().Get("case")]
		if !ok {
			http.Error(w, "no such case", http.StatusNotFound)
			return
		}
		reply := rawHost(abi.HostCall{Service: abi.ServiceFetch, Payload: []byte(payload())})
		if reply.Err != nil {
			fmt.Fprintf(w, "%s|%s", reply.Err.Code, reply.Err.Message)
			return
		}
		fmt.Fprintf(w, "ok|%s", reply.Payload)
	})
}

func fetchURL(u string) func() string {
	return func() string {
		b, _ := json.Marshal(abi.FetchRequest{URL: u})
		return string(b)
	}
}

func fixed(s string) func() string { return func() string { return s } }

// fetchAttacks are the payloads, by case name.
var fetchAttacks = map[string]func() string{
	"empty":          fixed(""),
	"not-json":       fixed(`{"url":`),
	"array":          fixed(`[]`),
	"null":           fixed(`null`),
	"trailing":       fixed(`{"url":"http://a.example:80/"} {}`),
	"unknown-field":  fixed(`{"url":"http://a.example:80/","proxy":"http://evil"}`),
	"bad-base64":     fixed(`{"url":"http://a.example:80/","body":"!!!"}`),
	"url-number":     fixed(`{"url":42}`),
	"header-short":   fixed(`{"url":"http://a.example:80/","headers":[["X-A"]]}`),
	"header-long":    fixed(`{"url":"http://a.example:80/","headers":[["X-A","b","c"]]}`),
	"header-crlf":    fixed(`{"url":"http://a.example:80/","headers":[["X-A","b\r\nHost: evil"]]}`),
	"header-name":    fixed(`{"url":"http://a.example:80/","headers":[["X A:","b"]]}`),
	"header-host":    fixed(`{"url":"http://a.example:80/","headers":[["host","evil.example"]]}`),
	"header-te":      fixed(`{"url":"http://a.example:80/","headers":[["Transfer-Encoding","chunked"]]}`),
	"header-length":  fixed(`{"url":"http://a.example:80/","headers":[["Content-Length","1"]]}`),
	"header-proxy":   fixed(`{"url":"http://a.example:80/","headers":[["Proxy-Authorization","Basic eDp5"]]}`),
	"header-upgrade": fixed(`{"url":"http://a.example:80/","headers":[["Upgrade","websocket"]]}`),
	"many-headers": func() string {
		var h []string
		for i := range 101 {
			h = append(h, fmt.Sprintf(`["X-%d","v"]`, i))
		}
		return `{"url":"http://a.example:80/","headers":[` + strings.Join(h, ",") + `]}`
	},
	"method-connect": fixed(`{"method":"CONNECT","url":"http://a.example:80/"}`),
	"method-trace":   fixed(`{"method":"TRACE","url":"http://a.example:80/"}`),
	"method-bad":     fixed(`{"method":"GE T","url":"http://a.example:80/"}`),
	"timeout":        fixed(`{"url":"http://a.example:80/","timeout_ms":-5}`),
	"huge-body": func() string {
		return `{"url":"http://a.example:80/","body":"` + base64.StdEncoding.EncodeToString(make([]byte, 2<<20)) + `"}`
	},
	"huge-payload": func() string { return `{"url":"http://a.example:80/","x":"` + strings.Repeat("a", 15<<20) + `"}` },
	"file":         fetchURL("file:///etc/passwd"),
	"gopher":       fetchURL("gopher://a.example:70/"),
	"ftp":          fetchURL("ftp://a.example:21/"),
	"javascript":   fetchURL("javascript:alert(1)"),
	"opaque":       fetchURL("http:a.example"),
	"relative":     fetchURL("/etc/passwd"),
	"schemeless":   fetchURL("//a.example/"),
	"no-host":      fetchURL("http:///x"),
	"userinfo":     fetchURL("http://user:secret@a.example:80/"),
	"userinfo-at":  fetchURL("http://a.example:80@127.0.0.1:80/"),
	"zone":         fetchURL("http://[fe80::1%25eth0]:80/"),
	"v6-bad":       fetchURL("http://[::1/"),
	"v6-nobracket": fetchURL("http://::1/"),
	"decimal-ip":   fetchURL("http://2130706433:80/"),
	"octal-ip":     fetchURL("http://0177.0.0.1/"),
	"hex-ip":       fetchURL("http://0x7f.1/"),
	"short-ip":     fetchURL("http://127.1/"),
	"numeric-tld":  fetchURL("http://a.example.123/"),
	"port-0":       fetchURL("http://a.example:0/"),
	"port-big":     fetchURL("http://a.example:99999/"),
	"port-empty":   fetchURL("http://a.example:/"),
	"nul":          fetchURL("http://a.example\x00.evil/"),
	"escaped-host": fetchURL("http://a%2eexample/"),
	"long-url":     fetchURL("http://a.example/" + strings.Repeat("a", 9000)),
	"unapproved":   fetchURL("https://a.example/"),
	"loopback":     fetchURL("http://127.0.0.1:80/"),
	"metadata":     fetchURL("http://169.254.169.254/latest/meta-data/"),
}

// rawHost makes a host call with the result convention of ABI.md 5.2.
func rawHost(call abi.HostCall) abi.HostReply {
	in := call.AppendMarshal(nil)
	out := make([]byte, 4096)
	n := hostHost(ptrOf(in), uint32(len(in)), ptrOf(out), uint32(len(out)))
	if n > uint64(len(out)) {
		out = make([]byte, n)
		n = uint64(hostTake(ptrOf(out), uint32(len(out))))
	}
	var reply abi.HostReply
	if err := reply.Unmarshal(out[:n]); err != nil {
		return abi.HostReply{Err: &abi.HostError{Code: "bad-reply", Message: err.Error()}}
	}
	return reply
}
